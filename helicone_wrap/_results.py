"""Helicone request ids on results, and ``enrich``/``feedback``/``score`` bound to them.

Results keep their exact type. The id and three bound methods are stored in the object's own
``__dict__`` (for pydantic models that is outside the fields, so ``model_dump()``,
``model_dump_json()``, ``repr()`` and equality are unchanged; pickling and copying carry them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _guard, _headers
from ._config import Target
from ._exceptions import HeliconeValidationError

if TYPE_CHECKING:
    from ._delivery import Delivery

ID_ATTR = "helicone_id"


class ResultHandle:
    """The id of one Helicone request plus where its enrich/feedback/score calls go."""

    __slots__ = ("id", "target")

    def __init__(self, id: str, target: Target | None) -> None:
        self.id = id
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str, Target | None]]:
        return (ResultHandle, (self.id, self.target))

    def __repr__(self) -> str:
        return f"ResultHandle({self.id!r})"

    def enrich(self, mapping: Mapping[str, object] | None = None, /, **props: object) -> Delivery:
        """Add properties to this request after the fact (one ``PUT .../property`` per key)."""
        from ._operations import enrich_request

        return enrich_request(self.id, mapping, props, target=self.target)

    def feedback(self, rating: bool) -> Delivery:
        """Rate this request: ``True`` is positive, ``False`` negative."""
        from ._operations import feedback_request

        return feedback_request(self.id, rating, target=self.target)

    def score(self, **scores: int | bool) -> Delivery:
        """Attach integer or boolean scores to this request."""
        from ._operations import score_request

        return score_request(self.id, scores, target=self.target)


def id_from_response(response: Any) -> str | None:
    """The Helicone id of an HTTP response: the ``helicone-id`` header, else the id we sent."""
    return _headers.find_header(response.headers, _headers.RESPONSE_ID_LOWER) or sent_id(response.request) or None


def sent_id(request: Any) -> str | None:
    """The ``Helicone-Request-Id`` an HTTP request carried (ours is the last header we appended)."""
    return _headers.find_header(request.headers, _headers.REQUEST_ID_LOWER)


class AttachId(ResultHandle):
    """An ``options.post_parser`` that runs the original post-parser, then attaches the id.

    openai applies ``post_parser`` to every parsed result, including the ones that
    ``with_raw_response(...).parse()`` produces later, so one seam covers every result shape.
    It is itself the :class:`ResultHandle` whose methods go on the results (and it pickles as
    a plain one), so attaching costs no further objects beyond the three bound methods.
    """

    __slots__ = ("headers", "inner")
    inner: Any
    #: The response's headers object (a reference, nothing copied): ``helicone_meta()`` parses it.
    headers: Any

    def __init__(self, inner: Any, request_id: str, target: Target | None, headers: Any = None) -> None:
        self.id = request_id
        self.target = target
        self.headers = headers
        if type(inner) is AttachId:
            inner = inner.inner
        self.inner = inner if callable(inner) else None

    def __call__(self, parsed: Any) -> Any:
        inner = self.inner
        if inner is not None:
            parsed = inner(parsed)
        try:
            data = parsed.__dict__
        except AttributeError:  # e.g. str or bytes results: nothing to attach to
            return parsed
        try:
            data[ID_ATTR] = self.id
            data["enrich"] = self.enrich
            data["feedback"] = self.feedback
            data["score"] = self.score
        except Exception as exc:
            _guard.internal_error("attach-id", exc)
        return parsed


def attach(obj: Any, request_id: str, target: Target | None, headers: Any = None) -> Any:
    """Store the id and bound methods on ``obj`` (when it can hold attributes); return ``obj``."""
    return AttachId(None, request_id, target, headers)(obj)


def request_id(result: object) -> str | None:
    """The Helicone request id of a result, stream, raw response or stream helper, or ``None``.

    A ``str`` is returned as is. Usage: ``request_id(completion)``
    """
    if isinstance(result, str):
        return result
    data = getattr(result, "__dict__", None)
    if data is not None and ID_ATTR in data:
        return str(data[ID_ATTR])
    for name in ("http_response", "response", "_raw_stream"):
        inner = getattr(result, name, None) if data is not None else None
        if inner is None or inner is result:
            continue
        if hasattr(inner, "headers") and hasattr(inner, "request"):
            return id_from_response(inner)
        found = request_id(inner)
        if found is not None:
            return found
    return None


def _resolve(result_or_id: object) -> tuple[str, Target | None]:
    found = request_id(result_or_id)
    if not found:
        raise HeliconeValidationError(
            f"no Helicone request id on {type(result_or_id).__name__}: pass a result of a wrapped client "
            "(client = helicone_wrap.wrap(OpenAI())) or the id string itself."
        )
    enrich_method = getattr(result_or_id, "__dict__", {}).get("enrich")
    target = getattr(getattr(enrich_method, "__self__", None), "target", None)
    return found, target


def enrich(result_or_id: object, mapping: Mapping[str, object] | None = None, /, **props: object) -> Delivery:
    """Add properties to a request after the fact, in the background.

    Keys are lowercased to match header-set properties; values are ``str`` (``int``, ``float``
    and ``bool`` go through ``str()``). Returns a :class:`Delivery` at once.
    Usage: ``enrich(completion, outcome="resolved")`` or ``enrich("3f0c...", {"k": "v"})``
    """
    from ._operations import enrich_request

    rid, target = _resolve(result_or_id)
    return enrich_request(rid, mapping, props, target=target)


def feedback(result_or_id: object, rating: bool) -> Delivery:
    """Rate a request (``True``/``False``) in the background; returns a :class:`Delivery`.

    Usage: ``feedback(completion, True)``
    """
    from ._operations import feedback_request

    rid, target = _resolve(result_or_id)
    return feedback_request(rid, rating, target=target)


def score(result_or_id: object, **scores: int | bool) -> Delivery:
    """Attach integer/boolean scores to a request in the background; returns a :class:`Delivery`.

    Usage: ``score(completion, accuracy=87, grounded=True)``
    """
    from ._operations import score_request

    rid, target = _resolve(result_or_id)
    return score_request(rid, scores, target=target)
