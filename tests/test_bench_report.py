"""benchmarks/report.py: every benchmark that run.py runs gets its rows, each with value, target and verdict.

The sample is the raw file of a real ``BENCH_MAJORS=3 scripts/bench --quick`` run
(tests/data/bench_openai3_quick.json, long per-round lists cut), so the rows are rendered from
exactly what the benchmarks emit. Verdicts are checked on the sample and on copies pushed past
each target.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).resolve().parent / "data" / "bench_openai3_quick.json"


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "benchmarks" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


report = _load("report")
run = _load("run")


def sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SAMPLE.read_text())
    return data


def result(raw: dict[str, Any], bench: str, **match: Any) -> dict[str, Any]:
    for r in raw["results"]:
        if r.get("bench") == bench and all(r.get(k) == v for k, v in match.items()):
            found: dict[str, Any] = r
            return found
    raise AssertionError(f"no {bench} {match} result in the sample")


def rows(raws: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The generated table as one dict per row, keyed by the header cells."""
    document = report.build(raws)[0]
    start = document.index("| Figure |")
    lines = document[start:].split("\n\n", 1)[0].splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(head, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]]


def row(raws: list[dict[str, Any]], figure: str) -> dict[str, str]:
    found = [r for r in rows(raws) if r["Figure"].startswith(figure)]
    assert len(found) == 1, (figure, [r["Figure"] for r in rows(raws)])
    return found[0]


def test_the_sample_holds_every_benchmark_run_py_runs() -> None:
    raw = sample()
    benches = {r.get("bench") for r in raw["results"]}
    peers = {r.get("variant") for r in raw["results"] if r.get("bench") == "overhead"}
    assert set(run.ALL) - {"peers"} <= benches
    assert set(run.PEERS) <= peers
    assert not [r for r in raw["results"] if r.get("status") == "failed"]


#: The figure each benchmark of run.ALL renders (the profile has its own section, not a row).
FIGURES = {
    "overhead": "Call overhead, sync: wrap(client) in session+properties",
    "streaming": "Streaming, sync: client CPU per chunk",
    "peers": "Peer, sync: Langfuse",
    "memory": "Memory: growth over",
    "delivery": "Delivery: enqueue cost per op",
    "gateway": "Gateway: added latency at concurrency 1",
    "gateway_features": "Gateway cache: hit vs the miss path",
    "soak": "Soak:",
    "pending": "Delivery: bytes per pending operation, API refusing connections",
    "asynclog": "Async mode: plain call, caller-thread CPU/call",
}


def test_every_benchmark_run_py_runs_has_a_row_with_target_and_verdict() -> None:
    raw = sample()
    table = rows([raw])
    assert set(FIGURES) | {"profile"} == set(run.ALL)
    for bench, figure in FIGURES.items():
        assert [r for r in table if figure in r["Figure"]], f"{bench}: no row {figure!r}"
    for r in table:
        assert r["Target"] and r["Verdict"], r
    document, _summary, _table = report.build([raw])
    assert "## Where the wrapped call's extra CPU goes" in document  # the profile step


def test_gateway_features_rows_against_issue_12_targets() -> None:
    raw = sample()
    r = result(raw, "gateway_features")
    hit = row([raw], "Gateway cache: hit vs the miss path")
    assert hit["Target"] == "≥ 20× faster"
    assert hit["Ratio (median)"] == f"{r['miss_over_hit']:.1f}×"
    assert hit["Verdict"] == ("met" if r["miss_over_hit"] >= 20 else "MISSED")
    added = row([raw], "Gateway cache: hit added latency over a direct loopback call")
    assert added["Target"] == "≤ 1 ms"
    assert f"+{r['hit_added_over_direct_ms']:.2f} ms" in added["Absolute (median per round)"]
    assert added["Verdict"] == ("met" if r["hit_added_over_direct_ms"] <= 1 else "MISSED")
    limit = row([raw], "Gateway rate limit: added latency of a passing check")
    assert limit["Target"] == "≤ 0.2 ms"
    assert f"{r['rate_limit_added_ms']:+.3f} ms" in limit["Absolute (median per round)"]
    assert limit["Verdict"] == ("met" if r["rate_limit_added_ms"] <= 0.2 else "MISSED")

    r.update(miss_over_hit=12.5, hit_added_over_direct_ms=1.4, rate_limit_added_ms=0.25)
    assert row([raw], "Gateway cache: hit vs the miss path")["Verdict"] == "MISSED"
    assert row([raw], "Gateway cache: hit added latency")["Verdict"] == "MISSED"
    assert row([raw], "Gateway rate limit")["Verdict"] == "MISSED"
    r.update(miss_over_hit=35.0, hit_added_over_direct_ms=0.3, rate_limit_added_ms=0.01)
    assert {row([raw], f)["Verdict"] for f in ("Gateway cache: hit vs", "Gateway cache: hit added",
                                               "Gateway rate limit")} == {"met"}


