"""Wrap a client, run one call inside a session, print the Helicone id.

Offline: start `helicone-wrap gateway` in another terminal, then
    HELICONE_BASE_URL=http://127.0.0.1:8787 OPENAI_API_KEY=sk-offline python examples/quickstart.py
Against Helicone cloud: set HELICONE_API_KEY and OPENAI_API_KEY instead.
"""

from __future__ import annotations

from openai import OpenAI

from helicone_wrap import flush, properties, session, wrap

client = wrap(OpenAI())

with session("Quickstart", path="/hello"), properties(environment="dev"):
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}]
    )

print(completion.choices[0].message.content)
print("helicone id:", completion.helicone_id)
completion.feedback(True)
flush(timeout=5)
