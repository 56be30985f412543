"""The CLI and the demo as a newcomer meets them, through a real 80-column terminal (COLUMNS=80):
nothing cut, every line fits, truthful demo output, clear one-line errors, --json, --keep/--db."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

from helicone_wrap import HeliconeAPI, session, wrap
from helicone_wrap._http import http
from helicone_wrap.gateway import GatewayServer

ROOT = Path(__file__).resolve().parent.parent
LONG_NAME = "Quarterly planning for the northern region"


def _env(columns: int, tmp: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELICONE_")}
    env.update({"COLUMNS": str(columns), "PYTHONPATH": str(ROOT), "HELICONE_WRAP_OFFLINE_TTFT_MS": "0",
                "HELICONE_WRAP_OFFLINE_TOKEN_MS": "0", **extra})
    if tmp is not None:
        env["XDG_DATA_HOME"] = str(tmp / "xdg")
    return env


def _like_a_terminal() -> None:
    """Ctrl-C at a terminal always reaches a program; a test run started in the background
    (``scripts/test &``) inherits SIGINT ignored, so the child gets the terminal's disposition back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(*args: str, columns: int = 80, tmp: Path | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``helicone-wrap ARGS`` as a subprocess at a terminal width."""
    return subprocess.run([sys.executable, "-m", "helicone_wrap.cli", *args], capture_output=True, text=True,
                          timeout=120, env=_env(columns, tmp, **extra))


def assert_fits(text: str, columns: int = 80, unbreakable: str = "\0") -> None:
    """Every line fits, except one that holds a path longer than the terminal (``unbreakable``)."""
    for line in text.splitlines():
        assert len(line) <= columns or unbreakable in line, f"{len(line)} > {columns} columns: {line!r}"


@pytest.fixture(scope="module")
def eight_sessions() -> Iterator[tuple[GatewayServer, list[str]]]:
    """A gateway holding 8 sessions with a long name, 2 calls each."""
    with GatewayServer(port=0, db=":memory:") as gw:
        client = wrap(openai.OpenAI(api_key="sk-x", base_url=gw.url + "/v1"), base_url=gw.url)
        ids = []
        for n in range(8):
            with session(f"{LONG_NAME} {n}", path="/step") as s:
                for _ in range(2):
                    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
            ids.append(s.id)
        client.close()
        gw.store.flush(5)
        yield gw, ids


# ------------------------------------------------------------------ sessions


def test_sessions_table_fits_80_columns_without_cutting_names_or_costs(
    eight_sessions: tuple[GatewayServer, list[str]],
) -> None:
    gw, ids = eight_sessions
    done = cli("sessions", "--api-url", gw.url)
    assert done.returncode == 0, done.stderr
    assert_fits(done.stdout)
    assert "…" not in done.stdout
    flat = " ".join(done.stdout.split())  # a long name may wrap inside its cell, never lose words
    for word in LONG_NAME.split():
        assert word in flat
    costs = re.findall(r"\$\d+\.\d{6}", done.stdout)
    assert len(costs) == 8
    assert all(sid[:8] in done.stdout for sid in ids)
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \S+", done.stdout), "dates carry the year and a zone"
    assert "8 sessions in the last 30 days" in done.stdout
    wide = cli("sessions", "--api-url", gw.url, columns=200)
    assert all(sid in wide.stdout for sid in ids), "wide terminals show full ids"


def test_sessions_limit_says_how_many_there_are(eight_sessions: tuple[GatewayServer, list[str]]) -> None:
    gw, _ = eight_sessions
    done = cli("sessions", "--limit", "2", "--api-url", gw.url)
    assert done.returncode == 0 and "2 of 8 sessions" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (["--limit", "0"], "--limit must be between 1 and 1000, got 0"),
    (["--limit", "1001"], "--limit must be between 1 and 1000"),
    (["--days", "-1"], "--days must be a positive number of days"),
])
def test_sessions_rejects_bad_options_in_one_line(
    eight_sessions: tuple[GatewayServer, list[str]], args: list[str], expected: str
) -> None:
    gw, _ = eight_sessions
    done = cli("sessions", *args, "--api-url", gw.url)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and expected in done.stderr, done.stderr
    assert "start" not in done.stderr


def test_sessions_empty_result_is_a_sentence_not_an_empty_box(
    eight_sessions: tuple[GatewayServer, list[str]],
) -> None:
    gw, _ = eight_sessions
    done = cli("sessions", "--search", "no-such-session", "--api-url", gw.url)
    assert done.returncode == 0
    assert done.stdout.startswith("No sessions matching 'no-such-session' in the last 30 days")
    assert "─" not in done.stdout and "helicone-wrap demo --keep" in done.stdout
    assert_fits(done.stdout)


