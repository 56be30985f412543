"""The errors helicone_wrap raises. There is one tree::

    HeliconeError                      base class; catch this to catch everything of ours
    ├── HeliconeConfigError            wrap()/HeliconeAPI() were given an unusable configuration
    ├── HeliconeValidationError        a key, value, path or rating is invalid (ValueError too);
    │                                  raised before anything is queued or sent
    ├── HeliconeDeliveryDropped        an enrich/feedback/score was dropped: the delivery queue
    │                                  was full and no outbox is configured (on the handle)
    └── HeliconeAPIError               the Helicone REST API answered with an error (status, body)
        ├── HeliconeRequestNotFound    500 "Request not found": the log is not ingested (yet)
        ├── HeliconeAuthError          401 / 403
        ├── HeliconeRateLimitError     429
        └── HeliconeConnectionError    no answer at all: refused, reset or timed out

Errors raised by openai itself (``openai.APIStatusError`` and friends) are never wrapped or
replaced: a wrapped client raises exactly what an unwrapped one would.
"""

from __future__ import annotations

__all__ = [
    "HeliconeAPIError",
    "HeliconeAuthError",
    "HeliconeConfigError",
    "HeliconeConnectionError",
    "HeliconeDeliveryDropped",
    "HeliconeError",
    "HeliconeRateLimitError",
    "HeliconeRequestNotFound",
    "HeliconeValidationError",
]


class HeliconeError(Exception):
    """Base class of every error helicone_wrap raises.

    Usage: ``except helicone_wrap.HeliconeError: ...``
    """


class HeliconeConfigError(HeliconeError):
    """The configuration cannot work, e.g. no Helicone API key for a Helicone cloud gateway.

    Raised by ``wrap()`` and ``HeliconeAPI()``; the message says how to fix it.
    Usage: ``except HeliconeConfigError as exc: print(exc)``
    """


class HeliconeValidationError(HeliconeError, ValueError):
    """A header key, value, session path, rating or score is invalid.

    Raised before anything is sent or queued, so nothing half-done is left behind.
    Usage: ``except HeliconeValidationError: ...``
    """


class HeliconeDeliveryDropped(HeliconeError):
    """An enrich/feedback/score was dropped unsent: the delivery queue was full and there is no outbox.

    The in-memory queue holds ``max_queue`` operations; with no outbox to take the overflow, the
    oldest waiting ones are dropped. Found on the operation's handle (``Delivery.error``), never
    raised; the message says how to avoid it: raise ``configure(max_queue=...)`` or enable the outbox.
    Usage: ``if isinstance(handle.error, HeliconeDeliveryDropped): helicone_wrap.configure(max_queue=500_000)``
    """


class HeliconeAPIError(HeliconeError):
    """The Helicone REST API answered with an error.

    ``status`` is the HTTP status (0 when there was no answer) and ``message`` is the server's
    error text, taken from the ``{"data": null, "error": ...}`` envelope when there is one.
    Usage: ``except HeliconeAPIError as exc: print(exc.status, exc.message)``
    """

    def __init__(self, message: str, *, status: int = 0, body: object = None) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.body = body


class HeliconeRequestNotFound(HeliconeAPIError):
    """Helicone has no log for this request id, usually because ingestion lags behind.

    Helicone answers ``500 {"error": "Request not found"}``; enrich/feedback retry it for a
    bounded lag window. Usage: ``except HeliconeRequestNotFound: ...``
    """


class HeliconeAuthError(HeliconeAPIError):
    """The API key was missing, wrong or lacks permission (401/403).

    Usage: ``except HeliconeAuthError: ...``
    """


class HeliconeRateLimitError(HeliconeAPIError):
    """Helicone rate-limited the call (429). ``retry_after`` is in seconds, when known.

    Usage: ``except HeliconeRateLimitError as exc: time.sleep(exc.retry_after or 1)``
    """

    def __init__(
        self, message: str, *, status: int = 429, body: object = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class HeliconeConnectionError(HeliconeAPIError):
    """The Helicone REST API could not be reached: refused, reset or timed out.

    Usage: ``except HeliconeConnectionError: ...``
    """
