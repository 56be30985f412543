"""The clients being compared: raw openai, ``helicone_wrap.wrap``, and the peers.

A :class:`Variant` is a sync and an async client plus what runs around one timed segment:

- ``block()``: the context block the segment runs in (``session`` + ``properties`` for us; the
  peer's own session/metadata block for peers, where it has one);
- ``on()``/``off()``: enable/disable a peer's *global* class patches (langfuse.openai,
  OpenInference). Patches are toggled by swapping the patched class attributes back and forth
  (:class:`ClassPatches`), so the raw baseline in the same process really is raw openai; the
  raw segments check that identity before every round;
- ``flush()``: the peer's exporter flush, run *inside* the timed window, so the CPU its
  background exporter spends on this segment's spans is charged to the peer;
- ``spans()``: how many spans/runs the peer has produced so far (evidence that it traced).

Peer modes (no network; everything stays on the loopback server of ``_server.py``):

- LangSmith ``wrap_openai`` with tracing on, its ``Client`` uploading runs to the loopback sink;
- OpenInference ``OpenAIInstrumentor`` on an SDK ``TracerProvider`` with a ``SimpleSpanProcessor``
  into an ``InMemorySpanExporter`` (cleared every segment);
- Langfuse ``langfuse.openai`` with fake keys, ``base_url`` = the loopback sink (its OTLP exporter
  posts there and gets 200);
- Logfire ``instrument_openai`` per client, ``send_to_logfire=False``, ``console=False``, plus an
  in-memory exporter to count spans.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

PEERS = ("langsmith", "openinference", "langfuse", "logfire")
PEER_PACKAGES = {
    "langsmith": ("langsmith",),
    "openinference": ("openinference-instrumentation-openai", "opentelemetry-sdk"),
    "langfuse": ("langfuse",),
    "logfire": ("logfire",),
}
PEER_MODES = {
    "langsmith": "wrap_openai, tracing on, runs uploaded to a loopback sink (HTTP 200), flushed per segment",
    "openinference": "OpenAIInstrumentor, SDK TracerProvider + SimpleSpanProcessor(InMemorySpanExporter)",
    "langfuse": "langfuse.openai drop-in, fake keys, base_url = loopback sink (OTLP export answered 200), "
                "flushed per segment",
    "logfire": "instrument_openai(client), send_to_logfire=False, console=False, in-memory span exporter",
}


def _noop() -> None:
    return None


def _zero() -> int:
    return 0


@dataclass
class Variant:
    name: str
    sync: Any
    aio: Any
    block: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
    on: Callable[[], None] = _noop
    off: Callable[[], None] = _noop
    flush: Callable[[], None] = _noop
    spans: Callable[[], int] = _zero
    #: Extra keyword arguments for every ``create()`` call (the headers-only control uses it).
    call_kwargs: dict[str, Any] = field(default_factory=dict)


class ClassPatches:
    """Record which attributes of openai's classes a global patcher replaced, and toggle them."""

    #: openai modules a patcher may touch; imported first so the "before" snapshot covers them.
    MODULES = ("openai._base_client", "openai._client", "openai._streaming", "openai.resources.chat.completions",
               "openai.resources.completions", "openai.resources.embeddings", "openai.resources.responses")

    def __init__(self) -> None:
        import importlib

        for module in self.MODULES:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
        self.before = self._snapshot()
        self.classes = {cls for cls, _ in self.before}
        self.changed: list[tuple[type, str, Any, Any]] = []

    @staticmethod
    def _snapshot() -> dict[tuple[type, str], Any]:
        snap: dict[tuple[type, str], Any] = {}
        for name, module in list(sys.modules.items()):
            if module is None or not (name == "openai" or name.startswith("openai.")):
                continue
            for obj in list(vars(module).values()):
                if inspect.isclass(obj) and getattr(obj, "__module__", "").startswith("openai"):
                    for attr, value in list(vars(obj).items()):
                        snap[(obj, attr)] = value
        return snap

    def capture(self) -> int:
        """Call after the patcher ran: remember (class, attr, original, patched); returns the count."""
        after = self._snapshot()
        for key, value in after.items():
            original = self.before.get(key, _MISSING)
            # Classes first loaded by the patcher's own imports are not on the measured path
            # (MODULES covers that path), so only classes that existed before are compared.
            if original is value or key[0] not in self.classes:
                continue
            if key[1].startswith("__") and key[1] not in _DUNDER_METHODS:  # pydantic's lazy schema build
                continue
            self.changed.append((key[0], key[1], original, value))
        return len(self.changed)

    def off(self) -> None:
        for cls, attr, original, _ in self.changed:
            if original is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(cls, attr)
            else:
                setattr(cls, attr, original)

    def on(self) -> None:
        for cls, attr, _, patched in self.changed:
            setattr(cls, attr, patched)

    def assert_off(self) -> None:
        for cls, attr, original, _ in self.changed:
            current = vars(cls).get(attr, _MISSING)
            if current is not original:
                raise AssertionError(f"{cls.__qualname__}.{attr} is still patched in a raw segment")


