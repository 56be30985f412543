"""A deterministic offline model that answers the OpenAI API without a network.

It answers chat completions, completions, embeddings, responses and models, with and
without streaming, in shapes that the real ``openai`` SDK types parse. The same request
always gets the same text and token counts, so tests can assert on them.

Token counts are estimates (about four characters a token), plausible rather than exact.
A request whose ``model`` is ``error-<status>`` (``error-400``, ``error-401``, ``error-404``,
``error-429``, ``error-500``, ...) gets that status with an OpenAI-shaped error body, which
lets tests exercise error paths end to end.

When a request asks for structured output (``response_format`` / ``text.format`` of type
``json_schema``), the reply is a minimal JSON instance of the schema, so
``client.chat.completions.parse(response_format=SomeModel)`` works offline.

The package is split per API: :mod:`.chat`, :mod:`.completions`, :mod:`.embedding`,
:mod:`.responses` and :mod:`.models`; :mod:`.common` (usage, tokens, prices, errors),
:mod:`.text` (prompt and reply text), :mod:`.schema` (structured outputs) and :mod:`.sse`
(stream encoding) are shared by them.
"""

from __future__ import annotations

from .chat import chat_completion, chat_completion_chunks
from .common import OfflineError, Usage, cost_usd, count_tokens, error_for_model
from .completions import completion, completion_chunks
from .embedding import embeddings
from .models import MODELS, model_list, model_object
from .responses import response, response_events
from .schema import minimal_instance
from .sse import sse_events, sse_lines

__all__ = [
    "MODELS",
    "OfflineError",
    "Usage",
    "chat_completion",
    "chat_completion_chunks",
    "completion",
    "completion_chunks",
    "cost_usd",
    "count_tokens",
    "embeddings",
    "error_for_model",
    "minimal_instance",
    "model_object",
    "model_list",
    "response",
    "response_events",
    "sse_events",
    "sse_lines",
]
