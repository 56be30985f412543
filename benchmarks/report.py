"""Turn ``benchmarks/.raw/openai*.json`` into ``benchmarks/RESULTS.md`` and a stdout summary.

Standard library only (``scripts/bench`` runs it with the system Python). Every ratio row comes
from one process in which raw and the variant were measured in alternating segments; the table
shows the median ratio over rounds, its min-max and interquartile range, the absolute medians,
and a verdict against the target (``marginal`` when the spread crosses the target).

With a third argument (``scripts/bench`` passes ``README.md``) the table also replaces what that
file holds between ``<!-- bench:start -->`` and ``<!-- bench:end -->``.

Usage: ``python benchmarks/report.py benchmarks/.raw benchmarks/RESULTS.md [README.md]``
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from _report_rows import (
    Table,
    asynclog_rows,
    gateway_features_rows,
    mb,
    not_run_row,
    pending_rows,
    server_side_rows,
)

TARGET_OVERHEAD = 1.03
#: The lighter wrapped variants of bench_overhead's core mode, as the table names them.
LIGHTER = {
    "wrapped-session": "session only (5 headers: auth, request id, session id/path/name)",
    "wrapped-bare": "no context (2 headers: auth, request id)",
}
#: bench_overhead's core-mode variants that get a row (``wrapped-cache``: one feature block active).
OVERHEAD_VARIANTS = ("wrapped", "headers-only", "headers-floor", "wrapped-cache", *LIGHTER)
TARGET_STREAM = 1.02
TARGET_MEMORY_BYTES = 1_000_000
PEER_RANGE = (1.25, 2.1)
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
PEER_LABELS = {
    "langsmith": "LangSmith wrap_openai",
    "openinference": "OpenInference OpenAIInstrumentor",
    "langfuse": "Langfuse langfuse.openai",
    "logfire": "Logfire instrument_openai",
}


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    ram = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {"cores": str(os.cpu_count()), "cpu": cpu, "ram": ram,
            "os": f"{platform.system()} {platform.release()}"}


def fmt_ratio(s: dict[str, float]) -> str:
    return f"{s['median']:.3f}×"


def fmt_spread(s: dict[str, float]) -> str:
    return f"{s['min']:.3f}–{s['max']:.3f}"


def fmt_iqr(s: dict[str, float]) -> str:
    return f"{s['q1']:.3f}–{s['q3']:.3f}"


def verdict(s: dict[str, float], target: float) -> str:
    if s["median"] <= target:
        return "met" if s["max"] <= target else "met (marginal: spread crosses target)"
    return "MISSED" if s["min"] > target else "MISSED (marginal: spread crosses target)"


def _warm_half(r: dict[str, Any]) -> str:
    """The tracemalloc slice's first half (bounded caches filling), when the run reports it."""
    first = r.get("traced_first_half")
    if not first:
        return ""
    return f", after a first traced half of {first['calls']:,} calls that grew {mb(first['bytes'])} (caches filling)"


def peer_verdict(s: dict[str, float]) -> str:
    lo, hi = PEER_RANGE
    return "within expected range" if lo <= s["median"] <= hi else "outside expected 1.25–2.1×"