def test_gateway_features_not_run_is_a_row_saying_why() -> None:
    raw = sample()
    raw["results"] = [r for r in raw["results"] if r.get("bench") != "gateway_features"]
    raw["results"].append({"bench": "gateway_features", "status": "not run", "reason": "uvicorn is not importable"})
    assert "uvicorn is not importable" in row([raw], "Gateway features: not run")["Absolute (median per round)"]


def test_pending_rows_one_per_answer() -> None:
    raw = sample()
    for variant, figure in (("refused", "API refusing connections"),
                            ("not-found", "API answering 500 Request not found")):
        r = result(raw, "pending", variant=variant)
        got = row([raw], f"Delivery: bytes per pending operation, {figure}")
        assert got["Target"] == "full queue (50,000) ≤ 50 MB"
        assert f"{r['bytes_per_pending_op']:,.0f} B/op" in got["Absolute (median per round)"]
        assert got["Verdict"] == ("met" if r["bytes_per_pending_op"] * 50_000 <= 50e6 else "MISSED")
        r["bytes_per_pending_op"] = 1200.0
        assert row([raw], f"Delivery: bytes per pending operation, {figure}")["Verdict"] == "MISSED"


ASYNC_ROWS = (  # figure, result key, target cell, the target itself
    ("Async mode: plain call, caller-thread CPU/call", "plain_caller_thread_cpu_us_per_call", "≤ 1.05×", 1.05),
    ("Async mode: plain call, whole-process CPU/call", "plain_cpu_us_per_call", "≤ 1.05×", 1.05),
    ("Async mode: streamed call, whole-process CPU per chunk", "stream_cpu_us_per_call", "≤ 1.03×", 1.03),
    ("Async mode: time to first token, p50", "ttft_ms_p50", "≤ 1.02×", 1.02),
)


def test_asynclog_rows_against_issue_13_targets() -> None:
    raw = sample()
    r = result(raw, "asynclog")
    for figure, key, target_cell, target in ASYNC_ROWS:
        got = row([raw], figure)
        assert got["Target"] == target_cell
        assert got["Ratio (median)"] == f"{r[key]['ratio']:.3f}×"
        assert got["Verdict"] == ("met" if r[key]["ratio"] <= target else "MISSED"), figure
        r[key]["ratio"] = target + 0.02
        assert row([raw], figure)["Verdict"] == "MISSED", figure
        r[key]["ratio"] = target - 0.02
        assert row([raw], figure)["Verdict"] == "met", figure
    chunk = row([raw], "Async mode: streamed call, whole-process CPU per chunk")["Absolute (median per round)"]
    assert f"{r['stream_cpu_us_per_chunk']['raw']} → async {r['stream_cpu_us_per_chunk']['async']} µs/chunk" in chunk

    rss = row([raw], "Async mode: RSS growth over")
    assert rss["Target"] == "≤ 1 MB"
    assert f"{r['rss_growth_kb']['calls']:,} calls" in rss["Figure"]
    assert f"+{r['rss_growth_kb']['kb'] * 1024 / 1e6:.3f} MB" in rss["Absolute (median per round)"]
    r["rss_growth_kb"]["kb"] = 1200
    assert row([raw], "Async mode: RSS growth over")["Verdict"] == "MISSED"
    r["rss_growth_kb"]["kb"] = 300
    assert row([raw], "Async mode: RSS growth over")["Verdict"] == "met"

    pending = row([raw], "Async mode: bytes held per pending record")
    assert pending["Target"] == "reported"
    assert f"{r['pending_record']['bytes_per_record']:,} B" in pending["Absolute (median per round)"]

    fallback = row([raw], "Fallback: added latency per call, gateway down, circuit open (p50)")
    assert fallback["Target"] == "≤ 1 ms"
    assert f"+{r['fallback_circuit_open']['p50_ms']['added']} ms" in fallback["Absolute (median per round)"]
    r["fallback_circuit_open"]["p50_ms"]["added"] = 1.3
    assert row([raw], "Fallback: added latency")["Verdict"] == "MISSED"


