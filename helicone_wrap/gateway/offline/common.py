"""Shared pieces of the offline model: usage, token counts, prices and errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["JSON", "OfflineError", "Usage", "cost_usd", "count_tokens", "error_for_model", "require_model"]

JSON = dict[str, Any]

#: USD per million (prompt, completion) tokens; longest matching prefix wins.
_PRICES: tuple[tuple[str, float, float], ...] = (
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-5-mini", 0.25, 2.00),
    ("gpt-5", 1.25, 10.00),
    ("o4-mini", 1.10, 4.40),
    ("gpt-3.5-turbo-instruct", 1.50, 2.00),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("text-embedding-3-small", 0.02, 0.0),
    ("text-embedding-3-large", 0.13, 0.0),
    ("text-embedding-ada-002", 0.10, 0.0),
)

_ERROR_MODEL = re.compile(r"^error-([1-5][0-9]{2})$")


@dataclass(frozen=True)
class Usage:
    """Token usage of one answer.

    Usage: ``Usage(prompt_tokens=3, completion_tokens=5).total_tokens == 8``
    """

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class OfflineError(Exception):
    """An OpenAI-shaped error answer: ``status``, ``body`` and extra ``headers``.

    Usage: ``raise OfflineError(400, "you must provide a model parameter", param="model")``
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {
            "error": {
                "message": message,
                "type": type or _error_type(status),
                "param": param,
                "code": code,
            }
        }
        self.headers: dict[str, str] = {"retry-after": "0"} if status == 429 else {}


def _error_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    if status == 401:
        return "authentication_error"
    return "invalid_request_error"


def error_for_model(model: object) -> OfflineError | None:
    """The error a test model name asks for (``"error-429"`` -> 429), else None.

    Usage: ``error_for_model("error-500").status == 500``
    """
    if not isinstance(model, str):
        return None
    match = _ERROR_MODEL.match(model)
    if match is None:
        return None
    status = int(match.group(1))
    codes = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
    return OfflineError(
        status,
        f"Offline model: simulated HTTP {status} error requested by model {model!r}.",
        code=codes.get(status),
    )


def cost_usd(model: str | None, prompt_tokens: int, completion_tokens: int) -> float:
    """Cost in USD from a small fixed price table; 0.0 for unknown models.

    Usage: ``cost_usd("gpt-4o-mini", 1_000_000, 0) == 0.15``
    """
    if not model:
        return 0.0
    best: tuple[str, float, float] | None = None
    for entry in _PRICES:
        if model.startswith(entry[0]) and (best is None or len(entry[0]) > len(best[0])):
            best = entry
    if best is None:
        return 0.0
    return (prompt_tokens * best[1] + completion_tokens * best[2]) / 1_000_000


def count_tokens(text: str) -> int:
    """A rough token count: about four characters a token, at least one for any text.

    Usage: ``count_tokens("hello world") == 3``
    """
    return (len(text) + 3) // 4 if text else 0


def require_model(body: Mapping[str, Any]) -> str:
    """``body["model"]``; raises the 400 (missing) or test-model :class:`OfflineError`.

    Usage: ``model = require_model(body)``
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise OfflineError(400, "you must provide a model parameter", param="model")
    error = error_for_model(model)
    if error is not None:
        raise error
    return model
