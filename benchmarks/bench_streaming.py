"""Streaming: client CPU per chunk and time to first token, raw vs wrapped, on a 200-chunk stream.

What, per ``stream=True`` ``chat.completions.create`` against the loopback server (own process,
200 SSE chunks per stream, sent as soon as the request arrives):

- per-chunk CPU: process CPU from the first chunk received to the end of the stream, divided by
  the chunks after the first (the per-chunk path: SSE decode, chunk model, iteration);
- TTFT: wall time from calling ``create`` to receiving the first chunk (request build, send,
  response headers, first event parse), plus the CPU spent in that window.

How: raw openai and ``wrap(client)`` (inside ``session`` + ``properties``) in one process,
``--rounds`` rounds of ``--streams`` streams per variant, order alternating each round; per
round the variant/raw ratio of the per-chunk CPU and of the median TTFT; median and spread
over rounds are reported. Sync and async.

Usage: ``python benchmarks/bench_streaming.py [--rounds 15 --streams 12]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from typing import Any

from _common import MESSAGES, MODEL, cpu_ns, emit, env_flag, start_server, summary
from _variants import Variant, raw, wrapped

CHUNKS = 200
Sample = tuple[float, float, float]  # per-chunk cpu µs, median ttft wall µs, median ttft cpu µs


def _sync_segment(v: Variant, streams: int) -> Sample:
    gc.collect()
    chunk_cpu = 0
    chunks = 0
    ttft_wall: list[float] = []
    ttft_cpu: list[float] = []
    with v.block():
        for _ in range(streams):
            w0, c0 = time.perf_counter_ns(), cpu_ns()
            stream = v.sync.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            iterator = iter(stream)
            next(iterator)
            w1, c1 = time.perf_counter_ns(), cpu_ns()
            n = sum(1 for _ in iterator)
            chunk_cpu += cpu_ns() - c1
            chunks += n
            ttft_wall.append((w1 - w0) / 1e3)
            ttft_cpu.append((c1 - c0) / 1e3)
            assert n == CHUNKS - 1, n
    return chunk_cpu / chunks / 1e3, statistics.median(ttft_wall), statistics.median(ttft_cpu)


async def _async_segment(v: Variant, streams: int) -> Sample:
    gc.collect()
    chunk_cpu = 0
    chunks = 0
    ttft_wall: list[float] = []
    ttft_cpu: list[float] = []
    with v.block():
        for _ in range(streams):
            w0, c0 = time.perf_counter_ns(), cpu_ns()
            stream = await v.aio.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            iterator = stream.__aiter__()
            await iterator.__anext__()
            w1, c1 = time.perf_counter_ns(), cpu_ns()
            n = 0
            async for _ in iterator:
                n += 1
            chunk_cpu += cpu_ns() - c1
            chunks += n
            ttft_wall.append((w1 - w0) / 1e3)
            ttft_cpu.append((c1 - c0) / 1e3)
            assert n == CHUNKS - 1, n
    return chunk_cpu / chunks / 1e3, statistics.median(ttft_wall), statistics.median(ttft_cpu)


def _result(api: str, samples: dict[str, list[Sample]], streams: int) -> dict[str, Any]:
    r, w = samples["raw"], samples["wrapped"]

    def ratio(i: int) -> dict[str, float]:
        return summary([a[i] / b[i] for a, b in zip(w, r, strict=True)])

    return {
        "bench": "streaming", "api": api, "variant": "wrapped", "chunks_per_stream": CHUNKS,
        "streams_per_segment": streams, "rounds": len(r),
        "ratio_chunk_cpu": ratio(0), "ratio_ttft_wall": ratio(1), "ratio_ttft_cpu": ratio(2),
        "raw_chunk_cpu_us": summary([s[0] for s in r]), "chunk_cpu_us": summary([s[0] for s in w]),
        "raw_ttft_wall_us": summary([s[1] for s in r]), "ttft_wall_us": summary([s[1] for s in w]),
        "raw_ttft_cpu_us": summary([s[2] for s in r]), "ttft_cpu_us": summary([s[2] for s in w]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=env_flag("BENCH_ROUNDS", 15))
    parser.add_argument("--streams", type=int, default=env_flag("BENCH_STREAMS", 12))
    args = parser.parse_args(argv)
    with start_server(chunks=CHUNKS) as server:
        variants = [raw(server.url), wrapped(server.url)]

        def order(r: int) -> list[Variant]:
            return variants if r % 2 == 0 else variants[::-1]

        for v in variants * 2:
            _sync_segment(v, 3)
        samples: dict[str, list[Sample]] = {"raw": [], "wrapped": []}
        for r in range(args.rounds):
            for v in order(r):
                samples[v.name].append(_sync_segment(v, args.streams))
        emit(_result("sync", samples, args.streams))

        async def run_async() -> None:
            for v in variants * 2:
                await _async_segment(v, 3)
            samples_a: dict[str, list[Sample]] = {"raw": [], "wrapped": []}
            for r in range(args.rounds):
                for v in order(r):
                    samples_a[v.name].append(await _async_segment(v, args.streams))
            emit(_result("async", samples_a, args.streams))

        asyncio.run(run_async())


if __name__ == "__main__":
    main()
