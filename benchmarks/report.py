"""Turn ``benchmarks/.raw/openai*.json`` into ``benchmarks/RESULTS.md`` and a stdout summary.

Standard library only (``scripts/bench`` runs it with the system Python). Every ratio row comes
from one process in which raw and the variant were measured in alternating segments; the table
shows the median ratio over rounds, its min-max and interquartile range, the absolute medians,
and a verdict against the target (``marginal`` when the spread crosses the target).

Usage: ``python benchmarks/report.py benchmarks/.raw benchmarks/RESULTS.md``
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

TARGET_OVERHEAD = 1.03
#: The lighter wrapped variants of bench_overhead's core mode, as the table names them.
LIGHTER = {
    "wrapped-session": "session only (5 headers: auth, request id, session id/path/name)",
    "wrapped-bare": "no context (2 headers: auth, request id)",
}
TARGET_STREAM = 1.02
TARGET_MEMORY_BYTES = 1_000_000
TARGET_ENQUEUE_US = 20.0
TARGET_DELIVERED_PER_S = 2000.0
TARGET_ADDED_P50_MS = 1.0
TARGET_ADDED_P99_MS = 5.0
TARGET_GATEWAY_RPS = 1000.0
PEER_RANGE = (1.25, 2.1)
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


def peer_verdict(s: dict[str, float]) -> str:
    lo, hi = PEER_RANGE
    return "within expected range" if lo <= s["median"] <= hi else "outside expected 1.25–2.1×"


def mb(n: float) -> str:
    return f"{n / 1e6:.3f} MB"


class Table:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []

    def add(self, *cells: str) -> None:
        self.rows.append(list(cells))

    def markdown(self) -> str:
        head = ["Figure", "openai", "Target", "Ratio (median)", "Spread min–max", "IQR",
                "Absolute (median per round)", "Verdict"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def build(raws: list[dict[str, Any]]) -> tuple[str, list[str]]:
    table = Table()
    summary_lines: list[str] = []
    notes: list[str] = []
    failures: list[str] = []
    misses: list[str] = []
    profiles: dict[int, dict[str, Any]] = {}
    peer_info: dict[tuple[int, str], dict[str, Any]] = {}
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
                        and r["variant"] in ("wrapped", "headers-only", "headers-floor", *LIGHTER):
                    overhead[(major, api, r["variant"])] = r
                    s = r["ratio_cpu"]
                    absolute = (f"{r['raw_cpu_us']['median']:.0f} → {r['cpu_us']['median']:.0f} µs CPU/call "
                                f"(+{r['added_cpu_us']['median']:.1f} µs); wall ratio {fmt_ratio(r['ratio_wall'])}")
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
                f"(→ {mb(r['tracemalloc_projected_bytes'])} per {r['calls']:,})",
                verdict_text)
            summary_lines.append(f"openai {major} memory: RSS +{mb(r['rss_growth_bytes'])} over {r['calls']:,} "
                                 f"calls (raw control → {mb(raw_proj)}), tracemalloc "
                                 f"{r['tracemalloc_bytes_per_call']:.1f} B/call -> {verdict_text} (≤ 1 MB)")
            if r.get("stopped_early"):
                notes.append(f"openai {major}: the memory run hit its time budget after {r['calls']:,} of "
                             f"{r['calls_planned']:,} calls.")
        _server_side_rows(table, summary_lines, misses, major, label, by)
        for r in by:
            if r["bench"] == "asynclog" and r.get("status") == "ok":
                _asynclog_rows(table, summary_lines, major, label, r)
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
    return _document(raws, md, summary_lines, notes, failures, profiles, peer_info, memory), summary_lines


def _asynclog_rows(table: Table, summary_lines: list[str], major: int, label: str, r: dict[str, Any]) -> None:
    """Rows for async mode and the fallback (bench_asynclog.py: medians of alternating rounds)."""
    for key, what, target in (("plain_cpu_us_per_call", "whole-process CPU/call (worker included)", 1.05),
                              ("plain_caller_thread_cpu_us_per_call", "caller-thread CPU/call", 1.05),
                              ("stream_cpu_us_per_call", "streamed call, whole-process CPU (per chunk)", 1.03),
                              ("ttft_ms_p50", "time to first token, p50", 1.02)):
        c = r[key]
        table.add(f"Async mode: {what}", label, f"≤ {target}×", f"{c['ratio']:.3f}×", "—", "—",
                  f"raw {c['raw']} → async {c['async']} (medians of {r['rounds']} alternating rounds)",
                  _met(c["ratio"] <= target))
        summary_lines.append(f"openai {major} async mode {what}: {c['ratio']:.3f}× (target ≤ {target})")
    p = r["pending_record"]
    table.add("Async mode: bytes held per pending record (log host down)", label, "reported", "—", "—", "—",
              f"{p['bytes_per_record']:,} B over {p['records']:,} parked records (tracemalloc)", "reported")
    f = r["fallback_circuit_open"]["p50_ms"]
    table.add("Fallback: added latency per call, gateway down, circuit open (p50)", label, "≤ 1 ms", "—", "—", "—",
              f"raw {f['raw']} ms → fallback {f['fallback']} ms", _met(f["added"] <= 1.0))
    summary_lines.append(f"openai {major} fallback added p50 latency (circuit open): {f['added']} ms (≤ 1 ms)")


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _server_side_rows(table: Table, summary_lines: list[str], misses: list[str], major: int, label: str,
                      by: list[dict[str, Any]]) -> None:
    """Rows for items 5-7: delivery, gateway, soak (absolute targets; side-by-side where there is a baseline)."""
    for r in by:
        if r["bench"] in ("delivery", "gateway", "soak") and r.get("status") == "not run":
            table.add(f"{r['bench'].capitalize()}: not run", label, "—", "—", "—", "—", r["reason"], "—")
            summary_lines.append(f"openai {major} {r['bench']}: not run: {r['reason']}")
        if r["bench"] == "delivery" and r.get("status") == "ok":
            e, d = r["enqueue_us"], r["delivered_per_s"]
            kinds = ", ".join(f"{k} {v['median']:.1f}" for k, v in r["enqueue_us_by_kind"].items())
            table.add("Delivery: enqueue cost per op on the caller's thread (thread CPU)", label,
                      f"≤ {TARGET_ENQUEUE_US:g} µs", "n/a (absolute)", f"{e['min']:.1f}–{e['max']:.1f} µs",
                      f"{e['q1']:.1f}–{e['q3']:.1f} µs", f"{e['median']:.1f} µs/op ({kinds})",
                      _met(e["median"] <= TARGET_ENQUEUE_US))
            table.add("Delivery: delivered ops/s to the local gateway (queue → flush)", label,
                      f"≥ {TARGET_DELIVERED_PER_S:,.0f}/s", "n/a (absolute)", f"{d['min']:,.0f}–{d['max']:,.0f}/s",
                      f"{d['q1']:,.0f}–{d['q3']:,.0f}/s",
                      f"{d['median']:,.0f} ops/s over {r['rounds']} round(s); {r['arrived_at_gateway']:,} of "
                      f"{r['http_ops_sent']:,} arrived; flush timeouts {r['flush_timeouts']}",
                      _met(d["median"] >= TARGET_DELIVERED_PER_S))
            summary_lines.append(f"openai {major} delivery: enqueue {e['median']:.1f} µs/op "
                                 f"({_met(e['median'] <= TARGET_ENQUEUE_US)}), delivered {d['median']:,.0f} ops/s "
                                 f"({_met(d['median'] >= TARGET_DELIVERED_PER_S)})")
        if r["bench"] == "gateway" and r.get("status") == "ok":
            lat, probe = r["latency"], r["nagle_probe"]
            ratio = lat["ratio_p50_by_block"]
            ok50 = lat["added_p50_ms"] <= TARGET_ADDED_P50_MS
            ok99 = lat["added_p99_ms"] <= TARGET_ADDED_P99_MS
            table.add("Gateway: added latency at concurrency 1, p50 / p99 (vs direct to the same upstream)",
                      label, f"≤ {TARGET_ADDED_P50_MS:g} ms / ≤ {TARGET_ADDED_P99_MS:g} ms",
                      f"{ratio['median']:.2f}× (p50 gateway/direct)", f"{ratio['min']:.2f}–{ratio['max']:.2f}",
                      f"{ratio['q1']:.2f}–{ratio['q3']:.2f}",
                      f"+{lat['added_p50_ms']:.2f} ms / +{lat['added_p99_ms']:.2f} ms (direct p50 "
                      f"{lat['direct_p50_ms']:.2f} ms, gateway p50 {lat['gateway_p50_ms']:.2f} ms; "
                      f"{lat['requests_each']:,} pairs)", f"{_met(ok50)} / {_met(ok99)}")
            gw, direct = r["gateway_throughput"], r["direct_throughput"]
            table.add(f"Gateway: throughput at concurrency {r['concurrency']}, logging on", label,
                      f"≥ {TARGET_GATEWAY_RPS:,.0f} req/s", f"{r['throughput_ratio']:.3f}× of direct", "—", "—",
                      f"{gw['req_per_s']:,.0f} req/s (direct to upstream {direct['req_per_s']:,.0f} req/s; "
                      f"non-200: {gw['non_200'] or 0})", _met(gw["req_per_s"] >= TARGET_GATEWAY_RPS))
            lost = max(r["rows_lost_by_counter"], r["rows_lost_by_id"])
            table.add("Gateway: log rows lost", label, "0", "—", "—", "—",
                      f"{lost} of {r['answered_200']:,} answered requests (store counter and id-by-id check "
                      f"in the SQLite file)", _met(lost == 0))
            summary_lines.append(f"openai {major} gateway: added p50 +{lat['added_p50_ms']:.2f} ms ({_met(ok50)}), "
                                 f"p99 +{lat['added_p99_ms']:.2f} ms ({_met(ok99)}), {gw['req_per_s']:,.0f} req/s "
                                 f"at c={r['concurrency']} ({_met(gw['req_per_s'] >= TARGET_GATEWAY_RPS)}), "
                                 f"rows lost {lost}")
            if probe["plain_ms"] > 10 * max(probe["quickack_ms"], 0.05):
                misses.append(
                    f"Gateway replies wait for the client's delayed ACK: `GET /healthz` takes "
                    f"{probe['plain_ms']:.1f} ms on a plain keep-alive socket and {probe['quickack_ms']:.2f} ms when "
                    "the client forces immediate ACKs (TCP_QUICKACK). The accepted sockets lack TCP_NODELAY: "
                    "`gateway/server.py` creates the listening socket as `socket.socket(family, SOCK_STREAM)` "
                    "(proto 0), and asyncio only sets TCP_NODELAY when `sock.proto == IPPROTO_TCP`; a reply "
                    "written in two sends then stalls ~40 ms (Nagle + delayed ACK). Passing "
                    "`socket.IPPROTO_TCP` as the third argument should fix it. Every gateway and delivery figure "
                    "here carries this stall.")
        if r["bench"] == "soak" and r.get("status") == "ok":
            ok = r["delivered_ops"] == r["expected_ops"] and r["cross_talk"] == 0
            fc = r.get("fault_counts") or {}
            table.add(f"Soak: {r['expected_ops']:,} enrich/feedback/score ops, {r['workers']}, injected faults",
                      label, "all delivered, cross-talk 0, ≤ 3 min", "—", "—", "—",
                      f"**{r['summary']}** in {r['wall_s']} s (drained: {r['drained']}); faults hit: {fc}",
                      _met(ok))
            summary_lines.append(f"openai {major} soak: {r['summary']} in {r['wall_s']} s")


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


def _document(raws: list[dict[str, Any]], md: list[str], summary_lines: list[str], notes: list[str],
              failures: list[str], profiles: dict[int, dict[str, Any]],
              peer_info: dict[tuple[int, str], dict[str, Any]], memory: dict[int, dict[str, Any]]) -> str:
    m = machine()
    quick = any(r.get("quick") for r in raws)
    out = ["# Benchmarks", ""]
    out.append(f"Generated by `scripts/bench` ({time.strftime('%Y-%m-%d %H:%M %Z')})"
               + (" — **QUICK smoke run: few rounds, small memory run; not for decisions**" if quick else "")
               + ". Re-run: `scripts/bench` (full, ~12 min) or `scripts/bench --quick` (~4 min).")
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
               "over a separate slice (tracing costs ~3.5× per call), after a warm-up, a delivery flush and "
               "`gc.collect()`.")
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
    document, summary_lines = build(raws)
    target.write_text(document)
    print("\n".join(summary_lines))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
