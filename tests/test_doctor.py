"""`helicone-wrap doctor`: what is in effect, where it came from, and whether it answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from helicone_wrap.cli import main
from helicone_wrap.gateway import GatewayServer

from .faultserver import closed_port

KEY = "sk-helicone-0123456789abcdefabcd"


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayServer]:
    with GatewayServer(port=0, db=":memory:") as server:
        yield server


def doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["doctor", *argv])
    out, err = capsys.readouterr()
    return code, out + err


def test_arguments_are_shown_with_their_sources_and_probed(gw: GatewayServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = doctor(capsys, "--base-url", gw.url, "--api-key", KEY)
    assert code == 0, out
    assert f"gateway  {gw.url}" in out and f"REST API {gw.url}" in out
    assert "from --base-url; answers (HTTP" in out
    assert "from --base-url (its REST API); answers (HTTP" in out
    assert "sk-helicone-…abcd" in out and "from --api-key" in out
    assert KEY not in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_environment_sources_are_named(
    gw: GatewayServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HELICONE_API_KEY", KEY)
    monkeypatch.setenv("HELICONE_BASE_URL", gw.url)
    code, out = doctor(capsys, "--json")
    assert code == 0, out
    found = json.loads(out)
    assert found["ok"] is True
    assert (found["gateway"]["url"], found["gateway"]["source"], found["gateway"]["answers"]) == (
        gw.url, "HELICONE_BASE_URL", True)
    assert (found["api"]["url"], found["api"]["source"], found["api"]["answers"]) == (gw.url, "HELICONE_BASE_URL", True)
    assert found["key"] == {"masked": "sk-helicone-…abcd", "source": "HELICONE_API_KEY"}
    assert KEY not in out
    # An explicit REST root beats the environment's.
    monkeypatch.setenv("HELICONE_API_URL", f"http://127.0.0.1:{closed_port()}")
    found = json.loads(doctor(capsys, "--json", "--api-url", gw.url)[1])
    assert (found["api"]["source"], found["api"]["answers"]) == ("--api-url", True)


def test_a_closed_port_fails_with_the_reason_and_quickly(gw: GatewayServer, capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    code, out = doctor(capsys, "--base-url", gw.url, "--api-url", dead, "--timeout", "2")
    assert code == 1
    assert time.monotonic() - started < 5
    assert f"FAIL REST API {dead}" in out and "does not answer: ConnectError" in out
    assert f"ok   gateway  {gw.url}" in out
    assert "(none)" in out and "from default" in out  # no key anywhere
    code, out = doctor(capsys, "--json", "--base-url", dead)
    found = json.loads(out)
    assert code == 1 and found["ok"] is False
    assert found["gateway"]["answers"] is False and found["gateway"]["error"].startswith("ConnectError")
    assert found["api"]["url"] == dead  # a non-cloud gateway brings its REST root


def test_bad_configuration_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = doctor(capsys, "--base-url", "127.0.0.1:8787")
    assert code == 1
    assert "HeliconeConfigError" in out and "absolute http(s) URL" in out and "Traceback" not in out
