"""One order for every setting: explicit argument, then environment, then default.

The bug this guards against: with ``HELICONE_API_URL`` exported, ``wrap(client, base_url=<local
gateway>)`` sent enrich/feedback/score to the environment's REST API with the user's key. Here
the environment points at a loopback recorder that must see nothing, and the wrapped client's
own gateway must receive every operation; in a real shell (a subprocess) and with
``monkeypatch.setenv``, on the sync and the async client.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from helicone_wrap import AsyncHeliconeAPI, HeliconeAPI, _delivery, enrich, feedback, request_id, score, wrap
from helicone_wrap._config import EU_API, US_API, resolve
from helicone_wrap.cli import main
from helicone_wrap.gateway import GatewayServer

from .faultserver import FaultServer, isolated_delivery

ROOT = Path(__file__).resolve().parent.parent
ENV_KEY = "sk-helicone-from-the-environment-0000"


@pytest.fixture
def gw() -> Iterator[GatewayServer]:
    with GatewayServer(port=0, db=":memory:") as server:
        yield server


@pytest.fixture
def recorder() -> Iterator[FaultServer]:
    """Stands in for Helicone cloud: whatever reaches it went where the environment pointed."""
    with FaultServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from isolated_delivery(tmp_path, monkeypatch)


def export(monkeypatch: pytest.MonkeyPatch, recorder: FaultServer) -> None:
    monkeypatch.setenv("HELICONE_API_URL", recorder.url)
    monkeypatch.setenv("HELICONE_BASE_URL", recorder.url)
    monkeypatch.setenv("HELICONE_API_KEY", ENV_KEY)


def assert_ops_landed(gw: GatewayServer, rid: str) -> None:
    row = gw.store.get_request(rid)
    assert row is not None
    assert row["properties"].get("outcome") == "approved"
    assert row["scores"].get("quality") == 8
    assert row["scores"].get("helicone-score-feedback") == 1


# -- resolve(): the order itself ---------------------------------------------------------------


def test_resolve_order_argument_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each value, and where it came from, for the combinations a user meets."""
    nothing = resolve()
    assert (nothing.api_url, nothing.api_url_source, nothing.key_source, nothing.gateway_source) == (
        US_API, "default", "default", "default")
    assert resolve(api_key="sk-helicone-eu-abc").api_url == EU_API
    monkeypatch.setenv("HELICONE_API_URL", "https://env-api.example")
    monkeypatch.setenv("HELICONE_BASE_URL", "http://env-gateway.example:1")
    monkeypatch.setenv("HELICONE_API_KEY", ENV_KEY)
    env = resolve()
    assert (env.api_url, env.api_url_source) == ("https://env-api.example", "HELICONE_API_URL")
    assert (env.gateway, env.gateway_source, env.key_source) == ("http://env-gateway.example:1", "HELICONE_BASE_URL",
                                                                 "HELICONE_API_KEY")
    # An explicit gateway implies its own REST API; the environment's does not apply to it.
    local = resolve(base_url="http://127.0.0.1:8787/")
    assert (local.api_url, local.api_url_source, local.gateway_source) == (
        "http://127.0.0.1:8787", "base_url argument", "argument")
    cloud = resolve(base_url="https://oai.helicone.ai/v1")
    assert (cloud.api_url, cloud.api_url_source) == (US_API, "base_url argument")
    both = resolve(base_url="http://127.0.0.1:8787", api_url="http://127.0.0.1:9999")
    assert (both.api_url, both.api_url_source) == ("http://127.0.0.1:9999", "argument")
    assert resolve(api_key="sk-helicone-arg").key_source == "argument"
    monkeypatch.delenv("HELICONE_API_URL")
    from_gateway = resolve()
    assert (from_gateway.api_url, from_gateway.api_url_source) == ("http://env-gateway.example:1", "HELICONE_BASE_URL")


# -- wrap(): in-process environment (monkeypatch.setenv) ----------------------------------------


