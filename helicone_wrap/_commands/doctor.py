"""``helicone-wrap doctor``: the configuration in effect, where each value came from, and a probe.

It resolves the key, the gateway and the REST root exactly as ``wrap()`` and ``HeliconeAPI`` do
(argument, then environment, then default; see :mod:`helicone_wrap._config`), prints each with
its source (the key masked), and sends one bounded ``GET`` to the gateway and to the REST root.
Any HTTP answer counts as "answers"; no answer within ``--timeout`` (refused, unreachable,
timed out) does not, and makes the exit status 1. The probes carry no key.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from .._config import OPENAI_GATEWAY, mask_key, resolve
from .._exceptions import HeliconeConfigError

__all__ = ["Probe", "add_parser", "probe", "run"]

#: How ``resolve()`` names a source, as the command line should say it.
_SOURCES = {
    "key": {"argument": "--api-key"},
    "gateway": {"argument": "--base-url", "default": "default (for an OpenAI client)"},
    "api": {"argument": "--api-url", "base_url argument": "--base-url (its REST API)"},
}


@dataclass(frozen=True)
class Probe:
    """What one ``GET`` found: an HTTP ``status``, or the ``error`` that stood in for it.

    Usage: ``probe("http://127.0.0.1:8787", 2.0).answers``
    """

    url: str
    answers: bool
    status: int | None
    error: str | None
    ms: float

    def describe(self) -> str:
        """``answers (HTTP 404 in 3 ms)`` or ``does not answer: ConnectError: ...``."""
        if self.answers:
            return f"answers (HTTP {self.status} in {self.ms:.0f} ms)"
        return f"does not answer: {self.error}"


def probe(url: str, timeout: float) -> Probe:
    """One ``GET url`` without credentials, bounded by ``timeout`` seconds in every phase."""
    from .._http import http

    started = time.perf_counter()
    try:
        with http.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.get(url)
    except http.HTTPError as exc:
        message = str(exc) or "no answer"
        return Probe(url, False, None, f"{type(exc).__name__}: {message}", (time.perf_counter() - started) * 1000)
    return Probe(url, True, response.status_code, None, (time.perf_counter() - started) * 1000)


def report(args: argparse.Namespace) -> dict[str, Any]:
    """The doctor's findings as a JSON-ready dict (``ok`` is False when a probe got no answer)."""
    settings = resolve(args.api_key, args.base_url, args.api_url)
    gateway = settings.gateway or OPENAI_GATEWAY
    probes = {"gateway": probe(gateway, args.timeout), "api": probe(settings.api_url, args.timeout)}
    sources = {"gateway": settings.gateway_source, "api": settings.api_url_source, "key": settings.key_source}
    named = {name: _SOURCES[name].get(source, source) for name, source in sources.items()}
    return {
        "ok": all(p.answers for p in probes.values()),
        "gateway": {"source": named["gateway"], **asdict(probes["gateway"])},
        "api": {"source": named["api"], **asdict(probes["api"])},
        "key": {"masked": mask_key(settings.api_key) if settings.api_key else None, "source": named["key"]},
    }


def _text(found: dict[str, Any]) -> str:
    key = found["key"]
    lines = ["helicone-wrap doctor"]
    for label, name in (("gateway", "gateway"), ("REST API", "api")):
        item = found[name]
        shown = Probe(item["url"], item["answers"], item["status"], item["error"], item["ms"])
        mark = "ok  " if shown.answers else "FAIL"
        lines += [f"  {mark} {label:<9}{item['url']}", f"       {'':<9}from {item['source']}; {shown.describe()}"]
    lines.append(f"       {'key':<9}{key['masked'] or '(none)'}")
    lines.append(f"       {'':<9}from {key['source']}")
    if not found["ok"]:
        lines.append("Something did not answer: check the URL, that the server runs, and any proxy in between.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the report (text or ``--json``); 0 when everything answers, 1 otherwise or on bad config."""
    try:
        found = report(args)
    except HeliconeConfigError as exc:
        print(f"helicone-wrap doctor: HeliconeConfigError: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(found, indent=2) if args.json else _text(found))
    return 0 if found["ok"] else 1


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare ``helicone-wrap doctor``. Usage: ``add_parser(parser.add_subparsers())``"""
    parser = subparsers.add_parser(
        "doctor", help="show the gateway, REST API and key in effect, their sources, and whether they answer",
        description=(
            "Resolve the Helicone key, gateway and REST API root as wrap() does (argument, then "
            "HELICONE_* environment, then default), print each with where it came from (the key "
            "masked), and probe the gateway and the REST root once each. Exit 1 if either does not answer."
        ),
    )
    parser.add_argument("--api-key", default=None, metavar="KEY", help="Helicone key (default: HELICONE_API_KEY)")
    parser.add_argument("--base-url", default=None, metavar="URL", help="gateway root (default: HELICONE_BASE_URL)")
    parser.add_argument("--api-url", default=None, metavar="URL", help="REST API root (default: see README)")
    parser.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS",
                        help="bound on each probe (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.set_defaults(run=run)
