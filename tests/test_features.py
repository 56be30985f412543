"""Feature blocks (cache, retries, rate_limit, omit, prompt, moderation, llm_security, posthog): the
headers each sends, their four forms, nesting, wrap(client, ...) and validation, sync and async,
against the real loopback echo server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from helicone_wrap import (
    HeliconeConfigError,
    HeliconeValidationError,
    cache,
    current,
    llm_security,
    moderation,
    omit,
    posthog,
    prompt,
    properties,
    rate_limit,
    retries,
    session,
    wrap,
)

from .conftest import Driver
from .echo_server import EchoServer

KEY = "sk-helicone-aaaaaaa-bbbbbbb-ccccccc-ddddddd"
MESSAGES = [{"role": "user", "content": "hi"}]
NOT_FEATURES = {"helicone-auth", "helicone-request-id"}


def wrapped(driver: Driver, echo: EchoServer, *blocks: Any, **kwargs: Any) -> Any:
    return wrap(driver.client(echo.url + "/v1"), *blocks, api_key=KEY, base_url=echo.url, **kwargs)


async def chat(driver: Driver, client: Any, **kwargs: Any) -> dict[str, str]:
    """One call; the feature headers the server received (Helicone-* but auth and id, plus Cache-Control)."""
    result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES, **kwargs)
    return sent_features(result)


def sent_features(result: Any) -> dict[str, str]:
    headers = ECHO[0].by_id(result.helicone_id).headers
    return {k: v for k, v in headers.items()
            if (k.startswith("helicone-") and k not in NOT_FEATURES and not k.startswith("helicone-session")
                and not k.startswith("helicone-property")) or k == "cache-control"}


ECHO: list[EchoServer] = []


@pytest.fixture(autouse=True)
def _echo(echo: EchoServer) -> Iterator[None]:
    ECHO[:] = [echo]
    yield


BLOCKS: list[tuple[str, Callable[[], Any], dict[str, str]]] = [
    ("cache", lambda: cache(), {"helicone-cache-enabled": "true"}),
    ("cache-all", lambda: cache(max_age=3600, bucket_size=3, seed="s1", ignore_keys=["user", "prompt_cache_key"],
                                mode="read"),
     {"cache-control": "max-age=3600", "helicone-cache-read": "true", "helicone-cache-bucket-max-size": "3",
      "helicone-cache-seed": "s1", "helicone-cache-ignore-keys": '"user","prompt_cache_key"'}),
    ("cache-save", lambda: cache(max_age=timedelta(days=1), mode="save"),
     {"cache-control": "max-age=86400", "helicone-cache-save": "true"}),
    ("cache-defaults-explicit", lambda: cache(max_age=timedelta(days=7), bucket_size=1, mode="read_write"),
     {"helicone-cache-enabled": "true"}),
    ("cache-off", lambda: cache(False), {}),
    ("retries", lambda: retries(), {"helicone-retry-enabled": "true"}),
    ("retries-all", lambda: retries(attempts=3, factor=1.5, min_timeout=timedelta(milliseconds=500), max_timeout=30),
     {"helicone-retry-enabled": "true", "helicone-retry-num": "3", "helicone-retry-factor": "1.5",
      "helicone-retry-min-timeout": "500", "helicone-retry-max-timeout": "30000"}),
    ("retries-off", lambda: retries(False), {}),
    ("rate-limit", lambda: rate_limit(10), {"helicone-ratelimit-policy": "10;w=60;u=request"}),
    ("rate-limit-all", lambda: rate_limit(2.5, window=timedelta(hours=1), unit="cents", segment="User"),
     {"helicone-ratelimit-policy": "2.5;w=3600;u=cents;s=user"}),
    ("rate-limit-property", lambda: rate_limit(100.0, window=31_536_000, segment="org-id"),
     {"helicone-ratelimit-policy": "100;w=31536000;u=request;s=org-id"}),
    ("omit-request", lambda: omit(request=True), {"helicone-omit-request": "true"}),
    ("omit-both", lambda: omit(request=True, response=True),
     {"helicone-omit-request": "true", "helicone-omit-response": "true"}),
    ("omit-none", lambda: omit(), {}),
    ("prompt", lambda: prompt("outline"), {"helicone-prompt-id": "outline"}),
    ("prompt-version", lambda: prompt("outline", version=2),
     {"helicone-prompt-id": "outline", "helicone-prompt-version": "2"}),
    ("moderation", lambda: moderation(), {"helicone-moderations-enabled": "true"}),
    ("moderation-off", lambda: moderation(False), {}),
    ("llm-security", lambda: llm_security(), {"helicone-llm-security-enabled": "true"}),
    ("llm-security-advanced", lambda: llm_security(advanced=True),
     {"helicone-llm-security-enabled": "true", "helicone-llm-security-advanced": "true"}),
    ("posthog", lambda: posthog("phc_1"), {"helicone-posthog-key": "phc_1"}),
    ("posthog-host", lambda: posthog("phc_1", host="https://eu.posthog.com"),
     {"helicone-posthog-key": "phc_1", "helicone-posthog-host": "https://eu.posthog.com"}),
]


@pytest.mark.parametrize(("make", "expected"), [b[1:] for b in BLOCKS], ids=[b[0] for b in BLOCKS])
async def test_each_block_sends_exactly_its_headers(driver: Driver, echo: EchoServer, make: Any,
                                                    expected: dict[str, str]) -> None:
    """Inside the block a call carries exactly the block's headers (Helicone's defaults are not sent)."""
    client = wrapped(driver, echo)
    with make():
        assert await chat(driver, client) == expected
    assert await chat(driver, client) == {}


@pytest.mark.parametrize(("make", "expected"), [b[1:] for b in BLOCKS], ids=[b[0] for b in BLOCKS])
async def test_each_block_given_to_wrap_applies_to_every_call(driver: Driver, echo: EchoServer, make: Any,
                                                              expected: dict[str, str]) -> None:
    """wrap(client, block) sends the block's headers on every call, and on copies of the client."""
    client = wrapped(driver, echo, make())
    assert await chat(driver, client) == expected
    assert await chat(driver, client.with_options(timeout=5)) == expected


