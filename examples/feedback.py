"""Decorator use, then enrich/feedback/score after the call, and a read-back of the session.

    helicone-wrap gateway        # in another terminal: the local gateway, offline model
    HELICONE_BASE_URL=http://127.0.0.1:8787 OPENAI_API_KEY=sk-offline python examples/feedback.py
"""

from __future__ import annotations

import os

from openai import OpenAI

from helicone_wrap import HeliconeAPI, flush, session, trace, wrap

client = wrap(OpenAI())


@trace
def answer(question: str) -> str:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    completion.enrich(outcome="resolved", turns=1)
    completion.feedback(True)
    completion.score(helpfulness=9, grounded=True)
    return completion.choices[0].message.content or ""


with session("Support chat") as s:
    print("Answer:", answer("How do I reset my password?"))

flush(timeout=10)  # enrich/feedback/score are delivered in the background; flush before reading back
with HeliconeAPI() as api:
    tree = api.sessions.tree(s.id)
print(f"\nSession {tree.session_name!r} ({s.id}), as Helicone recorded it:")
for row in tree.requests:
    rating = {True: "positive", False: "negative", None: "none"}[row.feedback]
    scores = ", ".join(f"{k}={v}" for k, v in sorted(row.scores.items()) if k != "helicone-score-feedback")
    print(f"  {row.session_path}  {row.model}  {row.delay_ms or 0:.1f} ms  feedback {rating}")
    print(f"    properties: outcome={row.property('outcome')}, turns={row.property('turns')}")
    print(f"    scores: {scores}")
base = os.environ.get("HELICONE_BASE_URL")
print("\nLook next:")
print(f"  helicone-wrap session {s.id}" + (f" --api-url {base}" if base else ""))
if base:
    print(f"  {base.rstrip('/')}/sessions/{s.id}  (the gateway's dashboard)")
