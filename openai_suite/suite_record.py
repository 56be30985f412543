"""pytest plugin: write each test's outcome, keyed by its node id, to a JSON file.

``openai_suite/run.py`` loads it (``-p suite_record``) in the wrapped and the unwrapped run and
compares the two files. junit XML is written too, for people, but its class names cannot be turned
back into node ids to re-run, hence this file. With pytest-xdist only the controller writes.

Outcomes: ``passed``, ``failed``, ``error`` (setup/teardown/collection), ``skipped``,
``xfailed``, ``xpassed``.

Usage: ``HW_SUITE_RESULTS=out.json python -m pytest -p suite_record tests``
"""

from __future__ import annotations

import json
import os
from typing import Any

_outcomes: dict[str, str] = {}


def _outcome(report: Any) -> str | None:
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            return "xfailed" if report.skipped else "xpassed"
        return str(report.outcome)
    if report.failed:
        return "error"
    if report.when == "setup" and report.skipped:
        return "xfailed" if hasattr(report, "wasxfail") else "skipped"
    return None


def pytest_runtest_logreport(report: Any) -> None:
    """pytest hook: keep the worst outcome of a test's setup, call and teardown."""
    outcome = _outcome(report)
    if outcome is None:
        return
    if outcome == "error" and _outcomes.get(report.nodeid) == "failed":
        return
    _outcomes[report.nodeid] = outcome


def pytest_collectreport(report: Any) -> None:
    """pytest hook: a module that fails to import counts as one errored node."""
    if report.failed:
        _outcomes[report.nodeid] = "error"


def pytest_sessionfinish(session: Any) -> None:
    """pytest hook: write the file (controller only when xdist runs workers)."""
    path = os.environ.get("HW_SUITE_RESULTS")
    if not path or hasattr(session.config, "workerinput"):
        return
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(_outcomes, fh, indent=0, sort_keys=True)
