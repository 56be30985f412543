"""helicone_wrap: make any OpenAI client observable through Helicone in one line.

Usage::

    from openai import OpenAI
    from helicone_wrap import wrap, session

    client = wrap(OpenAI())
    with session("Course Plan", path="/abstract"):
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    completion.helicone_id
"""

from __future__ import annotations

from ._api import AsyncHeliconeAPI, HeliconeAPI
from ._api.filters import F, Filter, all_of, any_of, compile_filter
from ._api.rows import RequestRow, SessionCount, SessionRow
from ._api.sessiontree import SessionNode, SessionTree
from ._context import ContextThreadPoolExecutor, HeliconeContext, current, run_in_context
from ._delivery import DEFAULT_OUTBOX, Delivery, DeliveryStats, configure, flush, stats as delivery_stats
from ._exceptions import (
    HeliconeAPIError,
    HeliconeAuthError,
    HeliconeConfigError,
    HeliconeConnectionError,
    HeliconeDeliveryDropped,
    HeliconeError,
    HeliconeRateLimitError,
    HeliconeRequestNotFound,
    HeliconeValidationError,
)
from ._features import cache, llm_security, moderation, omit, posthog, prompt, rate_limit, retries
from ._headers import decode_value
from ._meta import HeliconeMeta, RateLimitMeta, helicone_meta
from ._results import enrich, feedback, request_id, score
from ._session import SessionInfo, session, trace
from ._tags import properties, user
from ._version import __version__
from ._wrap import is_wrapped, unwrap, wrap

__all__ = [
    "AsyncHeliconeAPI",
    "ContextThreadPoolExecutor",
    "DEFAULT_OUTBOX",
    "Delivery",
    "DeliveryStats",
    "F",
    "Filter",
    "HeliconeAPI",
    "HeliconeAPIError",
    "HeliconeAuthError",
    "HeliconeConfigError",
    "HeliconeConnectionError",
    "HeliconeContext",
    "HeliconeDeliveryDropped",
    "HeliconeError",
    "HeliconeMeta",
    "HeliconeRateLimitError",
    "HeliconeRequestNotFound",
    "HeliconeValidationError",
    "RateLimitMeta",
    "RequestRow",
    "SessionCount",
    "SessionInfo",
    "SessionNode",
    "SessionRow",
    "SessionTree",
    "__version__",
    "all_of",
    "any_of",
    "cache",
    "compile_filter",
    "configure",
    "current",
    "decode_value",
    "delivery_stats",
    "enrich",
    "feedback",
    "flush",
    "helicone_meta",
    "is_wrapped",
    "llm_security",
    "moderation",
    "omit",
    "posthog",
    "prompt",
    "properties",
    "rate_limit",
    "request_id",
    "retries",
    "run_in_context",
    "score",
    "session",
    "trace",
    "unwrap",
    "user",
    "wrap",
]
