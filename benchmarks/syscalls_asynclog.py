"""System calls an async-mode call adds, counted with strace (what instruction counts do not see).

Runs ``--calls`` plain ``chat.completions.create`` calls, raw or ``wrap(client, mode="async")``,
against the loopback server of ``_server.py`` (which is also its log host), then flushes. Run it
under ``strace -f -c`` once per mode and compare the totals (the server is a child process, so
its side of each request is counted in both runs alike).

Usage: ``strace -f -c -o raw.txt python benchmarks/syscalls_asynclog.py raw`` and the same with ``async``
"""

from __future__ import annotations

import argparse
import os
import sys

import openai

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import start_server

import helicone_wrap


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["raw", "async"])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    helicone_wrap.configure(outbox=None)
    messages = [{"role": "user", "content": "hi"}]
    with start_server(200) as server:
        client: openai.OpenAI = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-x", max_retries=0)
        if args.mode == "async":
            client = helicone_wrap.wrap(client, mode="async", base_url=server.url, api_key="sk-helicone-bench")
        for _ in range(args.calls + 50):
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        helicone_wrap.flush(60)


if __name__ == "__main__":
    main()
