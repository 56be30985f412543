"""Fault injection for the REST write endpoints (property, feedback, score).

Delivery tests and the soak benchmark need a Helicone that misbehaves on purpose: lags
("Request not found"), rate-limits, fails and hangs. A :class:`FaultPlan` says how often;
a :class:`FaultInjector` decides per attempt. Decisions are a pure function of the plan's
``seed``, the endpoint, the request id, the key and the attempt number, so a run is
reproducible even when requests arrive in a different order.
"""

from __future__ import annotations

import enum
import hashlib
import threading
from dataclasses import dataclass

__all__ = ["Fault", "FaultInjector", "FaultPlan"]


@dataclass(frozen=True)
class FaultPlan:
    """How the REST write endpoints misbehave.

    * ``error_rate``: fraction of attempts answered ``500`` with a generic error body;
    * ``not_found_first``: the first N attempts per (request id, key) are answered
      ``500 "Request not found"``, as during Helicone's ingestion lag;
    * ``rate_limit_rate``: fraction answered ``429`` with ``Retry-After: retry_after``;
    * ``hang_rate``: fraction never answered (until the server stops); ``hang=True``
      hangs every attempt;
    * ``seed``: makes every decision reproducible.

    Usage: ``GatewayServer(faults=FaultPlan(not_found_first=2, rate_limit_rate=0.1, seed=7))``
    """

    error_rate: float = 0.0
    not_found_first: int = 0
    rate_limit_rate: float = 0.0
    retry_after: float = 1.0
    hang_rate: float = 0.0
    hang: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("error_rate", "rate_limit_rate", "hang_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FaultPlan.{name} must be between 0 and 1, got {value!r}")
        if self.error_rate + self.rate_limit_rate + self.hang_rate > 1.0:
            raise ValueError("FaultPlan: error_rate + rate_limit_rate + hang_rate must not exceed 1")
        if self.not_found_first < 0 or self.retry_after < 0:
            raise ValueError("FaultPlan: not_found_first and retry_after must not be negative")


class Fault(enum.Enum):
    """What to do with one REST write attempt.

    Usage: ``if injector.decide("property", rid, key) is Fault.RATE_LIMIT: ...``
    """

    NONE = "none"
    ERROR = "error"
    NOT_FOUND = "not_found"
    RATE_LIMIT = "rate_limit"
    HANG = "hang"


class FaultInjector:
    """Decides, per REST write attempt, which fault of a :class:`FaultPlan` applies.

    Usage: ``FaultInjector(FaultPlan(error_rate=0.5, seed=1)).decide("property", rid, "env")``
    """

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan or FaultPlan()
        self._lock = threading.Lock()
        self._attempts: dict[tuple[str, str, str], int] = {}
        self._not_found: dict[tuple[str, str, str], int] = {}
        self._counts: dict[str, int] = {fault.value: 0 for fault in Fault}

    @property
    def active(self) -> bool:
        """True when the plan can inject anything."""
        plan = self.plan
        return bool(
            plan.error_rate or plan.not_found_first or plan.rate_limit_rate or plan.hang_rate or plan.hang
        )

    def decide(self, endpoint: str, request_id: str, key: str) -> Fault:
        """The fault for the next attempt of ``endpoint`` on (``request_id``, ``key``).

        Usage: ``if injector.decide("score", rid, "accuracy") is Fault.NONE: ...``
        """
        plan = self.plan
        slot = (endpoint, request_id, key)
        with self._lock:
            attempt = self._attempts.get(slot, 0)
            self._attempts[slot] = attempt + 1
            fault = self._draw(plan, slot, attempt)
            if fault is Fault.NONE and self._not_found.get(slot, 0) < plan.not_found_first:
                self._not_found[slot] = self._not_found.get(slot, 0) + 1
                fault = Fault.NOT_FOUND
            self._counts[fault.value] += 1
        return fault

    @staticmethod
    def _draw(plan: FaultPlan, slot: tuple[str, str, str], attempt: int) -> Fault:
        if plan.hang:
            return Fault.HANG
        if not (plan.hang_rate or plan.rate_limit_rate or plan.error_rate):
            return Fault.NONE
        text = f"{plan.seed}\x00{slot[0]}\x00{slot[1]}\x00{slot[2]}\x00{attempt}"
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        draw = int.from_bytes(digest, "big") / 2**64
        if draw < plan.hang_rate:
            return Fault.HANG
        draw -= plan.hang_rate
        if draw < plan.rate_limit_rate:
            return Fault.RATE_LIMIT
        draw -= plan.rate_limit_rate
        if draw < plan.error_rate:
            return Fault.ERROR
        return Fault.NONE

    def counts(self) -> dict[str, int]:
        """How many attempts got each fault so far (``"none"`` = passed through).

        Usage: ``injector.counts()["rate_limit"]``
        """
        with self._lock:
            return dict(self._counts)
