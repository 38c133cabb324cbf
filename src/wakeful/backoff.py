"""Exponential backoff with jitter: the one rule for every retry wakeful makes (provider calls, the
client's reconnects, webhook deliveries, restarts of a crashed MCP server)."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base: float, cap: float, jitter: tuple[float, float] = (0.8, 1.2)) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first): `base` doubled per attempt,
    at most `cap`, times a random factor in `jitter` so that many callers cut at once do not all
    come back at once."""
    return min(cap, base * 2.0 ** (attempt - 1)) * random.uniform(*jitter)
