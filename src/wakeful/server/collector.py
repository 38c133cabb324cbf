"""The cyclic garbage collector waits while a burst of held calls is being accepted.

A burst's calls each leave a few hundred objects alive for as long as they are held, and the
collector's young generations are traversed again and again while they pile up: about a quarter of
what a 1,000-call burst cost before its headers (docs/benchmarks.md). While any call is between its
arrival and its answer's headers, the collector's automatic runs wait; once none is, they resume,
and the next one finds what the burst left.

Only a burst: once `limit` new objects are waiting, the collector resumes at once and stays on
until no call is being accepted. A longer flood (the 9,000-call ramp) then meets the collector as
it always did; pausing through it made the young generations so large that one collection held
the loop for 1.5 s.
"""

from __future__ import annotations

import gc
from types import TracebackType


class CollectorPause:
    def __init__(self, limit: int = 150_000) -> None:
        self._limit = limit
        self._accepting = 0
        # Off once the limit is reached: only a call arriving when none is accepted pauses again.
        self._paused = False

    def __enter__(self) -> None:
        if self._accepting == 0 and gc.isenabled():
            gc.disable()
            self._paused = True
        self._accepting += 1
        self._check()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._accepting -= 1
        if self._accepting == 0:
            self._resume()
        else:
            self._check()

    def _check(self) -> None:
        if self._paused and gc.get_count()[0] > self._limit:
            self._resume()

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            gc.enable()
