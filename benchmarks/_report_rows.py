"""Rows of the benchmark table with absolute targets (``report.py`` builds the ratio rows).

Async mode and the peers that capture the same, the fallback, the gateway's cache and rate
limits, pending-operation memory, delivery, the gateway and the soak. Each row shows the measured
value, its target and a verdict.

Usage: ``table = Table(); asynclog_rows(table, summary, 3, "3.x (3.57.0)", result, peers)``
"""

from __future__ import annotations

from typing import Any

TARGET_ENQUEUE_US = 20.0
TARGET_DELIVERED_PER_S = 2000.0
TARGET_ADDED_P50_MS = 1.0
TARGET_ADDED_P99_MS = 5.0
TARGET_GATEWAY_RPS = 1000.0
#: Issue 12 §4: a cache hit is >= 20x faster than the miss path and adds <= 1 ms p50 over a direct
#: loopback call; a rate-limit check adds <= 0.2 ms p50.
TARGET_CACHE_SPEEDUP = 20.0
TARGET_CACHE_ADDED_MS = 1.0
TARGET_RATE_LIMIT_ADDED_MS = 0.2
#: A full default queue of pending operations (50,000) stays under 50 MB.
TARGET_FULL_QUEUE_BYTES = 50_000_000
FULL_QUEUE_OPS = 50_000
#: Issue 13 §4, async logging mode against raw openai.
TARGET_ASYNC_CALL = 1.05
TARGET_ASYNC_CHUNK = 1.03
TARGET_ASYNC_TTFT = 1.02
TARGET_ASYNC_RSS_BYTES = 1_000_000
TARGET_FALLBACK_ADDED_MS = 1.0
#: The peers that capture what async mode captures (request, response, usage), as issue 13 names them.
CAPTURE_PEERS = {"langfuse": "Langfuse", "openinference": "OpenInference", "langsmith": "LangSmith"}


class Table:
    """The markdown table: ``table.add(figure, openai, target, ratio, spread, iqr, absolute, verdict)``."""

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


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def mb(n: float) -> str:
    return f"{n / 1e6:.3f} MB"


def not_run_row(table: Table, summary_lines: list[str], major: int, label: str, r: dict[str, Any]) -> None:
    """A benchmark that could not run here (a missing module): say so in the table."""
    table.add(f"{r['bench'].replace('_', ' ').capitalize()}: not run", label, "—", "—", "—", "—",
              str(r.get("reason", "?")).replace("|", "/"), "—")
    summary_lines.append(f"openai {major} {r['bench']}: not run: {r.get('reason')}")