def test_explicit_gateway_beats_the_environment_sync(
    gw: GatewayServer, recorder: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    export(monkeypatch, recorder)
    client = wrap(openai.OpenAI(api_key="sk-x", base_url=gw.url + "/v1", max_retries=0), base_url=gw.url)
    done = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    handles = [enrich(done, outcome="approved"), feedback(done, True), score(done, quality=8)]
    assert _delivery.flush(10)
    assert [h.error for h in handles] == [None, None, None]
    assert recorder.seen() == []
    assert_ops_landed(gw, str(request_id(done)))
    client.close()


def test_explicit_gateway_beats_the_environment_async(
    gw: GatewayServer, recorder: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    export(monkeypatch, recorder)

    async def run() -> str:
        client = wrap(openai.AsyncOpenAI(api_key="sk-x", base_url=gw.url + "/v1", max_retries=0), base_url=gw.url)
        done = await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        handles = [await enrich(done, outcome="approved"), await feedback(done, True), await score(done, quality=8)]
        assert [h.error for h in handles] == [None, None, None]
        await client.close()
        return str(request_id(done))

    rid = asyncio.run(run())
    assert recorder.seen() == []
    assert_ops_landed(gw, rid)


def test_bare_ids_follow_the_wrapped_client_not_the_environment(
    gw: GatewayServer, recorder: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """enrich("<id>") after wrap(base_url=...) goes to that gateway, where the request was logged."""
    export(monkeypatch, recorder)
    client = wrap(openai.OpenAI(api_key="sk-x", base_url=gw.url + "/v1", max_retries=0), base_url=gw.url)
    rid = str(request_id(client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])))
    assert enrich(rid, outcome="approved").wait(10)
    assert recorder.seen() == []
    assert gw.store.get_request(rid)["properties"]["outcome"] == "approved"  # type: ignore[index]
    client.close()


def test_helicone_api_argument_beats_the_environment(
    gw: GatewayServer, recorder: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HeliconeAPI/AsyncHeliconeAPI(base_url=...) read there; without it HELICONE_API_URL is used."""
    export(monkeypatch, recorder)
    with HeliconeAPI(base_url=gw.url) as api:
        assert api.base_url == gw.url
        api.requests.query(limit=1)

    async def run() -> None:
        async with AsyncHeliconeAPI(base_url=gw.url) as api:
            assert api.base_url == gw.url
            await api.requests.query(limit=1)

    asyncio.run(run())
    assert recorder.seen() == []
    with HeliconeAPI() as api:
        api.requests.query(limit=1)
    (seen,) = recorder.seen()
    assert seen.headers["authorization"] == f"Bearer {ENV_KEY}"


def test_cli_api_url_beats_the_environment(
    gw: GatewayServer, recorder: FaultServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    export(monkeypatch, recorder)
    assert main(["sessions", "--api-url", gw.url]) == 0
    assert recorder.seen() == []
    capsys.readouterr()


# -- wrap(): a real user's shell (a subprocess with the environment exported) --------------------

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import openai
    from helicone_wrap import enrich, feedback, flush, request_id, score, wrap

    gateway = sys.argv[1]
    ids = []
    client = wrap(openai.OpenAI(api_key="sk-x", base_url=gateway + "/v1", max_retries=0), base_url=gateway)
    done = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    enrich(done, outcome="approved"); feedback(done, True); score(done, quality=8)
    ids.append(request_id(done))

    async def run():
        aclient = wrap(openai.AsyncOpenAI(api_key="sk-x", base_url=gateway + "/v1", max_retries=0), base_url=gateway)
        done = await aclient.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        enrich(done, outcome="approved"); feedback(done, True); score(done, quality=8)
        ids.append(request_id(done))
        await aclient.close()

    asyncio.run(run())
    print(flush(20), *ids)
    """
)


def test_explicit_gateway_beats_an_exported_environment(
    gw: GatewayServer, recorder: FaultServer, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "HELICONE_API_URL": recorder.url, "HELICONE_BASE_URL": recorder.url, "HELICONE_API_KEY": ENV_KEY}
    done = subprocess.run([sys.executable, "-c", SCRIPT, gw.url], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    flushed, *ids = done.stdout.split()
    assert flushed == "True", done.stderr
    assert recorder.seen() == []
    assert len(ids) == 2
    for rid in ids:
        assert_ops_landed(gw, rid)