_MISSING = object()
_DUNDER_METHODS = frozenset({"__iter__", "__aiter__", "__next__", "__anext__", "__init__", "__call__",
                             "__enter__", "__exit__", "__aenter__", "__aexit__", "__del__", "__stream__"})


def raw(base_url: str) -> Variant:
    import openai

    return Variant(
        "raw",
        openai.OpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0),
        openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0),
    )


#: What each wrapped variant runs inside, and so how many Helicone headers a call carries.
WRAPPED_CONTEXTS = {
    "wrapped": "session + properties (7 headers: auth, request id, session id/path/name, 2 properties)",
    "wrapped-session": "session only (5 headers: auth, request id, session id/path/name)",
    "wrapped-bare": "no context (2 headers: auth, request id)",
    "wrapped-cache": "session + properties + cache() (8 headers: the 7 above and Helicone-Cache-Enabled)",
}


def wrapped(base_url: str, *, name: str = "wrapped", **wrap_kwargs: Any) -> Variant:
    """``wrap(client)``; ``name`` picks the context its segments run in (see WRAPPED_CONTEXTS)."""
    import openai

    from helicone_wrap import cache, properties, session, wrap

    def block() -> contextlib.AbstractContextManager[Any]:
        stack = contextlib.ExitStack()
        if name != "wrapped-bare":
            stack.enter_context(session("bench", path="/bench"))
        if name in ("wrapped", "wrapped-cache"):
            stack.enter_context(properties(environment="bench", variant="wrapped"))
        if name == "wrapped-cache":
            stack.enter_context(cache())
        return stack

    kwargs: dict[str, Any] = {"base_url": base_url, "api_key": "sk-helicone-bench", **wrap_kwargs}
    return Variant(
        name,
        wrap(openai.OpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0), **kwargs),
        wrap(openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0), **kwargs),
        block=block,
    )


def helicone_headers(base_url: str) -> dict[str, str]:
    """The Helicone-* headers one wrapped call sends (captured on the wire by an httpx hook)."""
    import openai

    from helicone_wrap import properties, session, wrap

    seen: list[dict[str, str]] = []

    def capture(request: Any) -> None:
        seen.append({k: v for k, v in request.headers.items() if k.lower().startswith("helicone-")})

    http_client = openai.DefaultHttpxClient(event_hooks={"request": [capture]})
    client = wrap(openai.OpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0,
                                http_client=http_client), base_url=base_url, api_key="sk-helicone-bench")
    with session("bench", path="/bench"), properties(environment="bench", variant="wrapped"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    client.close()
    return seen[-1]


def headers_only(base_url: str) -> Variant:
    """Control: raw openai sending the same Helicone headers via ``extra_headers`` (no wrapper).

    The gap raw -> headers-only is what openai/httpx spend carrying the extra headers; the gap
    headers-only -> wrapped is the wrapper's own code (hooks, context lookup, id, attach).
    """
    variant = raw(base_url)
    variant.name = "headers-only"
    variant.call_kwargs = {"extra_headers": helicone_headers(base_url)}
    return variant


def headers_floor(base_url: str) -> Variant:
    """Floor: raw openai with the same Helicone headers appended, pre-encoded, by a one-line hook.

    No context lookup, no request ids, nothing attached to results: only what carrying these
    headers through this openai/httpx/h11 costs. No wrapper that sends them can cost less, so
    the gap headers-floor -> wrapped is the wrapper's own code.
    """
    wire = [(k.encode(), k.lower().encode(), v.encode()) for k, v in helicone_headers(base_url).items()]
    variant = raw(base_url)
    variant.name = "headers-floor"
    for client in (variant.sync, variant.aio):
        build = client._build_request

        def append(*args: Any, _build: Any = build, **kwargs: Any) -> Any:
            request = _build(*args, **kwargs)
            request.headers._list.extend(wire)
            return request

        client.__dict__["_build_request"] = append
    return variant


def _in_memory_exporter() -> Any:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    return InMemorySpanExporter()


def langsmith(base_url: str) -> Variant:
    os.environ["LANGSMITH_TRACING"] = "true"
    os.environ["LANGSMITH_API_KEY"] = "lsv2_pt_bench"
    os.environ["LANGSMITH_ENDPOINT"] = base_url
    import openai
    from langsmith import Client, tracing_context
    from langsmith.wrappers import wrap_openai

    client = Client(api_url=base_url, api_key="lsv2_pt_bench")
    extra: Any = {"client": client}
    variant = Variant(
        "langsmith",
        wrap_openai(openai.OpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0), tracing_extra=extra),
        wrap_openai(openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0),
                    tracing_extra=extra),
        block=lambda: tracing_context(metadata={"session_id": "bench", "environment": "bench"}, client=client),
        flush=client.flush,
    )
    return variant


