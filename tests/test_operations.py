"""Validation of enrich/feedback/score arguments: bad input raises before anything is queued."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helicone_wrap import _config, _delivery
from helicone_wrap._config import Target
from helicone_wrap._exceptions import HeliconeValidationError
from helicone_wrap._operations import enrich_request, feedback_request, property_bodies, score_request

from .faultserver import FaultServer, isolated_delivery

RID = "3f0c2a9e-1b2c-4d5e-8f90-123456789abc"


@pytest.fixture(autouse=True)
def _fresh_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated_delivery(tmp_path, monkeypatch)


@pytest.mark.parametrize(
    ("mapping", "kwargs", "expected"),
    [
        pytest.param({"Environment": "prod"}, {}, [("environment", "prod")], id="lowercased"),
        pytest.param(None, {"Helicone-Session-Name": "Plan"}, [("Helicone-Session-Name", "Plan")], id="helicone-keeps-case"),
        pytest.param(None, {"n": 3, "x": 1.5, "flag": True}, [("n", "3"), ("x", "1.5"), ("flag", "True")], id="str-conversion"),
        pytest.param({"a": "1"}, {"a": "2"}, [("a", "2")], id="keyword-wins"),
        pytest.param(None, {"note": "line1\nline2\ttab"}, [("note", "line1\nline2\ttab")], id="control-chars-ok-in-json"),
        pytest.param(None, {"team": "Café ☕"}, [("team", "utf-8''Caf%C3%A9 %E2%98%95")], id="unicode-stored-as-headers-send-it"),
        pytest.param({"odd!#$%&'*+-.^_`|~key": "v"}, {}, [("odd!#$%&'*+-.^_`|~key", "v")], id="all-token-chars"),
        pytest.param(None, {}, [], id="nothing"),
    ],
)
def test_enrich_bodies(mapping: dict[str, Any] | None, kwargs: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    """Keys are lowercased tokens (Helicone- keys keep case); int/float/bool values go through str()."""
    assert [(b["key"], b["value"]) for b in property_bodies(mapping, kwargs)] == expected


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        pytest.param({"has space": "v"}, "not a valid HTTP header token", id="space-in-key"),
        pytest.param({"": "v"}, "not a valid HTTP header token", id="empty-key"),
        pytest.param({"clé": "v"}, "not a valid HTTP header token", id="non-ascii-key"),
        pytest.param({"a:b": "v"}, "not a valid HTTP header token", id="colon-in-key"),
        pytest.param({"k": None}, "NoneType", id="none-value"),
        pytest.param({"k": [1]}, "list", id="list-value"),
        pytest.param({"k": {"a": 1}}, "dict", id="dict-value"),
        pytest.param({"k": b"x"}, "bytes", id="bytes-value"),
        pytest.param({"k": object()}, "object", id="object-value"),
        pytest.param({"k": "a\x00b"}, "NUL", id="nul-in-value"),
        pytest.param({"Env": "a", "env": "b"}, "both become 'env'", id="case-collision"),
    ],
)
def test_enrich_rejects(mapping: dict[Any, Any], match: str) -> None:
    """Each bad key or value raises HeliconeValidationError saying what is wrong."""
    with pytest.raises(HeliconeValidationError, match=match):
        property_bodies(mapping, {})


def test_enrich_rejects_a_non_mapping() -> None:
    """enrich(["a"]) says it wants a mapping."""
    with pytest.raises(HeliconeValidationError, match="mapping"):
        property_bodies(["a"], {})  # type: ignore[arg-type]


@pytest.mark.parametrize("rating", [None, 1, 0, "true", 1.0])
def test_feedback_accepts_only_booleans(rating: Any) -> None:
    """feedback(None) and non-bools are rejected: Helicone cannot clear or scale a rating."""
    with pytest.raises(HeliconeValidationError, match="True or False"):
        feedback_request(RID, rating)


@pytest.mark.parametrize(
    ("scores", "match"),
    [
        pytest.param({"accuracy": 0.87}, r"rejects floats.*round\(0.87 \* 100\)", id="float"),
        pytest.param({"a": "3"}, "int or a bool", id="string"),
        pytest.param({"a": None}, "int or a bool", id="none"),
        pytest.param({"": 1}, "non-empty", id="empty-name"),
        pytest.param({"a": 2**63}, "64-bit", id="too-big"),
    ],
)
def test_score_rejects(scores: dict[str, Any], match: str) -> None:
    """Scores must be ints or bools; floats get a hint to round or scale them."""
    with pytest.raises(HeliconeValidationError, match=match):
        score_request(RID, scores)


@pytest.mark.parametrize("bad_id", ["req_abc123", "", "../../v1/admin", None, 123, RID + "x"])
def test_request_id_must_be_a_uuid(bad_id: Any) -> None:
    """The id goes into the URL path, so only UUIDs are accepted."""
    with pytest.raises(HeliconeValidationError, match="request id"):
        feedback_request(bad_id, True)


def test_nothing_is_queued_when_validation_fails() -> None:
    """A rejected call queues nothing: not even the valid keys of the same call."""
    with pytest.raises(HeliconeValidationError):
        enrich_request(RID, {"good": "v"}, {"bad key": "v"}, target=Target("http://127.0.0.1:9"))
    assert _delivery.stats().queued == 0
    assert _delivery._worker.started is False


def test_empty_calls_return_a_finished_handle() -> None:
    """enrich() with no properties and score() with no scores are no-ops that are already done."""
    assert enrich_request(RID, None, {}).ok
    assert score_request(RID, {}).ok
    assert _delivery.stats().queued == 0


def test_default_target_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a target or a wrap() in this process, HELICONE_API_URL and HELICONE_API_KEY decide."""
    monkeypatch.setattr(_config, "_last_target", None)
    with FaultServer() as server:
        monkeypatch.setenv("HELICONE_API_URL", server.url)
        monkeypatch.setenv("HELICONE_API_KEY", "sk-helicone-env")
        request_id = str(uuid.uuid4())
        assert feedback_request(request_id, True).wait(10)
        (seen,) = server.seen()
        assert seen.path == f"/v1/request/{request_id}/feedback"
        assert seen.headers["authorization"] == "Bearer sk-helicone-env"