def test_api_url_with_v1_works_like_helicone_base_url(eight_sessions: tuple[GatewayServer, list[str]]) -> None:
    gw, ids = eight_sessions
    done = cli("sessions", "--api-url", gw.url + "/v1", columns=200)
    assert done.returncode == 0, done.stderr
    assert ids[0] in done.stdout


def test_json_output_of_sessions_session_and_request(eight_sessions: tuple[GatewayServer, list[str]]) -> None:
    gw, ids = eight_sessions
    listing = json.loads(cli("sessions", "--json", "--limit", "3", "--api-url", gw.url).stdout)
    assert listing["total"] == 8 and len(listing["sessions"]) == 3
    one = json.loads(cli("session", ids[0][:8], "--json", "--api-url", gw.url).stdout)
    assert one["session_id"] == ids[0] and len(one["requests"]) == 2
    assert one["tree"]["children"][0]["name"] == "step"
    rid = one["requests"][0]["request_id"]
    request = json.loads(cli("request", rid, "--json", "--api-url", gw.url).stdout)
    assert request["request_id"] == rid and request["prompt"] == "user: x"
    assert request["answer"].startswith("This is the helicone-wrap offline model")
    assert request["session_id"] == ids[0] and request["feedback"] is None


def test_request_prints_prompt_answer_and_ratings_at_80_columns(tmp_path: Path) -> None:
    with GatewayServer(port=0, db=":memory:") as gw:
        client = wrap(openai.OpenAI(api_key="sk-x", base_url=gw.url + "/v1"), base_url=gw.url)
        with session("Support", path="/answer"):
            done = client.chat.completions.create(model="gpt-4o-mini",
                                                  messages=[{"role": "user", "content": "How do I reset it?"}])
        done.enrich(outcome="resolved")
        done.feedback(True)
        done.score(helpfulness=9, grounded=True)
        from helicone_wrap import flush

        assert flush(10)
        client.close()
        shown = cli("request", done.helicone_id or "", "--api-url", gw.url)
    assert shown.returncode == 0, shown.stderr
    assert_fits(shown.stdout)
    out = shown.stdout
    for expected in ("user: How do I reset it?", "You said: How do I reset it?", "outcome=resolved",
                     "👍 positive", "grounded=true", "helpfulness=9", "/answer"):
        assert expected in out, out
    assert "hcone-bool" not in out


def test_version_flag() -> None:
    from helicone_wrap import _version

    for flag in ("-V", "--version"):
        done = cli(flag)
        assert done.returncode == 0 and done.stdout.strip() == f"helicone-wrap {_version.__version__}"


# ------------------------------------------------------------------- gateway


