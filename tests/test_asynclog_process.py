"""Async-mode records across process death: saved at a bounded exit, and with ``durable=True``
across ``kill -9``; each is delivered, whole, by the next process that starts a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from helicone_wrap._delivery.outbox import Outbox

from .faultserver import FaultServer, hang
from .test_delivery_process import KEY, replay, spawn

pytestmark = pytest.mark.slow

# Makes COUNT async-mode calls (plus one stream) against an in-process echo provider, logging to
# LOG_URL; prints their ids and "queued", then exits normally or waits to be killed.
PRODUCER = textwrap.dedent(
    """
    import sys
    import openai, helicone_wrap
    from helicone_wrap import _delivery
    from tests.echo_server import EchoServer
    log_url, outbox, count, durable, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
    _delivery.configure(outbox=None if outbox == "-" else outbox, exit_timeout=1.0, request_timeout=30.0, durable=durable)
    echo = EchoServer().start()
    client = helicone_wrap.wrap(openai.OpenAI(base_url=echo.url + "/v1", api_key="sk-test-openai", max_retries=0),
                                mode="async", base_url=log_url, api_key=key)
    ids = []
    for i in range(count):
        result = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}])
        ids.append(result.helicone_id)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "s"}], stream=True)
    list(stream)
    ids.append(stream.helicone_id)
    if len(sys.argv) > 6 and sys.argv[6] == "feedback":
        result.feedback(True)  # one operation of another kind, for the exit message
    print(" ".join(ids), flush=True)
    print("queued", flush=True)
    if len(sys.argv) > 6 and sys.argv[6] == "wait":
        sys.stdin.read()  # wait here to be killed
    """
)

COUNT = 200


@pytest.fixture
def log_host() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        srv.when(hang())  # Helicone is down: no record gets through while the producer lives
        yield srv


def assert_every_record_arrived_whole(log_host: FaultServer, before: int, ids: list[str]) -> None:
    posts = [r for r in log_host.seen()[before:] if r.path == "/oai/v1/log"]
    by_id = {r.headers["helicone-request-id"]: r for r in posts}
    assert sorted(by_id) == sorted(ids) and len(posts) == len(ids)
    for request_id in ids[:-1]:
        record = by_id[request_id].body
        assert record["providerRequest"]["json"]["messages"][0]["content"].startswith("q")
        assert record["providerResponse"]["json"]["choices"][0]["message"]["content"] == "Hello there"
        assert record["providerResponse"]["status"] == 200
    streamed = by_id[ids[-1]]
    assert "data: [DONE]" in streamed.body["providerResponse"]["textBody"]
    assert streamed.body["timing"]["timeToFirstToken"] >= 0
    assert {r.headers["helicone-auth"] for r in posts} == {f"Bearer {KEY}"}


def test_async_records_are_saved_at_exit_and_delivered_by_the_next_process(
    log_host: FaultServer, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.sqlite3"
    proc = spawn(PRODUCER, log_host.url, str(outbox), str(COUNT), "0", KEY)
    assert proc.stdout is not None
    ids = proc.stdout.readline().split()
    assert proc.stdout.readline().strip() == "queued"
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert len(ids) == COUNT + 1
    assert sorted(r.request_id for r in Outbox(outbox, "inspect").rows()) == sorted(ids)
    # the exit message names what was left: log records, not enrich/feedback/score operations
    assert f"helicone_wrap: {COUNT + 1} async-mode log records were not delivered before exit; saved to " in err
    assert "enrich/feedback/score" not in err

    log_host.clear_rules()
    before = len(log_host.seen())
    ok, replayed = replay(outbox)
    assert ok and replayed == COUNT + 1
    assert_every_record_arrived_whole(log_host, before, ids)
    assert Outbox(outbox, "inspect").rows() == []


def test_durable_async_records_survive_kill_9(log_host: FaultServer, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.sqlite3"
    proc = spawn(PRODUCER, log_host.url, str(outbox), str(COUNT), "1", KEY, "wait", stdin=subprocess.PIPE)
    assert proc.stdout is not None
    ids = proc.stdout.readline().split()
    assert proc.stdout.readline().strip() == "queued"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(ids) == COUNT + 1

    log_host.clear_rules()
    before = len(log_host.seen())
    ok, replayed = replay(outbox)
    assert ok and replayed == COUNT + 1
    assert_every_record_arrived_whole(log_host, before, ids)
    assert Outbox(outbox, "inspect").rows() == []


def test_exit_without_outbox_names_the_log_records_and_other_operations_it_loses(log_host: FaultServer) -> None:
    """With outbox=None, the exit warning counts async-mode log records and enrich/feedback/score apart."""
    proc = spawn(PRODUCER, log_host.url, "-", "4", "0", KEY, "feedback")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (
        "helicone_wrap: 6 operations (5 async-mode log records, 1 enrich/feedback/score operation) were not "
        "delivered before exit; lost, as no outbox is configured." in err
    )
    assert KEY not in err
