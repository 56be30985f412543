"""AsyncOpenAI with nested sessions across concurrent tasks; each task keeps its own context.

    HELICONE_BASE_URL=http://127.0.0.1:8787 OPENAI_API_KEY=sk-offline python examples/async_sessions.py
"""

from __future__ import annotations

import asyncio

from openai import AsyncOpenAI

from helicone_wrap import properties, session, trace, wrap

client = wrap(AsyncOpenAI())


@trace("chapter")
async def chapter(n: int) -> str:
    completion = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"Write chapter {n}"}]
    )
    return completion.choices[0].message.content or ""


async def book(title: str) -> None:
    async with session(title, path="/outline"), properties(book=title):
        chapters = await asyncio.gather(*(chapter(n) for n in range(1, 4)))
        print(title, [len(text) for text in chapters])


async def main() -> None:
    await asyncio.gather(book("Space"), book("Oceans"))
    await client.close()


asyncio.run(main())