def build(raws: list[dict[str, Any]]) -> tuple[str, list[str], str]:
    """RESULTS.md's text, the stdout summary lines, and the table alone (for README)."""
    table = Table()
    summary_lines: list[str] = []
    notes: list[str] = []
    failures: list[str] = []
    misses: list[str] = []
    profiles: dict[int, dict[str, Any]] = {}
    peer_info: dict[tuple[int, str], dict[str, Any]] = {}
    sync_peers: dict[int, dict[str, dict[str, Any]]] = {}  # the peers' sync rows, for async mode's row
    memory: dict[int, dict[str, Any]] = {}
    overhead: dict[tuple[int, str, str], dict[str, Any]] = {}
    streaming: dict[tuple[int, str], dict[str, Any]] = {}

    for raw in raws:
        major = raw["openai_major"]
        v = raw["versions"].get("openai", "?")
        label = f"{major}.x ({v})"
        by = raw["results"]
        for r in by:
            if r.get("status") == "failed":
                failures.append(f"openai {major}: `{r['bench']}` failed: {r['reason']}")
        # 1. call overhead (ours + the headers-only control)
        for api in ("sync", "async"):
            for r in by:
                if r["bench"] == "overhead" and r.get("status") == "ok" and r["api"] == api \
                        and r["variant"] in OVERHEAD_VARIANTS:
                    overhead[(major, api, r["variant"])] = r
                    s = r["ratio_cpu"]
                    absolute = (f"{r['raw_cpu_us']['median']:.0f} → {r['cpu_us']['median']:.0f} µs CPU/call "
                                f"({r['added_cpu_us']['median']:+.1f} µs); wall ratio {fmt_ratio(r['ratio_wall'])}")
                    if r.get("process_medians"):
                        absolute += (f"; {r['processes']} processes pooled, their medians "
                                     + " / ".join(f"{m:.3f}" for m in r["process_medians"]))
                    if r["variant"] == "wrapped":
                        table.add(f"Call overhead, {api}: wrap(client) in session+properties, client CPU/call",
                                  label, f"≤ {TARGET_OVERHEAD}×", fmt_ratio(s), fmt_spread(s), fmt_iqr(s),
                                  absolute, verdict(s, TARGET_OVERHEAD))
                        summary_lines.append(f"openai {major} {api:5} wrapped / raw CPU per call: "
                                             f"{fmt_ratio(s)} [{fmt_spread(s)}] target ≤ {TARGET_OVERHEAD} "
                                             f"-> {verdict(s, TARGET_OVERHEAD)}")
                    elif r["variant"] == "wrapped-cache":
                        base = overhead.get((major, api, "wrapped"))
                        extra = (f"; {r['added_cpu_us']['median'] - base['added_cpu_us']['median']:+.1f} µs "
                                 "vs the same call without the block" if base else "")
                        table.add(f"  {api}: wrap(client), one feature block active: session+properties+cache() "
                                  "(8 headers)", label, f"≤ {TARGET_OVERHEAD}×", fmt_ratio(s), fmt_spread(s),
                                  fmt_iqr(s), absolute + extra, verdict(s, TARGET_OVERHEAD))
                    elif r["variant"] in LIGHTER:
                        table.add(f"  {api}: wrap(client), {LIGHTER[r['variant']]}", label,
                                  f"(≤ {TARGET_OVERHEAD}×)", fmt_ratio(s), fmt_spread(s), fmt_iqr(s), absolute,
                                  "how the cost scales with headers")
                    elif r["variant"] == "headers-floor":
                        table.add(f"  floor, {api}: raw openai + the same headers appended pre-encoded, no logic",
                                  label, "—", fmt_ratio(s), fmt_spread(s), fmt_iqr(s), absolute,
                                  "the least these headers cost (not our code)")
                    else:
                        table.add(f"  control, {api}: raw openai + the same Helicone headers as extra_headers",
                                  label, "—", fmt_ratio(s), fmt_spread(s), fmt_iqr(s), absolute,
                                  "explains the gap (not our code)")
        # 2. peers
        for peer in PEER_LABELS:
            rows = [r for r in by if r["bench"] == "overhead" and r["variant"] == peer]
            if not rows:
                continue
            for r in rows:
                if r.get("status") == "not installable":
                    table.add(f"Peer: {PEER_LABELS[peer]}", label, "(1.25–2.1× expected)", "not installable",
                              "—", "—", r["reason"][:160].replace("|", "/"), "—")
                    summary_lines.append(f"openai {major} peer {peer}: not installable: {r['reason'][:120]}")
                    continue
                if r.get("status") != "ok":
                    continue
                peer_info[(major, peer)] = r
                if r["api"] == "sync":
                    sync_peers.setdefault(major, {})[peer] = r
                s = r["ratio_cpu"]
                absolute = (f"{r['raw_cpu_us']['median']:.0f} → {r['cpu_us']['median']:.0f} µs CPU/call; "
                            f"wall ratio {fmt_ratio(r['ratio_wall'])}")
                table.add(f"Peer, {r['api']}: {PEER_LABELS[peer]}, client CPU/call", label,
                          "(1.25–2.1× expected)", fmt_ratio(s), fmt_spread(s), fmt_iqr(s), absolute,
                          peer_verdict(s))
                summary_lines.append(f"openai {major} {r['api']:5} peer {peer:13} / raw CPU per call: "
                                     f"{fmt_ratio(s)} [{fmt_spread(s)}]")
        # 3. streaming
        for r in by:
            if r["bench"] != "streaming" or "ratio_chunk_cpu" not in r:
                continue
            api = r["api"]
            streaming[(major, api)] = r
            s = r["ratio_chunk_cpu"]
            table.add(f"Streaming, {api}: client CPU per chunk (200-chunk stream)", label,
                      f"≤ {TARGET_STREAM}×", fmt_ratio(s), fmt_spread(s), fmt_iqr(s),
                      f"{r['raw_chunk_cpu_us']['median']:.1f} → {r['chunk_cpu_us']['median']:.1f} µs CPU/chunk",
                      verdict(s, TARGET_STREAM))
            t = r["ratio_ttft_wall"]
            table.add(f"Streaming, {api}: time to first token (wall)", label, f"≤ {TARGET_STREAM}×",
                      fmt_ratio(t), fmt_spread(t), fmt_iqr(t),
                      f"{r['raw_ttft_wall_us']['median']:.0f} → {r['ttft_wall_us']['median']:.0f} µs; "
                      f"CPU to first token {fmt_ratio(r['ratio_ttft_cpu'])}",
                      verdict(t, TARGET_STREAM))
            summary_lines.append(f"openai {major} {api:5} stream per-chunk CPU: {fmt_ratio(s)} [{fmt_spread(s)}], "
                                 f"TTFT: {fmt_ratio(t)} [{fmt_spread(t)}] target ≤ {TARGET_STREAM} "
                                 f"-> {verdict(s, TARGET_STREAM)} / {verdict(t, TARGET_STREAM)}")
        # 4. memory
        for r in by:
            if r["bench"] != "memory" or "rss_growth_bytes" not in r:
                continue
            memory[major] = r
            worst = max(r["rss_growth_bytes"], r["tracemalloc_projected_bytes"])
            ok = worst <= TARGET_MEMORY_BYTES
            raw_c = r["raw_control"]
            raw_slope = raw_c.get("rss_bytes_per_call", 0.0)
            raw_proj = r.get("rss_growth_raw_projected_bytes", 0.0)
            excess = r.get("rss_growth_excess_over_raw_bytes", r["rss_growth_bytes"])
            verdict_text = "met" if ok else "MISSED"
            if not ok and excess <= TARGET_MEMORY_BYTES and r["tracemalloc_projected_bytes"] <= TARGET_MEMORY_BYTES:
                verdict_text = f"MISSED on RSS; excess over raw openai {mb(excess)} (met)"
            table.add(
                f"Memory: growth over {r['calls']:,} wrapped calls / {r['calls'] // 10:,} sessions, "
                f"enrich on 10%{' (NOT RUN)' if r['enriched'] == 0 else ''}",
                label, "≤ 1 MB", "n/a (absolute target)", "—", "—",
                f"RSS +{mb(r['rss_growth_bytes'])} (raw openai control: {raw_slope:.1f} B/call "
                f"over {raw_c['calls']:,} calls → {mb(raw_proj)} for the same count; excess {mb(excess)}); "
                f"Python objects: +{r['allocated_blocks_growth']:,} blocks; tracemalloc +{mb(r['tracemalloc_growth_bytes'])} "
                f"over {r['traced_calls']:,} traced calls = {r['tracemalloc_bytes_per_call']:.1f} B/call "
                f"(→ {mb(r['tracemalloc_projected_bytes'])} per {r['calls']:,}){_warm_half(r)}",
                verdict_text)
            summary_lines.append(f"openai {major} memory: RSS +{mb(r['rss_growth_bytes'])} over {r['calls']:,} "
                                 f"calls (raw control → {mb(raw_proj)}), tracemalloc "
                                 f"{r['tracemalloc_bytes_per_call']:.1f} B/call -> {verdict_text} (≤ 1 MB)")
            if r.get("stopped_early"):
                notes.append(f"openai {major}: the memory run hit its time budget after {r['calls']:,} of "
                             f"{r['calls_planned']:,} calls.")
        server_side_rows(table, summary_lines, misses, major, label, by)
        for r in by:
            if r.get("status") == "not run":
                not_run_row(table, summary_lines, major, label, r)
            elif r["bench"] == "gateway_features" and r.get("status") == "ok":
                gateway_features_rows(table, summary_lines, major, label, r)
            elif r["bench"] == "pending" and r.get("status", "ok") == "ok":
                pending_rows(table, summary_lines, major, label, r)
            elif r["bench"] == "asynclog" and r.get("status") == "ok":
                asynclog_rows(table, summary_lines, major, label, r, sync_peers.get(major, {}))
        for r in by:
            if r["bench"] == "profile":
                profiles[major] = r
        for r in by:
            if r["bench"] == "sink" and (major, r["variant"]) in peer_info:
                peer_info[(major, r["variant"])]["sink"] = r["counts"]
        misses += _explain(major, overhead, streaming, profiles.get(major))

    md: list[str] = [table.markdown()]
    if misses:
        md += ["", "### Targets missed, and why", ""] + [f"- {m}" for m in misses]
    document = _document(raws, md, summary_lines, notes, failures, profiles, peer_info, memory)
    return document, summary_lines, table.markdown()