def test_gateway_on_a_busy_port_is_one_line_before_any_banner(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = cli("gateway", "--port", str(port), "--db", ":memory:", tmp=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr and "--port" in done.stderr
    assert "helicone-wrap gateway on" not in done.stderr + done.stdout


def test_gateway_with_an_unusable_db_is_one_line(tmp_path: Path) -> None:
    done = cli("gateway", "--port", "0", "--db", "/nonexistent/x.db", tmp=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr, done.stderr
    assert "cannot open the log database /nonexistent/x.db" in done.stderr and "does not exist" in done.stderr


def _start_gateway(tmp: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "helicone_wrap.cli", "gateway", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(80, tmp))
    assert proc.stderr is not None
    banner = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        banner.append(line)
        if "Application startup complete" in line or not line:
            break
    text = "".join(banner)
    match = re.search(r"gateway on (http://127\.0\.0\.1:\d+)", text)
    assert match, text
    return proc, text


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err


def test_gateway_defaults_to_a_kept_database_and_logs_each_request(tmp_path: Path) -> None:
    proc, banner = _start_gateway(tmp_path)
    url = re.search(r"gateway on (\S+)", banner).group(1)  # type: ignore[union-attr]
    expected = tmp_path / "xdg" / "helicone_wrap" / "gateway.sqlite3"
    try:
        assert f"log database     {expected} (kept" in banner
        client = wrap(openai.OpenAI(api_key="sk-x", base_url=url + "/v1"), base_url=url)
        with session("Logged") as s:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        client.close()
    finally:
        err = _stop(proc)
    assert expected.exists()
    line = next(line for line in err.splitlines() if "/v1/chat/completions" in line)
    assert re.search(rf"POST /v1/chat/completions  gpt-4o-mini  200  \d+\.\d ms  session {s.id[:8]}", line), line
    quiet, banner = _start_gateway(tmp_path, "--quiet", "--db", ":memory:")
    url = re.search(r"gateway on (\S+)", banner).group(1)  # type: ignore[union-attr]
    try:
        assert "the log ends with the gateway" in banner
        with http.Client(timeout=10) as plain:
            assert plain.get(url + "/v1/models").status_code == 200
    finally:
        err = _stop(quiet)
    assert "/v1/models" not in err


# ---------------------------------------------------------------------- demo


def test_demo_at_80_columns_tells_the_truth(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite3"
    done = cli("demo", "--db", str(db), tmp=tmp_path, HELICONE_WRAP_OFFLINE_TTFT_MS="3",
               HELICONE_WRAP_OFFLINE_TOKEN_MS="0.2")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert_fits(out, unbreakable=str(db))
    assert out.count("✓") == 8 and "✗" not in out
    assert "on_topic=true" in out and "hcone-bool" not in out
    assert "user demo-user" in out
    assert "1 session " in out or "1 session\n" in out or "8 requests" in out
    assert "1 sessions" not in out and "1 requests" not in out
    assert out.index("chapter-1") < out.index("chapter-2") < out.index("chapter-3")
    assert not re.search(r"(?<![\d.])0(\.0+)? ms", out), "every latency is measured, none is 0.0 ms"
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \S+", out)
    assert "Try next" in out and f"helicone-wrap gateway --db {db}" in out
    sid = re.search(r"Session Course Plan \(id ([0-9a-f-]{36})\)", out).group(1)  # type: ignore[union-attr]
    with GatewayServer(port=0, db=str(db)) as gw, HeliconeAPI(api_key="k", base_url=gw.url) as api:
        shown = cli("session", sid, "--api-url", gw.url)  # the session outlives the demo
        rows = api.sessions.tree(sid).requests
    assert shown.returncode == 0, shown.stderr
    assert "chapter-3" in shown.stdout and "outcome=approved" in shown.stdout
    assert shown.stdout.count("  cached") == 1, shown.stdout
    titles = [r for r in rows if r.session_path == "/title"]
    ids = {r.request_id for r in titles}
    # The 2nd /title is Helicone's cache hit of the 1st: its row points to the original.
    assert len(titles) == 2 and [r.cache_reference_id for r in titles if r.cache_reference_id] == [
        r.request_id for r in titles if r.cache_reference_id is None] and len(ids) == 2
    summary = next(r for r in rows if r.session_path == "/summary")
    # /summary came through the async log (its target is the provider's URL, not the proxy's offline
    # model), in the same session as the proxied steps, with model, tokens and cost.
    assert summary.target_url is not None and summary.target_url.endswith("/v1/chat/completions")
    assert not summary.target_url.startswith("offline:") and summary.model == "gpt-4o-mini"
    assert summary.total_tokens and summary.cost and summary.request_user_id == "demo-user"


def test_demo_without_keep_says_the_log_is_gone() -> None:
    done = cli("demo")
    assert done.returncode == 0, done.stderr
    assert "temporary database and is gone" in done.stdout and "demo --keep" in done.stdout


def _in_the_background() -> None:
    """A child of a non-interactive shell's ``cmd &``: SIGINT ignored, so only SIGTERM can end it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("stop", "start"), [(signal.SIGINT, _like_a_terminal), (signal.SIGTERM, _in_the_background)], ids=["ctrl-c", "kill"]
)
def test_demo_keep_serves_the_session_until_stopped(tmp_path: Path, stop: int, start: Callable[[], None]) -> None:
    """``demo --keep`` serves until Ctrl-C, or ``kill`` when it runs in the background; either way it
    ends cleanly and a call made through the kept gateway just before is in its log."""
    proc = subprocess.Popen([sys.executable, "-m", "helicone_wrap.cli", "demo", "--keep"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(80, tmp_path), preexec_fn=start)
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "/sessions/" in line or not line:
            break
    text = "".join(lines)
    match = re.search(r"Session dashboard:\n    (http://127\.0\.0\.1:\d+)/sessions/([0-9a-f-]{36})\n", text)
    assert match, text
    root, sid = match.groups()
    with http.Client(timeout=10) as plain:  # the gateway is still serving the session
        found = plain.post(root + "/v1/request/query-clickhouse", json={"filter": "all", "limit": 100})
    assert found.status_code in (200, 201)
    rows = found.json()["data"]
    in_session = [r for r in rows if (r.get("request_properties") or {}).get("Helicone-Session-Id") == sid]
    # The 8 steps, all in the session: /summary's direct (async-mode) call goes to a separate provider,
    # so the gateway holds no sessionless row of it.
    assert len(in_session) == 8 and len(rows) == 8, rows
    kept = openai.OpenAI(base_url=root + "/v1", api_key="sk-offline", max_retries=0)
    last = kept.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    proc.send_signal(stop)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Stopped." in out and "Traceback" not in err
    assert "/v1/request/query-clickhouse" in err  # the access log ran while it was kept
    log = tmp_path / "xdg" / "helicone_wrap" / "gateway.sqlite3"
    with contextlib.closing(sqlite3.connect(log)) as db:
        ids = {row[0] for row in db.execute("SELECT request_id FROM requests")}
    assert len(ids) == 9 and last.headers["helicone-id"] in ids
    assert sid in out


def test_ctrl_c_during_the_demo_is_one_line_and_exit_130(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "helicone_wrap.cli", "demo", "--ttft-ms", "20000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(80, tmp_path),
                            preexec_fn=_like_a_terminal)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "as user demo-user" in line or not line:
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip().count("\n") == 0 and "Traceback" not in err, err
    assert "interrupted" in err


# ------------------------------------------------------------- README, examples


def test_readme_python_blocks_compile() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks
    for block in blocks:
        compile(block, "README.md", "exec")
    assert "pip install -e \".[gateway]\"" in readme and "OPENAI_API_KEY" in readme.split("```python")[0]


@pytest.mark.parametrize(("example", "expected"), [
    ("quickstart.py", ["Answer: This is the helicone-wrap offline model", "Feedback delivered.",
                       "helicone-wrap session"]),
    ("feedback.py", ["feedback positive", "outcome=resolved", "grounded-hcone-bool=1", "helicone-wrap session",
                     "/sessions/"]),
    ("async_sessions.py", ["Session 'Space'", "Session 'Oceans'", "chapter 3  helicone id",
                           "helicone-wrap sessions --api-url"]),
])
def test_examples_print_what_a_person_wants(example: str, expected: list[str]) -> None:
    with GatewayServer(port=0, db=":memory:") as gw:
        done = subprocess.run([sys.executable, str(ROOT / "examples" / example)], capture_output=True, text=True,
                              timeout=120, env=_env(80, None, HELICONE_BASE_URL=gw.url, OPENAI_API_KEY="sk-offline"))
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout, done.stdout
    assert "SessionTree(" not in done.stdout and "Look next" in done.stdout
    assert_fits(done.stdout, 120)


HINT = "the Helicone key ({}) was rejected by the gateway"


def test_a_wrong_helicone_key_says_which_key_sync() -> None:
    from helicone_wrap import HeliconeAPI
    from helicone_wrap._exceptions import HeliconeAuthError

    with GatewayServer(port=0, require_key="right-key") as gw:
        client = wrap(openai.OpenAI(api_key="sk-x", base_url=gw.url + "/v1", max_retries=0), api_key="wrong",
                      base_url=gw.url)
        with pytest.raises(openai.AuthenticationError) as denied:  # openai keeps Helicone's string error in .body
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        assert HINT.format("Helicone-Auth") in str(denied.value.body)
        client.close()
        with HeliconeAPI(api_key="wrong", base_url=gw.url) as api, \
                pytest.raises(HeliconeAuthError, match=re.escape(HINT.format("Authorization"))):
            api.sessions.query()
        done = cli("sessions", "--api-url", gw.url, "--api-key", "wrong")
    assert done.returncode == 1 and HINT.format("Authorization") in done.stderr


async def test_a_wrong_helicone_key_says_which_key_async() -> None:
    from helicone_wrap import AsyncHeliconeAPI
    from helicone_wrap._exceptions import HeliconeAuthError

    with GatewayServer(port=0, require_key="right-key") as gw:
        client = wrap(openai.AsyncOpenAI(api_key="sk-x", base_url=gw.url + "/v1", max_retries=0), api_key="wrong",
                      base_url=gw.url)
        with pytest.raises(openai.AuthenticationError) as denied:
            await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        assert HINT.format("Helicone-Auth") in str(denied.value.body)
        await client.close()
        async with AsyncHeliconeAPI(api_key="wrong", base_url=gw.url) as api:
            with pytest.raises(HeliconeAuthError, match=re.escape(HINT.format("Authorization"))):
                await api.sessions.query()
