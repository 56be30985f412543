"""AsyncOpenAI with nested sessions across concurrent tasks; each task keeps its own context.

    helicone-wrap gateway        # in another terminal: the local gateway, offline model
    HELICONE_BASE_URL=http://127.0.0.1:8787 OPENAI_API_KEY=sk-offline python examples/async_sessions.py
"""

from __future__ import annotations

import asyncio
import os

from openai import AsyncOpenAI

from helicone_wrap import properties, request_id, session, trace, wrap

client = wrap(AsyncOpenAI())


@trace("chapter")
async def chapter(n: int) -> str:
    completion = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"Write chapter {n}"}]
    )
    return request_id(completion) or "?"


async def book(title: str) -> str:
    async with session(title, path="/outline") as s, properties(book=title):
        ids = await asyncio.gather(*(chapter(n) for n in range(1, 4)))
    print(f"Session {title!r} ({s.id}): 3 chapters written concurrently under /outline/chapter")
    for n, rid in enumerate(ids, start=1):
        print(f"  chapter {n}  helicone id {rid}")
    return s.id


async def main() -> None:
    sessions = await asyncio.gather(book("Space"), book("Oceans"))
    await client.close()
    base = os.environ.get("HELICONE_BASE_URL")
    where = f" --api-url {base}" if base else ""
    print("\nEach book is its own session, though they ran at the same time. Look next:")
    print(f"  helicone-wrap sessions{where}")
    for sid in sessions:
        print(f"  helicone-wrap session {sid}{where}")


asyncio.run(main())
