"""``GET /v1/models`` and ``GET /v1/models/{id}`` answered offline."""

from __future__ import annotations

from .common import JSON, OfflineError, error_for_model

__all__ = ["MODELS", "model_list", "model_object"]

#: Models the offline ``GET /v1/models`` lists.
MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-5",
    "gpt-5-mini",
    "o4-mini",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
    "text-embedding-3-large",
)

_MODEL_CREATED = 1_700_000_000


def model_object(model_id: str) -> JSON:
    """One ``model`` object; raises a 404 :class:`OfflineError` for unknown ids.

    Usage: ``model_object("gpt-4o-mini")["owned_by"] == "openai"``
    """
    error = error_for_model(model_id)
    if error is not None:
        raise error
    if model_id not in MODELS:
        raise OfflineError(
            404, f"The model '{model_id}' does not exist", param="model", code="model_not_found"
        )
    return {"id": model_id, "object": "model", "created": _MODEL_CREATED, "owned_by": "openai"}


def model_list() -> JSON:
    """The ``list`` object of ``GET /v1/models``.

    Usage: ``[m["id"] for m in model_list()["data"]]``
    """
    return {"object": "list", "data": [model_object(m) for m in MODELS]}