def _explain(major: int, overhead: dict[tuple[int, str, str], dict[str, Any]],
             streaming: dict[tuple[int, str], dict[str, Any]], profile: dict[str, Any] | None) -> list[str]:
    """One line per missed target, splitting the added CPU into headers (openai/httpx) and our code."""
    out: list[str] = []
    ours_us = None
    pieces = (profile or {}).get("pieces_us")
    if pieces:  # absent when the profile step could not time every hook piece
        # Only the wrapper's own pieces: not sub-items, openai's own methods or counts.
        ours_us = sum(v for k, v in pieces.items() if not k.startswith(("  ", "openai", "_build_request", "count")))
    for api in ("sync", "async"):
        w = overhead.get((major, api, "wrapped"))
        c = overhead.get((major, api, "headers-only"))
        if not w or w["ratio_cpu"]["median"] <= TARGET_OVERHEAD:
            continue
        added = w["added_cpu_us"]["median"]
        line = (f"openai {major} {api} call overhead {w['ratio_cpu']['median']:.3f}× (target ≤ {TARGET_OVERHEAD}×): "
                f"+{added:.0f} µs CPU on a {w['raw_cpu_us']['median']:.0f} µs call; the target allows "
                f"{w['raw_cpu_us']['median'] * (TARGET_OVERHEAD - 1):.0f} µs.")
        if c:
            n = len(c.get("headers", [])) or 7
            hdr = c["added_cpu_us"]["median"]
            line += (f" The headers-only control (raw openai + the same {n} Helicone headers, no wrapper) adds "
                     f"+{hdr:.0f} µs by itself (≈ {hdr / n:.1f} µs per header, spent in httpx `Headers` "
                     f"normalisation, openai `_build_headers` and h11 validation)")
            if ours_us is not None:
                line += f"; the wrapper's own code, timed piece by piece, is ≈ {ours_us:.1f} µs (sync)."
            else:
                line += "."
        f = overhead.get((major, api, "headers-floor"))
        if f:
            line += (f" Appending the same headers pre-encoded with no logic at all costs "
                     f"{f['ratio_cpu']['median']:.3f}× (+{f['added_cpu_us']['median']:.0f} µs): no wrapper that "
                     f"sends them can cost less on this openai/httpx.")
        out.append(line)
    for api in ("sync", "async"):
        r = streaming.get((major, api))
        if not r:
            continue
        if r["ratio_ttft_wall"]["median"] > TARGET_STREAM:
            extra = r["ttft_cpu_us"]["median"] - r["raw_ttft_cpu_us"]["median"]
            out.append(f"openai {major} {api} time to first token {r['ratio_ttft_wall']['median']:.3f}× "
                       f"(target ≤ {TARGET_STREAM}×): TTFT contains the whole request set-up, so it carries the "
                       f"same per-call cost as above (+{extra:.0f} µs CPU to first token); per-chunk CPU is "
                       f"{r['ratio_chunk_cpu']['median']:.3f}× (nothing of ours runs per chunk).")
        elif r["ratio_chunk_cpu"]["median"] > TARGET_STREAM:
            out.append(f"openai {major} {api} per-chunk CPU {r['ratio_chunk_cpu']['median']:.3f}× "
                       f"(target ≤ {TARGET_STREAM}×); see the spread: nothing of ours runs per chunk.")
    return out