async def test_the_four_forms(driver: Driver, echo: EchoServer) -> None:
    """A feature block works as with/async with and decorates functions, coroutines and generators."""
    client = wrapped(driver, echo)
    on = {"helicone-cache-enabled": "true", "helicone-retry-enabled": "true"}
    if not driver.is_async:
        with cache(), retries():
            assert await chat(driver, client) == on

        @cache()
        @retries()
        def call() -> dict[str, str]:
            return sent_features(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))

        @cache()
        def calls() -> Iterator[dict[str, str]]:
            yield sent_features(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
            yield sent_features(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))

        assert call() == on
        gen = calls()
        assert next(gen) == {"helicone-cache-enabled": "true"}
        assert await chat(driver, client) == {}  # between yields the caller's context is its own
        assert next(gen) == {"helicone-cache-enabled": "true"}
    else:
        async with cache(), retries():
            assert await chat(driver, client) == on

        @cache()
        @retries()
        async def acall() -> dict[str, str]:
            return sent_features(await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))

        @cache()
        async def acalls() -> AsyncIterator[dict[str, str]]:
            yield sent_features(await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
            yield sent_features(await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))

        assert await acall() == on
        agen = acalls()
        assert await agen.__anext__() == {"helicone-cache-enabled": "true"}
        assert await chat(driver, client) == {}
        assert await agen.__anext__() == {"helicone-cache-enabled": "true"}
    assert await chat(driver, client) == {}


async def test_inner_block_of_a_kind_replaces_the_outer_one(driver: Driver, echo: EchoServer) -> None:
    """Nesting: the inner cache() is used whole (the outer seed and max-age do not leak in); other
    kinds and the session stay; cache(False) and retries(False) switch the outer ones off."""
    client = wrapped(driver, echo)
    with cache(max_age=60, seed="outer", bucket_size=5), retries(attempts=2):
        with cache(seed="inner") as inner:
            assert current().features["cache"] is inner
            assert await chat(driver, client) == {"helicone-cache-enabled": "true", "helicone-cache-seed": "inner",
                                                  "helicone-retry-enabled": "true", "helicone-retry-num": "2"}
        with cache(False), session("s"):
            assert await chat(driver, client) == {"helicone-retry-enabled": "true", "helicone-retry-num": "2"}
            with retries(False):
                assert await chat(driver, client) == {}
        assert await chat(driver, client) == {
            "cache-control": "max-age=60", "helicone-cache-enabled": "true", "helicone-cache-seed": "outer",
            "helicone-cache-bucket-max-size": "5", "helicone-retry-enabled": "true", "helicone-retry-num": "2"}


async def test_blocks_compose_with_sessions_and_properties(driver: Driver, echo: EchoServer) -> None:
    """Feature blocks and session/properties blocks nest in any order; each keeps the other's headers."""
    client = wrapped(driver, echo)
    with session("Course Plan") as s, cache(), properties(env="prod"), rate_limit(5):
        result = await driver.call(client.chat.completions.create, model="gpt-4o-mini", messages=MESSAGES)
    headers = echo.by_id(result.helicone_id).headers
    assert headers["helicone-session-id"] == s.id and headers["helicone-property-env"] == "prod"
    assert headers["helicone-cache-enabled"] == "true"
    assert headers["helicone-ratelimit-policy"] == "5;w=60;u=request"


