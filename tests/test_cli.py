"""The helicone-wrap command line: the offline demo, and the sessions commands against a gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import openai
import pytest

from helicone_wrap import session, wrap
from helicone_wrap.cli import main
from helicone_wrap.gateway import GatewayServer


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")


@pytest.fixture
def gateway_with_session() -> Iterator[tuple[GatewayServer, str]]:
    with GatewayServer(port=0, db=":memory:") as gw:
        client = wrap(openai.OpenAI(api_key="sk-x", base_url=gw.url + "/v1"), base_url=gw.url)
        with session("Course Plan", path="/abstract") as s:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
            with session(path="/outline/chapter-1"):
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "y"}])
        client.close()
        gw.store.flush(5)
        yield gw, s.id


def test_demo_runs_offline_and_prints_the_session_tree() -> None:
    """`helicone-wrap demo` exits 0 within seconds and prints the Course Plan tree with its data."""
    env = {**os.environ, "COLUMNS": "240", "HELICONE_API_KEY": "", "HELICONE_BASE_URL": "", "HELICONE_API_URL": ""}
    done = subprocess.run(
        [sys.executable, "-m", "helicone_wrap.cli", "demo"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for expected in ("Course Plan", "abstract", "outline", "chapter-1", "chapter-2", "chapter-3",
                     "outcome=approved", "feedback: 👍", "quality=8", "first token", "tokens",
                     "enrich, feedback and score delivered to http://127.0.0.1:", "Done",
                     "✓ /title     asked twice, the 2nd a cache HIT (", "── title  2 requests",
                     "✓ /summary   async mode, no proxy", "── summary  1 request",
                     "✓ /summary   logged asynchronously, in the tree beside the proxied steps"):
        assert expected in out, f"{expected!r} missing from the demo output:\n{out}"
    assert out.count("  cached  ") == 1 and "✗" not in out


def test_sessions_lists_and_session_prints_a_tree(
    gateway_with_session: tuple[GatewayServer, str], wide: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sessions` lists the session and `session ID` prints its path tree."""
    gw, sid = gateway_with_session
    assert main(["sessions", "--api-url", gw.url]) == 0
    listing = capsys.readouterr().out
    assert sid in listing and "Course Plan" in listing
    assert main(["session", sid, "--api-url", gw.url]) == 0
    tree = capsys.readouterr().out
    for segment in ("abstract", "outline", "chapter-1", "gpt-4o-mini"):
        assert segment in tree


def test_sessions_follow_the_wrapper_environment(
    gateway_with_session: tuple[GatewayServer, str], wide: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With HELICONE_BASE_URL set, as for wrap(), the CLI reads the same (non-cloud) gateway."""
    gw, sid = gateway_with_session
    monkeypatch.setenv("HELICONE_BASE_URL", gw.url)
    assert main(["sessions", "--name", "Course Plan"]) == 0
    assert sid in capsys.readouterr().out


def test_cli_errors_are_one_clear_line(
    gateway_with_session: tuple[GatewayServer, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown session or a missing cloud key ends with exit 1 and a message, not a traceback."""
    gw, _ = gateway_with_session
    assert main(["session", "00000000-0000-4000-8000-000000000000", "--api-url", gw.url]) == 1
    assert "no requests found" in capsys.readouterr().err
    assert main(["sessions"]) == 1  # Helicone cloud, no key in the environment
    err = capsys.readouterr().err
    assert "HeliconeConfigError" in err and "HELICONE_API_KEY" in err and "Traceback" not in err