def generated_line(quick: bool) -> str:
    """The first line of RESULTS.md and of README's table: when, and whether it was a smoke run."""
    return (f"Generated by `scripts/bench` ({time.strftime('%Y-%m-%d %H:%M %Z')})"
            + (" — **QUICK smoke run: few rounds, small memory run; not for decisions**" if quick else "")
            + ". Re-run: `scripts/bench` (full, ~20 min) or `scripts/bench --quick` (~6 min).")


def update_readme(readme: Path, raws: list[dict[str, Any]], table_md: str) -> bool:
    """Replace what README holds between ``<!-- bench:start -->`` and ``<!-- bench:end -->``; False if no markers."""
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    block = generated_line(any(r.get("quick") for r in raws)) + "\n\n" + table_md + "\n"
    readme.write_text(text[: start + len(README_START)] + "\n" + block + text[end:])
    return True


def _document(raws: list[dict[str, Any]], md: list[str], summary_lines: list[str], notes: list[str],
              failures: list[str], profiles: dict[int, dict[str, Any]],
              peer_info: dict[tuple[int, str], dict[str, Any]], memory: dict[int, dict[str, Any]]) -> str:
    m = machine()
    quick = any(r.get("quick") for r in raws)
    out = ["# Benchmarks", ""]
    out.append(generated_line(quick))
    out.append("")
    out.append("Every ratio is measured side by side in one process: raw openai and the variant run in "
               "alternating segments (order flipped every round) against the same loopback server, which "
               "runs in its own process so its CPU is never counted. CPU is the client process's CPU time "
               "(`time.process_time`: all threads, so a peer's background exporter counts). The ratio is taken "
               "per round; the table gives its median over rounds, min–max and IQR, so noise shows. The "
               "machine is shared with other work, so single rounds can be off; read the spread.")
    out.append("")
    out += md
    out.append("")
    if notes or failures:
        out.append("**Notes:** " + " ".join(notes + failures))
        out.append("")
    out.append("## Machine and versions")
    out.append("")
    out.append(f"- Machine: {m['cores']} cores, {m['cpu']}, {m['ram']} RAM, {m['os']}")
    for raw in raws:
        vers = ", ".join(f"{k} {v}" for k, v in sorted(raw["versions"].items()))
        out.append(f"- openai {raw['openai_major']}.x venv: {raw['python']}; {vers}")
        times = ", ".join(f"{k} {v:.0f} s" for k, v in raw.get("timings_s", {}).items())
        out.append(f"  - run times: {times}")
    out.append("")
    out.append("## How each figure is measured")
    out.append("")
    out.append("- **Call overhead** (`bench_overhead.py --mode core`): non-streaming `chat.completions.create`, "
               "sequential, sync and async. Variants: raw `OpenAI()`; `wrap(client, base_url=<server>, "
               "api_key=...)` with each segment inside `session(...)` + `properties(...)`; and a control: raw "
               "openai sending the exact Helicone headers a wrapped call sends (captured on the wire) as "
               "`extra_headers`. raw → control is what openai/httpx spend carrying the headers; control → "
               "wrapped is the wrapper's own code. The rounds are split over 3 fresh processes run one after "
               "another and pooled (`--processes 3`): a single process carries a bias of its own of about ±2%.")
    out.append("- **Peers** (`bench_overhead.py --mode peer:NAME`): each peer in its own process with its own raw "
               "baseline in that process. Global class patches (Langfuse, OpenInference) are switched off for "
               "raw segments by restoring the patched class attributes, checked before every raw segment. "
               "Each peer runs inside its own session/metadata block, and its exporter flush runs inside its "
               "timed window.")
    out.append("- **Streaming** (`bench_streaming.py`): 200-chunk SSE streams; per-chunk CPU is counted from the "
               "first chunk to the end; TTFT is wall time from `create()` to the first chunk.")
    out.append("- **Memory** (`bench_memory.py`): see its docstring; RSS over all calls untraced, tracemalloc "
               "over the second half of a separate slice (tracing costs ~3.5× per call; the first half lets "
               "bounded caches fill), after a warm-up, a delivery flush and `gc.collect()`.")
    out.append("- **Async mode** (`bench_asynclog.py`): `wrap(client, mode=\"async\")` against raw openai in "
               "alternating segments of one process; CPU per call on the caller's thread (`thread_time`) and for "
               "the whole process (the delivery worker included, each segment ends with `flush()`). Its row next "
               "to the peers repeats the sync peer ratios of the same `run.py` run (each peer against its own "
               "raw baseline in its own process). RSS growth is over the 100,000-call run (flushed every 1,000 "
               "calls); bytes per pending record by tracemalloc with the log host down; the fallback's added "
               "latency with the gateway down and the circuit open.")
    out.append("- **Gateway features** (`bench_gateway_features.py`): p50s of requests interleaved one by one: a "
               "cache hit vs the miss path (an upstream that waits 20 ms), a hit vs a direct loopback call, and "
               "a passing `Helicone-RateLimit-Policy` check vs the same call without it.")
    out.append("- **Pending operations** (`bench_pending.py`): RSS per queued feedback operation while the REST "
               "API refuses connections or answers 500, each in a fresh process; projected to the default "
               "50,000-operation queue.")
    out.append("")
    if peer_info:
        out.append("## Peer modes")
        out.append("")
        seen: set[str] = set()
        for (_major, peer), r in sorted(peer_info.items()):
            if peer in seen:
                continue
            seen.add(peer)
            spans = f"{r['spans_per_call']:.2f} spans/call counted" if r.get("spans_per_call") else \
                "spans not countable in-process (sent to the loopback sink)"
            patched = f"; global patches toggled: {', '.join(r['patched_attrs'])}" if r.get("patched_attrs") else ""
            sink = r.get("sink", {})
            uploads = {k.split(":", 1)[1]: v for k, v in sink.items() if k.startswith("other:")}
            sent = f"; exporter requests received by the loopback sink: {uploads}" if uploads else ""
            out.append(f"- **{PEER_LABELS[peer]}**: {r['mode']}; {spans}; raw segments that saw peer spans: "
                       f"{r['raw_segments_with_peer_spans']}{patched}{sent}.")
        out.append("")
    if memory:
        out.append("## Memory detail")
        out.append("")
        for major, r in sorted(memory.items()):
            out.append(f"- openai {major}: enrich: {r['enrich']} ({r['enriched']:,} enrich calls in the RSS run; "
                       f"delivery: {r['delivery']}). Server saw: {r['server_counts']}. "
                       f"Allocated blocks +{r['allocated_blocks_growth']:,}. Wall {r['wall_s']} s.")
            curve = ", ".join(f"{c['calls'] // 1000}k: {c['rss_bytes'] / 1e6:+.2f} MB" for c in r["checkpoints"])
            out.append(f"  - RSS growth by calls: {curve}")
            if r["tracemalloc_top"]:
                top = "; ".join(f"`{t['where'].split('site-packages/')[-1].split('/work/main/')[-1]}` "
                                f"+{t['size_diff']:,} B ({t['count_diff']:+} blocks)"
                                for t in r["tracemalloc_top"][:5])
                out.append(f"  - still alive after the traced slice (top sites): {top}")
        out.append("")
    if profiles:
        out.append("## Where the wrapped call's extra CPU goes")
        out.append("")
        for major, p in sorted(profiles.items()):
            if "ours_total_added_us" not in p:
                out.append(f"openai {major}.x: the profile step did not complete ({p.get('error') or p.get('status')}).")
                out.append("")
                continue
            out.append(f"openai {major}.x — pieces timed directly on real objects (µs CPU per call, no profiler):")
            out.append("")
            out.append("| Piece | µs/call |")
            out.append("|---|---|")
            for k, v in (p.get("pieces_us") or {}).items():
                out.append(f"| {k.strip()} | {v:g} |")
            out.append("")
            share = p["ours_total_added_us"] / max(1e-9, p["ours_total_added_us"] + p["theirs_total_added_us"])
            out.append(f"cProfile, {p['calls']:,} calls each, raw and wrapped interleaved (profiler-inflated µs; "
                       f"use for ranking): added own-time per call {p['ours_total_added_us']:.1f} µs in "
                       f"helicone_wrap+wrapt vs {p['theirs_total_added_us']:.1f} µs in openai/httpx/h11 "
                       f"(ours = {share:.0%} of the added time).")
            out.append("")
            out.append("| Top added own-time: helicone_wrap / wrapt | µs | calls/call | | Top added own-time: "
                       "openai / httpx / h11 | µs | calls/call |")
            out.append("|---|---|---|---|---|---|---|")
            theirs = [t for t in p["top_theirs"] if not t["function"].startswith("benchmarks/")]
            for a, b in zip(p["top_ours"][:10], theirs[:10], strict=False):
                out.append(f"| `{a['function']}` | {a['added_tottime_us']} | {a['calls_per_call']} | | "
                           f"`{b['function']}` | {b['added_tottime_us']} | {b['calls_per_call']} |")
            out.append("")
    out.append("## Summary")
    out.append("")
    out.append("```")
    out += summary_lines
    out.append("```")
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    raw_dir = Path(args[0] if args else Path(__file__).parent / ".raw")
    target = Path(args[1] if len(args) > 1 else Path(__file__).parent / "RESULTS.md")
    raws = [json.loads(p.read_text()) for p in sorted(raw_dir.glob("openai*.json"))]
    if not raws:
        sys.exit(f"no results in {raw_dir}; run scripts/bench first")
    document, summary_lines, table_md = build(raws)
    target.write_text(document)
    print("\n".join(summary_lines))
    print(f"wrote {target}")
    if len(args) > 2:
        readme = Path(args[2])
        if update_readme(readme, raws, table_md):
            print(f"updated the table in {readme}")
        else:
            print(f"{readme} has no {README_START} ... {README_END} markers; left as it was")


if __name__ == "__main__":
    main()