async def test_context_blocks_win_over_the_clients_own(driver: Driver, echo: EchoServer) -> None:
    """wrap(client, cache(bucket_size=2), retries()): a context block of a kind replaces the client's
    whole (no bucket header left over), cache(False) masks it, and other kinds stay."""
    client = wrapped(driver, echo, cache(bucket_size=2, max_age=120), retries())
    both = {"helicone-cache-enabled": "true", "helicone-cache-bucket-max-size": "2", "cache-control": "max-age=120",
            "helicone-retry-enabled": "true"}
    assert await chat(driver, client) == both
    with cache(seed="x"):
        assert await chat(driver, client) == {"helicone-cache-enabled": "true", "helicone-cache-seed": "x",
                                              "helicone-retry-enabled": "true"}
    with cache(False):
        assert await chat(driver, client) == {"helicone-retry-enabled": "true"}
    with retries(False):
        assert await chat(driver, client) == {k: v for k, v in both.items() if "retry" not in k}
    assert await chat(driver, client) == both


@pytest.mark.parametrize("where", ["context", "wrap"])
async def test_headers_set_by_hand_win(driver: Driver, echo: EchoServer, where: str) -> None:
    """A Helicone header or a Cache-Control the user sets on the call wins over the block's own."""
    blocks = (cache(max_age=60, seed="ours"),) if where == "wrap" else ()
    client = wrapped(driver, echo, *blocks)
    with cache(max_age=60, seed="ours") if where == "context" else session("s"):
        own = await chat(driver, client, extra_headers={"Cache-Control": "max-age=5"})
        assert own == {"cache-control": "max-age=5", "helicone-cache-enabled": "true", "helicone-cache-seed": "ours"}
        own = await chat(driver, client, extra_headers={"Helicone-Cache-Seed": "mine"})
        assert own == {"cache-control": "max-age=60", "helicone-cache-enabled": "true", "helicone-cache-seed": "mine"}
        both = await chat(driver, client, extra_headers={"Helicone-Cache-Seed": "mine", "cache-control": "no-store"})
        assert both == {"cache-control": "no-store", "helicone-cache-enabled": "true", "helicone-cache-seed": "mine"}
        assert await chat(driver, client) == {"cache-control": "max-age=60", "helicone-cache-enabled": "true",
                                              "helicone-cache-seed": "ours"}


def test_wrap_takes_feature_blocks_only_one_per_kind(driver: Driver, echo: EchoServer) -> None:
    """wrap(client, x): x must be a feature block, and one of each kind; the message says what to do."""
    with pytest.raises(HeliconeConfigError, match="feature blocks such as cache"):
        wrap(driver.client(echo.url + "/v1"), properties(env="x"), api_key=KEY, base_url=echo.url)
    with pytest.raises(HeliconeConfigError, match="two cache"):
        wrap(driver.client(echo.url + "/v1"), cache(), cache(seed="a"), api_key=KEY, base_url=echo.url)


def test_block_repr_and_current_show_the_headers() -> None:
    """repr() shows what a block sends; current().features lists the active blocks by kind."""
    assert repr(cache(seed="a")) == "cache({'Helicone-Cache-Enabled': 'true', 'Helicone-Cache-Seed': 'a'})"
    with retries(attempts=2) as block:
        assert dict(current().features) == {"retries": block}
    assert dict(current().features) == {}