def openinference(base_url: str) -> tuple[Variant, ClassPatches]:
    import openai
    from openinference.instrumentation import using_attributes
    from openinference.instrumentation.openai import OpenAIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = _in_memory_exporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    patches = ClassPatches()
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    patches.capture()
    patches.off()
    count = [0]

    def flush() -> None:
        count[0] += len(exporter.get_finished_spans())
        exporter.clear()

    variant = Variant(
        "openinference",
        openai.OpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0),
        openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0),
        block=lambda: using_attributes(session_id="bench", metadata={"environment": "bench"}),
        on=patches.on,
        off=patches.off,
        flush=flush,
        spans=lambda: count[0] + len(exporter.get_finished_spans()),
    )
    return variant, patches


def langfuse(base_url: str) -> tuple[Variant, ClassPatches]:
    os.environ["LANGFUSE_PUBLIC_KEY"] = "pk-lf-bench"
    os.environ["LANGFUSE_SECRET_KEY"] = "sk-lf-bench"
    os.environ["LANGFUSE_BASE_URL"] = base_url
    os.environ["LANGFUSE_HOST"] = base_url
    import openai

    patches = ClassPatches()
    import langfuse as lf
    import langfuse.openai  # the import is the instrumentation: global class patches

    patches.capture()
    patches.off()
    client = lf.Langfuse(public_key="pk-lf-bench", secret_key="sk-lf-bench", base_url=base_url)

    variant = Variant(
        "langfuse",
        openai.OpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0),
        openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0),
        block=lambda: lf.propagate_attributes(session_id="bench", metadata={"environment": "bench"}),
        on=patches.on,
        off=patches.off,
        flush=client.flush,
    )
    return variant, patches


def logfire(base_url: str) -> Variant:
    import logfire as lfire
    import openai
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = _in_memory_exporter()
    lfire.configure(send_to_logfire=False, console=False, metrics=False,
                    additional_span_processors=[SimpleSpanProcessor(exporter)])
    sync = openai.OpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0)
    aio = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-bench", max_retries=0)
    lfire.instrument_openai(sync)
    lfire.instrument_openai(aio)
    count = [0]

    def flush() -> None:
        lfire.force_flush()
        count[0] += len(exporter.get_finished_spans())
        exporter.clear()

    @contextlib.contextmanager
    def block() -> Iterator[None]:
        with lfire.span("bench session", session_id="bench", environment="bench"):
            yield

    return Variant("logfire", sync, aio, block=block, flush=flush,
                   spans=lambda: count[0] + len(exporter.get_finished_spans()))


def peer(name: str, base_url: str) -> tuple[Variant, ClassPatches | None]:
    """Build one peer's variant; global patchers come with their :class:`ClassPatches`."""
    if name == "langsmith":
        return langsmith(base_url), None
    if name == "openinference":
        return openinference(base_url)
    if name == "langfuse":
        return langfuse(base_url)
    if name == "logfire":
        return logfire(base_url), None
    raise ValueError(name)
