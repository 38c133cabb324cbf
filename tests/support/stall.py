"""A guard against blocking calls on the event loop: an async test during which the loop stalled for
more than `LIMIT` seconds fails.

`LoopStallDetector` runs a watchdog task that asks to wake every `tick` seconds and measures how late
it wakes: a wake-up `LIMIT` late means that for that long the loop ran no callback but the one that
blocked it (a `time.sleep`, a synchronous file or socket call, a CPU-bound step). The fixtures are
imported by tests/conftest.py: `loop_stall_guard` wraps every async test, its fixtures included,
except a test marked `@pytest.mark.loop_may_stall("why")`, which blocks the loop on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
from collections.abc import AsyncIterator, Iterator
from types import TracebackType

import pytest

LIMIT = 0.25


class LoopStallDetector:
    """Records, in `stalls`, each stretch of more than `limit` seconds in which the running loop
    did not get round to its watchdog; the watchdog asks to run every `tick` seconds, so a block of
    `limit + tick` seconds or more is always seen."""

    def __init__(self, limit: float = LIMIT, tick: float = 0.02) -> None:
        self.limit = limit
        self.tick = tick
        self.stalls: list[float] = []
        self._due: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def _watch(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Event) -> None:
        while True:
            self._due = loop.time() + self.tick
            ready.set()
            await asyncio.sleep(self.tick)
            self._check(loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._due is not None and (late := loop.time() - self._due) > self.limit:
            self.stalls.append(late)
        self._due = None

    async def __aenter__(self) -> LoopStallDetector:
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._watch(loop, ready), name="loop stall watchdog")
        await ready.wait()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        # A block just before the end has not woken the watchdog yet: measure its pending wake-up.
        self._check(asyncio.get_running_loop())
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def report(self) -> str:
        worst = ", ".join(f"{s:.2f} s" for s in sorted(self.stalls, reverse=True)[:5])
        return (
            f"the event loop stalled {len(self.stalls)} time(s) for more than {self.limit:g} s "
            f"(longest: {worst}): something blocked it"
        )


@pytest.fixture
async def loop_stall_guard() -> AsyncIterator[LoopStallDetector]:
    """Fails the test if its loop stalled (see the module); request it to read what it saw."""
    async with LoopStallDetector() as detector:
        yield detector
    if detector.stalls:
        pytest.fail(detector.report(), pytrace=False)


@pytest.fixture(autouse=True)
def guard_event_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Puts `loop_stall_guard` around every async test, before its other fixtures are set up,
    unless the test is marked `loop_may_stall(reason)`."""
    if inspect.iscoroutinefunction(
        getattr(request, "function", None)
    ) and not request.node.get_closest_marker("loop_may_stall"):
        request.getfixturevalue("loop_stall_guard")
    yield


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """For a module whose tests allocate much (long runs): collect, and freeze what is alive, so that
    a garbage collection during a test walks only what the module allocates. A full collection of
    the whole test process (150,000 objects and more) takes 0.3 s on a loaded machine and would trip
    the guard although nothing blocked. Use it from a module-scoped fixture, outside the guard."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
