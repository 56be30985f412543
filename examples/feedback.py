"""Decorator use, then enrich/feedback/score after the call, and a read-back of the session.

    HELICONE_BASE_URL=http://127.0.0.1:8787 OPENAI_API_KEY=sk-offline python examples/feedback.py
"""

from __future__ import annotations

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
    print(answer("How do I reset my password?"))

flush(timeout=10)  # enrich/feedback/score are delivered in the background; flush before reading back
with HeliconeAPI() as api:
    print(api.sessions.tree(s.id))