def asynclog_rows(table: Table, summary_lines: list[str], major: int, label: str, r: dict[str, Any],
                  peers: dict[str, dict[str, Any]]) -> None:
    """Rows for async mode and the fallback (bench_asynclog.py: medians of alternating rounds).

    ``peers`` are this run's bench_overhead peer results (sync API) by peer name: issue 13 wants
    async mode's CPU next to the peers that capture the same, measured in the same run.
    """
    rounds = f"median of {r['rounds']} raw/async/raw rounds"

    def spread(c: dict[str, Any]) -> str:
        iqr = c.get("ratio_iqr")
        return f"; rounds' quartiles {iqr[0]:.3f}–{iqr[1]:.3f}×" if iqr else ""

    per_call = (("plain_caller_thread_cpu_us_per_call", "plain call, caller-thread CPU/call"),
                ("plain_cpu_us_per_call", "plain call, whole-process CPU/call, worker included"))
    for key, what in per_call:
        c = r[key]
        table.add(f"Async mode: {what}", label, f"≤ {TARGET_ASYNC_CALL}×", f"{c['ratio']:.3f}×", "—", "—",
                  f"raw {c['raw']} → async {c['async']} µs ({rounds}{spread(c)})", met(c["ratio"] <= TARGET_ASYNC_CALL))
        summary_lines.append(f"openai {major} async mode {what}: {c['ratio']:.3f}× "
                             f"(target ≤ {TARGET_ASYNC_CALL}) -> {met(c['ratio'] <= TARGET_ASYNC_CALL)}")
    whole = r["plain_cpu_us_per_call"]["ratio"]
    side = []
    for name, title in CAPTURE_PEERS.items():
        p = peers.get(name)
        side.append(f"{title} {p['ratio_cpu']['median']:.3f}× [{p['ratio_cpu']['min']:.3f}–"
                    f"{p['ratio_cpu']['max']:.3f}]" if p else f"{title} not measured in this run")
    table.add("  async mode next to the peers that capture the same (sync, whole-process CPU/call, same run)",
              label, f"≤ {TARGET_ASYNC_CALL}×", f"{whole:.3f}×", "—", "—",
              "; ".join(side) + " (peer rows above: each peer's own raw baseline in its own process)",
              met(whole <= TARGET_ASYNC_CALL))
    summary_lines.append(f"openai {major} async mode {whole:.3f}× vs peers: " + "; ".join(side))
    chunk, stream = r["stream_cpu_us_per_chunk"], r["stream_cpu_us_per_call"]
    table.add(f"Async mode: streamed call, whole-process CPU per chunk ({r['chunks']}-chunk stream)", label,
              f"≤ {TARGET_ASYNC_CHUNK}×", f"{stream['ratio']:.3f}×", "—", "—",
              f"raw {chunk['raw']} → async {chunk['async']} µs/chunk ({rounds}{spread(stream)})",
              met(stream["ratio"] <= TARGET_ASYNC_CHUNK))
    ttft = r["ttft_ms_p50"]
    table.add("Async mode: time to first token, p50 (wall)", label, f"≤ {TARGET_ASYNC_TTFT}×",
              f"{ttft['ratio']:.3f}×", "—", "—", f"raw {ttft['raw']} → async {ttft['async']} ms ({rounds}{spread(ttft)})",
              met(ttft["ratio"] <= TARGET_ASYNC_TTFT))
    summary_lines.append(f"openai {major} async mode per-chunk CPU {stream['ratio']:.3f}× (≤ {TARGET_ASYNC_CHUNK}), "
                         f"TTFT {ttft['ratio']:.3f}× (≤ {TARGET_ASYNC_TTFT})")
    rss = r["rss_growth_kb"]
    grown = rss["kb"] * 1024
    table.add(f"Async mode: RSS growth over {rss['calls']:,} calls, queue drained", label, "≤ 1 MB",
              "n/a (absolute target)", "—", "—",
              f"RSS +{mb(grown)} (flushed every 1,000 calls" + (f"; {rss['wall_s']:g} s" if "wall_s" in rss else "")
              + ")",
              met(grown <= TARGET_ASYNC_RSS_BYTES))
    summary_lines.append(f"openai {major} async mode RSS +{mb(grown)} over {rss['calls']:,} calls (≤ 1 MB) "
                         f"-> {met(grown <= TARGET_ASYNC_RSS_BYTES)}")
    p = r["pending_record"]
    table.add("Async mode: bytes held per pending record (log host down)", label, "reported", "—", "—", "—",
              f"{p['bytes_per_record']:,} B over {p['records']:,} parked records (tracemalloc)", "reported")
    f = r["fallback_circuit_open"]["p50_ms"]
    ok = f["added"] <= TARGET_FALLBACK_ADDED_MS
    table.add("Fallback: added latency per call, gateway down, circuit open (p50)", label,
              f"≤ {TARGET_FALLBACK_ADDED_MS:g} ms", "—", "—", "—",
              f"+{f['added']} ms (raw {f['raw']} ms → fallback {f['fallback']} ms)", met(ok))
    summary_lines.append(f"openai {major} fallback added p50 latency (circuit open): {f['added']} ms "
                         f"(≤ {TARGET_FALLBACK_ADDED_MS:g} ms) -> {met(ok)}")


def gateway_features_rows(table: Table, summary_lines: list[str], major: int, label: str,
                          r: dict[str, Any]) -> None:
    """Rows for the gateway's cache and rate limits (bench_gateway_features.py, p50s interleaved)."""
    n = f"{r['requests_each']:,} requests each, interleaved"
    speed, added, rl = r["miss_over_hit"], r["hit_added_over_direct_ms"], r["rate_limit_added_ms"]
    checks = (speed >= TARGET_CACHE_SPEEDUP, added <= TARGET_CACHE_ADDED_MS, rl <= TARGET_RATE_LIMIT_ADDED_MS)
    table.add(f"Gateway cache: hit vs the miss path ({r['upstream_delay_ms']:g} ms upstream), p50", label,
              f"≥ {TARGET_CACHE_SPEEDUP:g}× faster", f"{speed:.1f}×", "—", "—",
              f"hit {r['hit_p50_ms']:.2f} ms, miss {r['miss_p50_ms']:.2f} ms ({n})", met(checks[0]))
    table.add("Gateway cache: hit added latency over a direct loopback call, p50", label,
              f"≤ {TARGET_CACHE_ADDED_MS:g} ms", "—", "—", "—",
              f"+{added:.2f} ms (hit {r['hit_p50_ms']:.2f} ms, direct {r['direct_p50_ms']:.2f} ms)", met(checks[1]))
    table.add("Gateway rate limit: added latency of a passing check, p50", label,
              f"≤ {TARGET_RATE_LIMIT_ADDED_MS:g} ms", "—", "—", "—",
              f"{rl:+.3f} ms (with policy {r['rate_limited_p50_ms']:.3f} ms, without {r['plain_p50_ms']:.3f} ms)",
              met(checks[2]))
    summary_lines.append(f"openai {major} gateway cache hit {speed:.1f}× faster than a miss ({met(checks[0])}), "
                         f"+{added:.2f} ms over direct ({met(checks[1])}); rate-limit check {rl:+.3f} ms "
                         f"({met(checks[2])})")