def test_async_mode_sits_next_to_the_capture_peers_of_the_same_run() -> None:
    raw = sample()
    r = result(raw, "asynclog")
    got = row([raw], "async mode next to the peers that capture the same")
    assert got["Ratio (median)"] == f"{r['plain_cpu_us_per_call']['ratio']:.3f}×"
    for peer, title in (("langfuse", "Langfuse"), ("openinference", "OpenInference"), ("langsmith", "LangSmith")):
        ratio = result(raw, "overhead", variant=peer, api="sync", status="ok")["ratio_cpu"]["median"]
        assert f"{title} {ratio:.3f}×" in got["Absolute (median per round)"], peer

    # A run in which a peer could not be installed says so instead of borrowing another run's figure.
    other = copy.deepcopy(raw)
    other["openai_major"] = 2
    other["versions"]["openai"] = "2.54.0"
    other["results"] = [x for x in other["results"] if x.get("variant") != "langsmith"]
    other["results"].append({"bench": "overhead", "variant": "langsmith", "status": "not installable",
                             "reason": "no wheel"})
    both = [r for r in rows([raw, other]) if "async mode next to the peers" in r["Figure"]]
    assert [r["openai"] for r in both] == ["3.x (3.57.0)", "2.x (2.54.0)"]
    assert "LangSmith not measured in this run" in both[1]["Absolute (median per round)"]
    assert "LangSmith not measured" not in both[0]["Absolute (median per round)"]


README = """# Project

Prose before.

<!-- bench:start -->
old table
<!-- bench:end -->

Prose after, by hand.
"""


@pytest.mark.parametrize("markers", [True, False])
def test_report_main_rewrites_only_the_readme_table(tmp_path: Path, markers: bool) -> None:
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    (raw_dir / "openai3.json").write_text(SAMPLE.read_text())
    readme = tmp_path / "README.md"
    text = README if markers else README.replace("<!-- bench:start -->", "").replace("<!-- bench:end -->", "")
    readme.write_text(text)
    report.main([str(raw_dir), str(tmp_path / "RESULTS.md"), str(readme)])
    results = (tmp_path / "RESULTS.md").read_text()
    assert "Gateway cache: hit vs the miss path" in results
    after = readme.read_text()
    if not markers:
        assert after == text
        return
    before_part, rest = after.split("<!-- bench:start -->\n")
    inside, after_part = rest.split("<!-- bench:end -->")
    assert before_part == "# Project\n\nProse before.\n\n"
    assert after_part == "\n\nProse after, by hand.\n"
    assert "old table" not in inside
    assert inside.startswith("Generated by `scripts/bench` (")
    _document, _summary, table_md = report.build([sample()])
    assert table_md in inside


def test_one_feature_block_row_holds_the_call_overhead_target() -> None:
    raw = sample()
    for api in ("sync", "async"):
        cached = result(raw, "overhead", variant="wrapped-cache", api=api)
        plain = result(raw, "overhead", variant="wrapped", api=api)
        got = row([raw], f"{api}: wrap(client), one feature block active")
        assert got["Target"] == "≤ 1.03×"
        assert got["Ratio (median)"] == f"{cached['ratio_cpu']['median']:.3f}×"
        assert got["Verdict"].startswith("met" if cached["ratio_cpu"]["median"] <= 1.03 else "MISSED")
        more = cached["added_cpu_us"]["median"] - plain["added_cpu_us"]["median"]
        assert f"{more:+.1f} µs vs the same call without the block" in got["Absolute (median per round)"]


def _asynclog_step(quick: bool, primary: bool) -> tuple[list[str], float]:
    steps, _ = run.plan(set(run.ALL), quick, primary, {})
    [(argv, timeout)] = [(argv, timeout) for name, argv, timeout in steps if name == "asynclog"]
    return argv, timeout


def test_run_py_rss_run_covers_100000_async_calls_on_the_primary_full_run() -> None:
    argv, timeout = _asynclog_step(quick=False, primary=True)
    assert argv.count("--rss-calls") == 1
    assert argv[argv.index("--rss-calls") + 1] == "100000"
    assert timeout >= 900
    argv, _ = _asynclog_step(quick=False, primary=False)
    assert argv[argv.index("--rss-calls") + 1] == "20000"
    argv, _ = _asynclog_step(quick=True, primary=True)
    assert argv[argv.index("--rss-calls") + 1] == "2000"


def test_run_py_plans_a_step_for_every_benchmark() -> None:
    steps, skipped = run.plan(set(run.ALL), False, True, {"logfire": "not installable with openai>=3,<4: x"})
    names = {name for name, _argv, _timeout in steps}
    assert names == (set(run.ALL) - {"peers"}) | {"peer:langsmith", "peer:openinference", "peer:langfuse"}
    assert skipped == [{"bench": "overhead", "variant": "logfire", "status": "not installable",
                        "reason": "not installable with openai>=3,<4: x"}]
