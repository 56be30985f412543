"""Data for the dashboard tests, made the way a user makes it: wrapped sync and async clients
calling an offline gateway, with a session whose chapter steps run concurrently."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest

from helicone_wrap import feedback, flush, properties, request_id, score, session, user, wrap
from helicone_wrap._http import http
from helicone_wrap.gateway import GatewayServer

from ..faultserver import isolated_delivery

#: The property value every page must show as text.
EVIL = "<script>alert(1)</script>"
SESSION_NAME = "Course <Plan>"
MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "Write the outline"}]
CHAPTERS = 3


@dataclass
class Seeded:
    """What :func:`seed` made: ids to look for on the pages."""

    session_id: str = ""
    outline_id: str = ""
    chapter_ids: list[str] = field(default_factory=list)
    summary_id: str = ""
    embedding_id: str = ""
    failed_id: str = ""

    @property
    def session_request_ids(self) -> list[str]:
        return [self.outline_id, *self.chapter_ids, self.summary_id]


def _stream_id(stream: openai.Stream[object]) -> str:
    for _ in stream:
        pass
    rid = getattr(stream, "helicone_id", None)
    assert isinstance(rid, str), "the wrapped stream carries its helicone id"
    return rid


async def _chapters(url: str, session_id: str) -> list[str]:
    """The async client writes the chapters at the same time (asyncio.gather): their bars overlap."""
    async with openai.AsyncOpenAI(api_key="sk-local", base_url=url + "/v1", max_retries=0) as raw:
        client = wrap(raw, base_url=url)

        async def chapter(n: int) -> str:
            async with session(name=SESSION_NAME, id=session_id, path=f"/chapters/{n}"):
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": f"Write chapter {n}"}],
                    stream=True,
                )
                async for _ in stream:
                    pass
                rid = getattr(stream, "helicone_id", None)
                assert isinstance(rid, str)
                return rid

        return list(await asyncio.gather(*(chapter(n) for n in range(1, CHAPTERS + 1))))


def seed(gw: GatewayServer) -> Seeded:
    """Outline (sync, streamed), three concurrent chapters (async, streamed), a summary with
    feedback and scores (sync), an embedding outside the session and one failed call."""
    out = Seeded()
    with openai.OpenAI(api_key="sk-local", base_url=gw.url + "/v1", max_retries=0) as raw:
        client = wrap(raw, base_url=gw.url)
        with user("alice"), properties(evil=EVIL, environment="test"):
            with session(SESSION_NAME, path="/outline") as s:
                out.session_id = s.id
                out.outline_id = _stream_id(
                    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
                )
            out.chapter_ids = asyncio.run(_chapters(gw.url, out.session_id))
            with session(SESSION_NAME, id=out.session_id, path="/summary"):
                summary = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
            out.summary_id = str(request_id(summary))
            feedback(summary, True)
            score(summary, quality=8, on_topic=True)
        embedding = client.embeddings.create(model="text-embedding-3-small", input="hello")
        out.embedding_id = str(request_id(embedding))
    broken = http.post(gw.url + "/v1/chat/completions", content=b"not json", timeout=10)
    assert broken.status_code == 400
    out.failed_id = broken.headers["helicone-id"]
    assert flush(timeout=10), "feedback and scores were delivered"
    gw.store.flush(5)
    return out


@pytest.fixture(scope="module")
def seeded_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayServer, Seeded]]:
    """An offline gateway whose streams take ~0.3 s (so bars have length), seeded once."""
    tmp: Path = tmp_path_factory.mktemp("dashboard")
    with pytest.MonkeyPatch.context() as monkeypatch, GatewayServer(offline_chunk_delay=0.03) as gw:
        delivery = isolated_delivery(tmp, monkeypatch)
        next(delivery)
        try:
            yield gw, seed(gw)
        finally:
            next(delivery, None)