def pending_rows(table: Table, summary_lines: list[str], major: int, label: str, r: dict[str, Any]) -> None:
    """One row per answer of the down REST API (bench_pending.py: RSS per queued operation)."""
    answer = {"refused": "API refusing connections", "not-found": "API answering 500 Request not found"}
    full = r["bytes_per_pending_op"] * FULL_QUEUE_OPS
    ok = full <= TARGET_FULL_QUEUE_BYTES
    table.add(f"Delivery: bytes per pending operation, {answer.get(r['variant'], r['variant'])}", label,
              f"full queue ({FULL_QUEUE_OPS:,}) ≤ {TARGET_FULL_QUEUE_BYTES / 1e6:g} MB", "—", "—", "—",
              f"{r['bytes_per_pending_op']:,.0f} B/op over {r['ops']:,} ops ({r['attempted']:,} attempted once) "
              f"→ full queue {mb(full)}", met(ok))
    summary_lines.append(f"openai {major} pending op ({r['variant']}): {r['bytes_per_pending_op']:,.0f} B, "
                         f"full queue {mb(full)} -> {met(ok)}")


def server_side_rows(table: Table, summary_lines: list[str], misses: list[str], major: int, label: str,
                     by: list[dict[str, Any]]) -> None:
    """Rows for items 5-7: delivery, gateway, soak (absolute targets; side-by-side where there is a baseline)."""
    for r in by:
        if r["bench"] == "delivery" and r.get("status") == "ok":
            e, d = r["enqueue_us"], r["delivered_per_s"]
            kinds = ", ".join(f"{k} {v['median']:.1f}" for k, v in r["enqueue_us_by_kind"].items())
            table.add("Delivery: enqueue cost per op on the caller's thread (thread CPU)", label,
                      f"≤ {TARGET_ENQUEUE_US:g} µs", "n/a (absolute)", f"{e['min']:.1f}–{e['max']:.1f} µs",
                      f"{e['q1']:.1f}–{e['q3']:.1f} µs", f"{e['median']:.1f} µs/op ({kinds})",
                      met(e["median"] <= TARGET_ENQUEUE_US))
            table.add("Delivery: delivered ops/s to the local gateway (queue → flush)", label,
                      f"≥ {TARGET_DELIVERED_PER_S:,.0f}/s", "n/a (absolute)", f"{d['min']:,.0f}–{d['max']:,.0f}/s",
                      f"{d['q1']:,.0f}–{d['q3']:,.0f}/s",
                      f"{d['median']:,.0f} ops/s over {r['rounds']} round(s); {r['arrived_at_gateway']:,} of "
                      f"{r['http_ops_sent']:,} arrived; flush timeouts {r['flush_timeouts']}",
                      met(d["median"] >= TARGET_DELIVERED_PER_S))
            summary_lines.append(f"openai {major} delivery: enqueue {e['median']:.1f} µs/op "
                                 f"({met(e['median'] <= TARGET_ENQUEUE_US)}), delivered {d['median']:,.0f} ops/s "
                                 f"({met(d['median'] >= TARGET_DELIVERED_PER_S)})")
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
                      f"{lat['requests_each']:,} pairs)", f"{met(ok50)} / {met(ok99)}")
            gw, direct = r["gateway_throughput"], r["direct_throughput"]
            table.add(f"Gateway: throughput at concurrency {r['concurrency']}, logging on", label,
                      f"≥ {TARGET_GATEWAY_RPS:,.0f} req/s", f"{r['throughput_ratio']:.3f}× of direct", "—", "—",
                      f"{gw['req_per_s']:,.0f} req/s (direct to upstream {direct['req_per_s']:,.0f} req/s; "
                      f"non-200: {gw['non_200'] or 0})", met(gw["req_per_s"] >= TARGET_GATEWAY_RPS))
            lost = max(r["rows_lost_by_counter"], r["rows_lost_by_id"])
            table.add("Gateway: log rows lost", label, "0", "—", "—", "—",
                      f"{lost} of {r['answered_200']:,} answered requests (store counter and id-by-id check "
                      f"in the SQLite file)", met(lost == 0))
            summary_lines.append(f"openai {major} gateway: added p50 +{lat['added_p50_ms']:.2f} ms ({met(ok50)}), "
                                 f"p99 +{lat['added_p99_ms']:.2f} ms ({met(ok99)}), {gw['req_per_s']:,.0f} req/s "
                                 f"at c={r['concurrency']} ({met(gw['req_per_s'] >= TARGET_GATEWAY_RPS)}), "
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
                      met(ok))
            summary_lines.append(f"openai {major} soak: {r['summary']} in {r['wall_s']} s")

