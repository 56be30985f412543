"""Wrap a client, run one call inside a session, print the Helicone id.

Offline: start `helicone-wrap gateway` in another terminal, then
    HELICONE_BASE_URL=http://127.0.0.1:8787 OPENAI_API_KEY=sk-offline python examples/quickstart.py
Against Helicone cloud: set HELICONE_API_KEY and OPENAI_API_KEY (a real one) instead.
"""

from __future__ import annotations

import os

from openai import OpenAI

from helicone_wrap import flush, properties, session, wrap

client = wrap(OpenAI())

with session("Quickstart", path="/hello") as s, properties(environment="dev"):
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}]
    )

print("Answer:", completion.choices[0].message.content)
print("Helicone id:", completion.helicone_id)
rating = completion.feedback(True)  # delivered in the background
flush(timeout=5)
print("Feedback delivered." if rating.done and rating.error is None else f"Feedback not delivered: {rating.error}")
base = os.environ.get("HELICONE_BASE_URL")
print("Look next:")
print(f"  helicone-wrap request {completion.helicone_id}" + (f" --api-url {base}" if base else ""))
print(f"  helicone-wrap session {s.id}" + (f" --api-url {base}" if base else ""))
