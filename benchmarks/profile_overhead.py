"""Where the wrapped call's extra CPU goes: cProfile deltas plus timed pieces of the hook path.

What: for one non-streaming sync ``chat.completions.create`` inside ``session`` + ``properties``,
(1) the functions whose own time (cProfile ``tottime``) grows the most per call from raw to
wrapped, split into helicone_wrap code and openai/httpx code; (2) the CPU cost of each
piece of the wrapper, timed directly on real objects without a profiler:

- ``seam dispatch``: calling the two hooked methods through closures like ours with the hook
  bodies removed (the price of the seam itself);
- ``_with_headers`` (context lookup + pre-encoded headers appended + pooled request id),
  ``take_request_id`` alone;
- ``_with_post_parser`` (id from headers + ``AttachId``), ``AttachId.__call__``
  (the id and three bound methods on the result);
- ``_build_headers`` / ``_build_request`` in openai with the wrapped call's headers vs raw ones:
  the cost of carrying ~7 more headers through openai and httpx (not our code, but ours to avoid).

How: ``--calls`` calls per variant under cProfile, raw and wrapped alternating in chunks (profiler overhead inflates Python-level
calls, so use it for ranking, not for absolute figures); pieces are timed over many iterations
with ``time.process_time``. Sync openai only; the async path runs the same helpers.

Usage: ``python benchmarks/profile_overhead.py [--calls 2000]``
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
from collections.abc import Callable
from typing import Any

from _common import MESSAGES, MODEL, cpu_ns, emit, env_flag, start_server
from _variants import helicone_headers, raw, wrapped


def _profile_interleaved(fns: dict[str, Callable[[], None]], calls: int, chunks: int = 10
                         ) -> dict[str, dict[tuple[str, int, str], tuple[float, float, int]]]:
    """Profile each fn for ``calls`` calls in total, alternating in ``chunks`` so drift hits all alike."""
    profilers = {name: cProfile.Profile() for name in fns}
    per_chunk = max(1, calls // chunks)
    for chunk in range(chunks):
        names = list(fns) if chunk % 2 == 0 else list(fns)[::-1]
        for name in names:
            gc.collect()
            profilers[name].enable()
            for _ in range(per_chunk):
                fns[name]()
            profilers[name].disable()
    out = {}
    for name, profiler in profilers.items():
        stats: Any = getattr(pstats.Stats(profiler), "stats")  # noqa: B009  (untyped in typeshed)
        n = per_chunk * chunks
        out[name] = {key: (tt / n * 1e6, ct / n * 1e6, nc) for key, (_, nc, tt, ct, _) in stats.items()}
    return out


def _short(key: tuple[str, int, str]) -> str:
    path, line, name = key
    for marker in ("site-packages/", "helicone_wrap/", "benchmarks/"):
        if marker in path:
            path = path.split(marker, 1)[1] if marker == "site-packages/" else marker + path.split(marker, 1)[1]
            break
    return f"{path}:{line}({name})"


#: Socket waits: wall time spent blocked on the server, not CPU; left out of the deltas.
_IO_WAITS = ("recv", "recv_into", "send", "sendall", "poll", "select")


def _io_wait(key: tuple[str, int, str]) -> bool:
    return key[0] == "~" and any(f"'{name}'" in key[2] for name in _IO_WAITS)


def _ours(key: tuple[str, int, str]) -> bool:
    return "helicone_wrap" in key[0] or "/wrapt/" in key[0]


def _time(fn: Callable[[], Any], n: int) -> float:
    """µs of CPU per call of ``fn``, best of 5 batches of ``n``."""
    best = float("inf")
    for _ in range(5):
        c0 = cpu_ns()
        for _ in range(n):
            fn()
        best = min(best, (cpu_ns() - c0) / n / 1e3)
    return best


def pieces(server_url: str) -> dict[str, float]:
    """Each piece of the wrapped path, timed on real objects (µs CPU per call)."""
    from openai._models import FinalRequestOptions

    from helicone_wrap import _headers, _instance, _seams, properties, session
    from helicone_wrap._results import AttachId

    base = raw(server_url).sync
    ours = wrapped(server_url).sync
    state = ours.__dict__[_instance.STATE_ATTR]
    opts = FinalRequestOptions.construct(method="post", url="/chat/completions",
                                         json_data={"model": MODEL, "messages": MESSAGES})
    out: dict[str, float] = {}
    with session("bench", path="/bench"), properties(environment="bench", variant="wrapped"):
        # The seam alone: a closure over the instance's own method, as ours, with an empty body,
        # around a cheap method (so the difference is the closure's dispatch, not noise).
        def passthrough(method: Callable[..., Any]) -> Callable[..., Any]:
            def hook(*args: Any, **kwargs: Any) -> Any:
                return method(*args, **kwargs)

            return hook

        request = base._build_request(opts)
        direct = base._prepare_request
        hooked = passthrough(direct)
        plain_cost = _time(lambda: direct(request), 50_000)
        seam_cost = _time(lambda: hooked(request), 50_000)
        out["seam dispatch, 2 hooks (pass-through bodies)"] = max(0.0, seam_cost - plain_cost) * 2

        # Each timed call gets a fresh request: the headers are appended once per request.
        # (Their header encoding is worked out up front: openai's own Headers.get would do it anyway.)
        requests = [base._build_request(opts) for _ in range(5 * 2_000)]  # _time runs 5 batches
        for fresh_request in requests:
            fresh_request.headers.encoding  # noqa: B018
        fresh = iter(requests)
        out["_with_headers (context + static + auth + request id, appended pre-encoded)"] = _time(
            lambda: _seams._with_headers(next(fresh), state), 2_000)
        out["  of which take_request_id()"] = _time(_headers.take_request_id, 100_000)
        wrapped_opts = opts.model_copy()

        response = ours.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES).http_response
        kwargs = {"response": response, "options": wrapped_opts}
        out["_with_post_parser (id from response + AttachId)"] = _time(
            lambda: _seams._with_post_parser(kwargs, state), 50_000)
        parsed = base.chat.completions.create(model=MODEL, messages=MESSAGES)
        attach = AttachId(None, _headers.new_request_id(), state.target)
        out["AttachId(parsed): attach id + handle + 3 bound methods"] = _time(lambda: attach(parsed), 50_000)

        raw_opts = FinalRequestOptions.construct(method="post", url="/chat/completions",
                                                 json_data={"model": MODEL, "messages": MESSAGES})
        out["_build_request, raw client"] = _time(lambda: base._build_request(raw_opts), 2_000)
        out["_build_request, wrapped client (openai's + our headers)"] = _time(
            lambda: ours._build_request(wrapped_opts), 2_000)
        hdrs = helicone_headers(server_url)
        out["count of Helicone headers sent"] = float(len(hdrs))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=env_flag("BENCH_PROFILE_CALLS", 2000))
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    from helicone_wrap import properties, session

    with start_server() as server:
        base = raw(server.url).sync
        ours = wrapped(server.url).sync

        def call_raw() -> None:
            base.chat.completions.create(model=MODEL, messages=MESSAGES)

        def call_wrapped() -> None:
            ours.chat.completions.create(model=MODEL, messages=MESSAGES)

        for _ in range(300):
            call_raw()
            call_wrapped()
        with session("bench", path="/bench"), properties(environment="bench", variant="wrapped"):
            profiles = _profile_interleaved({"raw": call_raw, "wrapped": call_wrapped}, args.calls)
        profile_raw, profile_wrapped = profiles["raw"], profiles["wrapped"]
        total_raw = sum(v[0] for k, v in profile_raw.items() if not _io_wait(k))
        total_wrapped = sum(v[0] for k, v in profile_wrapped.items() if not _io_wait(k))
        deltas = []
        for key in set(profile_raw) | set(profile_wrapped):
            if _io_wait(key) or "/benchmarks/" in key[0]:  # socket waits; this script's own closures
                continue
            tt_w, ct_w, n_w = profile_wrapped.get(key, (0.0, 0.0, 0))
            tt_r = profile_raw.get(key, (0.0, 0.0, 0))[0]
            deltas.append((tt_w - tt_r, ct_w, n_w / args.calls, key))
        deltas.sort(reverse=True)
        ours_rows = sorted((d for d in deltas if _ours(d[3])), key=lambda d: -d[0])[: args.top]
        theirs_rows = [d for d in deltas if not _ours(d[3])][: args.top]

        def rows(items: list[tuple[float, float, float, tuple[str, int, str]]]) -> list[dict[str, Any]]:
            return [{"function": _short(k), "added_tottime_us": round(dt, 2), "cumtime_us": round(ct, 2),
                     "calls_per_call": round(nc, 2)} for dt, ct, nc, k in items]

        emit({
            "bench": "profile", "calls": args.calls,
            "profiled_total_us": {"raw": round(total_raw, 1), "wrapped": round(total_wrapped, 1)},
            "ours_total_added_us": round(sum(d[0] for d in deltas if _ours(d[3])), 2),
            "theirs_total_added_us": round(sum(d[0] for d in deltas if not _ours(d[3])), 2),
            "top_ours": rows(ours_rows), "top_theirs": rows(theirs_rows),
            "pieces_us": {k: round(v, 2) for k, v in pieces(server.url).items()},
        })


if __name__ == "__main__":
    main()
