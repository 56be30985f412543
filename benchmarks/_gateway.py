"""Run ``helicone_wrap.gateway.GatewayServer`` in its own process for the benchmarks.

The gateway runs uvicorn in a thread of the process that starts it; a load generator in that
same process would share its GIL and distort every figure. This launcher gives it a process
of its own and a small line protocol on stdin/stdout:

- on start it prints ``URL <root>``;
- ``stats`` -> flushes the store, prints ``STATS {json}`` (store counters plus ``faults``);
- ``faults {json}`` -> installs ``FaultPlan(**json)`` (``{}`` clears it), prints ``OK``;
- EOF on stdin -> ``stop()`` (drains every log row into ``--db``), prints ``STOPPED``, exits.

Usage: ``python benchmarks/_gateway.py --upstream http://127.0.0.1:N/v1 --db /tmp/x.sqlite3``
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--db", default=":memory:")
    parser.add_argument("--faults", default="{}", help="FaultPlan fields as JSON")
    args: Any = parser.parse_args(argv)

    from helicone_wrap.gateway import FaultPlan, GatewayServer

    plan = json.loads(args.faults)
    gateway = GatewayServer("127.0.0.1", port=0, db=args.db, upstream=args.upstream,
                            faults=FaultPlan(**plan) if plan else None)
    gateway.start()
    print(f"URL {gateway.url}", flush=True)
    for line in sys.stdin:
        command, _, rest = line.strip().partition(" ")
        if command == "stats":
            gateway.store.flush(30.0)
            print("STATS " + json.dumps(gateway.stats(), default=str), flush=True)
        elif command == "faults":
            fields = json.loads(rest or "{}")
            gateway.faults = FaultPlan(**fields) if fields else None
            print("OK", flush=True)
    gateway.stop()
    print("STOPPED", flush=True)


if __name__ == "__main__":
    main()