INVALID: list[tuple[str, Callable[[], Any], str]] = [
    ("bucket-0", lambda: cache(bucket_size=0), "bucket_size must be between 1 and 20, got 0"),
    ("bucket-21", lambda: cache(bucket_size=21), "bucket_size must be between 1 and 20, got 21"),
    ("bucket-str", lambda: cache(bucket_size="3"), "bucket_size must be an int"),
    ("max-age-366d", lambda: cache(max_age=timedelta(days=366)), "between 1 second and 365 days"),
    ("max-age-0", lambda: cache(max_age=0), "use cache\\(False\\)"),
    ("max-age-float", lambda: cache(max_age=1.5), "int seconds or a datetime.timedelta"),
    ("max-age-fraction", lambda: cache(max_age=timedelta(seconds=1.5)), "whole seconds"),
    ("mode", lambda: cache(mode="write"), "'read_write', 'read' or 'save'"),
    ("ignore-str", lambda: cache(ignore_keys="user"), "write ignore_keys=\\['user'\\]"),
    ("ignore-empty", lambda: cache(ignore_keys=[""]), "empty key"),
    ("ignore-int", lambda: cache(ignore_keys=[1]), "must be a str"),
    ("ignore-none", lambda: cache(ignore_keys=5), "list of body keys"),
    ("seed-newline", lambda: cache(seed="a\nb"), "control character"),
    ("seed-empty", lambda: cache(seed=""), "must not be empty"),
    ("cache-off-with-settings", lambda: cache(False, seed="x"), "cache\\(False\\) switches cache off"),
    ("cache-switch-str", lambda: cache("yes"), "must be True or False"),
    ("attempts-0", lambda: retries(attempts=0), "attempts must be at least 1, got 0"),
    ("attempts-negative", lambda: retries(attempts=-2), "at least 1"),
    ("attempts-float", lambda: retries(attempts=2.5), "attempts must be an int"),
    ("factor-0", lambda: retries(factor=0), "factor must be positive"),
    ("factor-str", lambda: retries(factor="2"), "must be a positive number"),
    ("min-over-max", lambda: retries(min_timeout=20, max_timeout=10), "raise max_timeout"),
    ("min-timeout-0", lambda: retries(min_timeout=0), "must be positive"),
    ("retries-off-with-settings", lambda: retries(False, attempts=3), "retries\\(False\\) switches"),
    ("quota-0", lambda: rate_limit(0), "quota must be positive"),
    ("quota-negative", lambda: rate_limit(-1), "quota must be positive"),
    ("quota-bool", lambda: rate_limit(True), "positive number"),
    ("quota-str", lambda: rate_limit("10"), "positive number"),
    ("quota-nan", lambda: rate_limit(float("nan")), "positive number"),
    ("window-59", lambda: rate_limit(10, window=59), "between 60 and 31536000 seconds"),
    ("window-too-long", lambda: rate_limit(10, window=31_536_001), "between 60 and 31536000"),
    ("window-366d", lambda: rate_limit(10, window=timedelta(days=366)), "between 60 and 31536000"),
    ("window-float", lambda: rate_limit(10, window=60.0), "int seconds or a datetime.timedelta"),
    ("unit", lambda: rate_limit(10, unit="tokens"), "'request' or 'cents'"),
    ("segment-space", lambda: rate_limit(10, segment="my prop"), "not a valid HTTP header token"),
    ("segment-non-ascii", lambda: rate_limit(10, segment="é"), "not a valid HTTP header token"),
    ("segment-dot", lambda: rate_limit(10, segment="a.b"), "letters, digits, '_' and '-' only"),
    ("omit-str", lambda: omit(request="yes"), "omit request must be True or False"),
    ("prompt-empty", lambda: prompt(""), "prompt id must not be empty"),
    ("prompt-blank", lambda: prompt("  "), "prompt id must not be empty"),
    ("prompt-int", lambda: prompt(5), "prompt id must be a str"),
    ("prompt-version-newline", lambda: prompt("p", version="1\r\n"), "control character"),
    ("moderation-str", lambda: moderation("on"), "must be True or False"),
    ("llm-advanced-str", lambda: llm_security(advanced="x"), "advanced must be True or False"),
    ("llm-off-advanced", lambda: llm_security(False, advanced=True), "contradicts itself"),
    ("posthog-empty", lambda: posthog(""), "posthog key must not be empty"),
    ("posthog-host-int", lambda: posthog("k", host=1), "posthog host must be a str"),
]


@pytest.mark.parametrize(("make", "message"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_invalid_settings_raise_before_anything_is_sent(echo: EchoServer, make: Any, message: str) -> None:
    """Each bad setting raises HeliconeValidationError (a ValueError) when the block is created."""
    before = len(echo.seen)
    with pytest.raises(HeliconeValidationError, match=message):
        make()
    assert len(echo.seen) == before


def test_the_limits_themselves_are_accepted() -> None:
    """The edges of each range are valid: bucket 1 and 20, max-age 365 days, windows 60 s and 365 days."""
    assert cache(bucket_size=20).headers["Helicone-Cache-Bucket-Max-Size"] == "20"
    assert cache(max_age=timedelta(days=365)).headers["Cache-Control"] == "max-age=31536000"
    assert cache(max_age=1).headers["Cache-Control"] == "max-age=1"
    assert rate_limit(1, window=60).headers["Helicone-RateLimit-Policy"] == "1;w=60;u=request"
    assert rate_limit(0.5, window=timedelta(days=365), unit="cents").headers["Helicone-RateLimit-Policy"] == (
        "0.5;w=31536000;u=cents")
    assert retries(min_timeout=timedelta(milliseconds=1), max_timeout=timedelta(milliseconds=1)).headers == {
        "Helicone-Retry-Enabled": "true", "Helicone-Retry-Min-Timeout": "1", "Helicone-Retry-Max-Timeout": "1"}
