"""The scripted LLM of tests/support/fakellm.py, fit for ten thousand concurrent `DELAY` calls.

The stock fake's `DELAY` waits on its shared change event, which every arriving request sets: with
N calls sleeping, each arrival wakes all of them, O(N^2) wake-ups in total (10^8 at N = 10,000), which
would make the fake, not the server, the bottleneck. It also keeps every request body (parsed JSON,
about 8 KB of text each). This subclass sleeps with a plain timer and keeps every request's record
(arrival time, script) but only the latest one's body. Everything else is the same fake.

    .venv/bin/python bench/quiet_fakellm.py --port 0     # prints its base URL, like the stock fake
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.fakellm import FakeLLM, FakeRequest, _Stopped, main  # noqa: E402


class _LightLog(list[FakeRequest]):
    """Every request's record, but only the latest one keeps its body."""

    def append(self, item: FakeRequest) -> None:
        if self:
            self[-1].body = {}
        super().append(item)


class QuietFakeLLM(FakeLLM):
    def __init__(self) -> None:
        super().__init__()
        self._requests = _LightLog()

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # a stopping fake cancels its handlers (handler_cancellation)
        if self._stopping:
            raise _Stopped


if __name__ == "__main__":
    main(QuietFakeLLM, "Run the quiet scripted LLM")
