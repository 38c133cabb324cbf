"""When a failed provider call of a run is tried again.

Retryable failures are retried `retry_attempts` times with `backoff_delay` (or the provider's
`retry-after`). A provider that cannot be reached at all (`ProviderUnreachableError`: connection
refused, no route, unknown host) has its own, shorter budget: its retries end `refused_retry_budget`
seconds after the first such failure, however many attempts are left. That is a deliberate
difference from the reference, which retries a refused connection for its whole backoff (about a
minute) before the run fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from wakeful.backoff import backoff_delay
from wakeful.config import ServerConfig
from wakeful.errors import APIError, ProviderUnreachableError


@dataclass
class Retries:
    config: ServerConfig
    attempt: int = 0  # retries made so far
    unreachable_since: float | None = None  # monotonic time of the first refusal
    clock: Callable[[], float] = time.monotonic

    def next_delay(self, exc: APIError) -> float | None:
        """Seconds to wait before the next try after `exc`; None when `exc` ends the run."""
        config = self.config
        if not exc.retryable or self.attempt >= config.retry_attempts:
            return None
        delay = exc.retry_after
        if delay is None:
            delay = backoff_delay(self.attempt + 1, config.retry_base, config.retry_max_delay)
        if isinstance(exc, ProviderUnreachableError):
            now = self.clock()
            if self.unreachable_since is None:
                self.unreachable_since = now
            left = config.refused_retry_budget - (now - self.unreachable_since)
            if left <= 0:
                return None
            delay = min(delay, left)
        else:
            self.unreachable_since = None  # it answered: the budget starts again at a new refusal
        self.attempt += 1
        return delay
