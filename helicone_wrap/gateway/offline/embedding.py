"""``POST /v1/embeddings`` answered offline: deterministic unit vectors."""

from __future__ import annotations

import array
import base64
import hashlib
import random
from collections.abc import Mapping
from typing import Any

from .common import JSON, OfflineError, Usage, count_tokens, require_model

__all__ = ["embeddings"]

_EMBEDDING_DIMENSIONS: dict[str, int] = {"text-embedding-3-large": 3072}
_DEFAULT_EMBEDDING_DIMENSIONS = 1536


def _embedding_vector(text: str, dimensions: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    values = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


def embeddings(body: Mapping[str, Any]) -> tuple[JSON, Usage]:
    """A ``list`` of embeddings for ``body["input"]``, honouring ``encoding_format``.

    Vectors are unit-length and seeded by the input text, so equal inputs embed equally.
    ``encoding_format="base64"`` (what the openai SDK sends by default) yields
    little-endian float32 bytes, as OpenAI does.

    Usage: ``obj, usage = embeddings({"model": "text-embedding-3-small", "input": "hi"})``
    """
    model = require_model(body)
    raw = body.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        inputs = [" ".join(map(str, raw))]
    elif isinstance(raw, list) and raw:
        inputs = [x if isinstance(x, str) else " ".join(map(str, x)) for x in raw]
    else:
        raise OfflineError(400, "'input' must be a string or a non-empty array", param="input")
    dimensions = body.get("dimensions")
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= 4096:
        dimensions = _EMBEDDING_DIMENSIONS.get(model, _DEFAULT_EMBEDDING_DIMENSIONS)
    as_base64 = body.get("encoding_format") == "base64"
    data: list[JSON] = []
    for index, text in enumerate(inputs):
        vector = _embedding_vector(text, dimensions)
        encoded: object = (
            base64.b64encode(array.array("f", vector).tobytes()).decode("ascii") if as_base64 else vector
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    prompt_tokens = sum(count_tokens(t) for t in inputs)
    usage = Usage(prompt_tokens, 0)
    obj: JSON = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
    return obj, usage
