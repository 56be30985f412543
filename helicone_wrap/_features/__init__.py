"""Helicone's gateway features as typed blocks: :mod:`.blocks` holds the blocks, :mod:`.values`
the argument checks they share.

Usage: ``with helicone_wrap.cache(max_age=3600): client.chat.completions.create(...)``
"""

from __future__ import annotations

from .blocks import (
    Duration,
    FeatureBlock,
    cache,
    llm_security,
    moderation,
    omit,
    posthog,
    prompt,
    rate_limit,
    retries,
)

__all__ = [
    "Duration", "FeatureBlock", "cache", "llm_security", "moderation", "omit", "posthog", "prompt", "rate_limit",
    "retries",
]  # fmt: skip
