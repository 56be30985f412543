"""Type-checked by `mypy --strict` (the typing tox env): the README's examples keep their types."""

from __future__ import annotations

from openai import AsyncOpenAI, AzureOpenAI, OpenAI
from openai.types.chat import ChatCompletion

from helicone_wrap import current, properties, request_id, session, trace, unwrap, user, wrap


def sync_story() -> str | None:
    client: OpenAI = wrap(OpenAI(), api_key="sk-helicone-x")  # still typed OpenAI
    with session("Course Plan", path="/abstract") as s, properties(environment="prod"), user("u-1"):
        completion: ChatCompletion = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Write an abstract"}]
        )
        sid: str = s.id
    print(sid, current().session_path)
    unwrap(client)
    return request_id(completion)


@trace("outline")
def outline(topic: str) -> str:
    return topic


@trace
async def chapter(n: int) -> int:
    return n


async def async_story() -> str | None:
    client: AsyncOpenAI = wrap(AsyncOpenAI(), api_key="sk-helicone-x")
    azure: AzureOpenAI = wrap(AzureOpenAI(api_version="2024-10-21", azure_endpoint="https://x.openai.azure.com"))
    del azure
    async with session("Async"):
        completion = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    number: int = await chapter(1)
    text: str = outline("space")
    del number, text
    return request_id(completion)


def features_story() -> int | None:
    from datetime import timedelta

    from helicone_wrap import HeliconeMeta, cache, helicone_meta, rate_limit, retries

    client: OpenAI = wrap(OpenAI(), retries(attempts=3), api_key="sk-helicone-x")  # still typed OpenAI
    with cache(max_age=timedelta(hours=1), ignore_keys=["user"]), rate_limit(100, window=3600, segment="user"):
        completion: ChatCompletion = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    meta: HeliconeMeta | None = helicone_meta(completion)
    if meta is None or meta.rate_limit is None:
        return None
    print(meta.cache, meta.bucket_index, meta.cache_latency_ms, meta.rate_limit.reset_s)
    return meta.fallback_index
