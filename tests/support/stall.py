"""A guard against blocking calls on the event loop: an async test during which the loop stalled for
more than `LIMIT` seconds fails.

`LoopStallDetector` runs a watchdog task that asks to wake every `tick` seconds and measures how late
it wakes: a wake-up `LIMIT` late means that for that long the loop ran no callback but the one that
blocked it (a `time.sleep`, a synchronous file or socket call, a CPU-bound step). Not counted: time
the garbage collector took (the test process's heap is not a server's, which freezes what it loaded
at start-up, see wakeful.server.serve.tune_gc), and time the thread waited for a CPU (on a busy
machine any code is slow), and a wake-up found overdue while the loop sat idle in its selector (a
thread throttled by a CPU quota). The fixtures are imported by tests/conftest.py: `loop_stall_guard`
wraps every async test, its fixtures included, except a test marked
`@pytest.mark.loop_may_stall("why")`, which blocks the loop on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import selectors
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import pytest

LIMIT = 0.25


class LoopStallDetector:
    """Records, in `stalls`, each stretch of more than `limit` seconds in which the running loop
    did not get round to its watchdog; the watchdog asks to run every `tick` seconds, so a block of
    `limit + tick` seconds or more is always seen. Not counted: time in the garbage collector, and
    time the loop's thread was ready to run but waited for a CPU (a busy machine, not a blocking
    call), and a stretch in which the loop was seen idle in its selector. A thread samples the
    loop's stack while it is stalled, so `report()` says where."""

    def __init__(self, limit: float = LIMIT, tick: float = 0.02) -> None:
        self.limit = limit
        self.tick = tick
        self.stalls: list[float] = []
        self.where: list[str] = []
        # when the watchdog should wake, and the time not counted (`_excused`) when it asked
        self._due: tuple[float, float] | None = None
        self._gc_spent = 0.0
        self._gc_since: float | None = None
        self._schedstat: Path | None = None
        self._task: asyncio.Task[None] | None = None
        self._sampler: threading.Thread | None = None
        self._done = threading.Event()
        self._parked: set[tuple[float, float]] = set()  # wake-ups overdue while the loop sat idle

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_since = time.monotonic()
        elif self._gc_since is not None:
            self._gc_spent += time.monotonic() - self._gc_since
            self._gc_since = None

    def _waited_for_cpu(self) -> float:
        """Seconds the loop's thread has spent runnable but not running (Linux schedstat)."""
        if self._schedstat is None:
            return 0.0
        try:  # a procfs read: no disk, nothing to wait for
            return int(self._schedstat.read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    def _excused(self) -> float:
        since = self._gc_since
        in_gc = self._gc_spent + (time.monotonic() - since if since is not None else 0.0)
        return in_gc + self._waited_for_cpu()

    def _lateness(self) -> float:
        """How late the pending wake-up is, less the time not counted since it was asked for."""
        if self._due is None:
            return 0.0
        due, excused = self._due
        return time.monotonic() - due - (self._excused() - excused)

    async def _watch(self, ready: asyncio.Event) -> None:
        while True:
            self._due = (time.monotonic() + self.tick, self._excused())
            ready.set()
            await asyncio.sleep(self.tick)
            self._check()

    def _check(self) -> None:
        if (late := self._lateness()) > self.limit and self._due not in self._parked:
            self.stalls.append(late)
        self._due = None

    def _sample(self, loop_thread: int) -> None:
        sampled: tuple[float, float] | None = None
        seen_parked: dict[tuple[float, float], int] = {}
        while not self._done.wait(self.tick):
            due = self._due
            if due is None or self._lateness() <= self.limit:
                continue
            frame = sys._current_frames().get(loop_thread)
            # A loop found waiting in its selector twice while its wake-up is overdue ran nothing:
            # the thread was not given a CPU (a container's CPU quota throttles it without counting
            # as a wait in schedstat). Once would not do: a loop just freed from a block passes
            # through select(0) before it runs the watchdog.
            if frame is not None and frame.f_code.co_filename == selectors.__file__:
                seen_parked[due] = seen_parked.get(due, 0) + 1
                if seen_parked[due] >= 2:
                    self._parked.add(due)
            if due != sampled:
                sampled = due
                try:  # the loop's thread runs on meanwhile: its frames may end under our reading
                    self.where.append(_stack(frame) if frame is not None else "")
                except Exception as exc:
                    self.where.append(f"(its stack could not be read: {exc!r})\n")

    async def __aenter__(self) -> LoopStallDetector:
        self._schedstat = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
        gc.callbacks.append(self._on_gc)
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._watch(ready), name="loop stall watchdog")
        await ready.wait()
        self._sampler = threading.Thread(
            target=self._sample, args=(threading.get_ident(),), name="loop stall sampler", daemon=True
        )
        self._sampler.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None and self._sampler is not None
        # A block just before the end has not woken the watchdog yet: measure its pending wake-up.
        self._check()
        self._done.set()
        self._sampler.join()
        gc.callbacks.remove(self._on_gc)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def report(self) -> str:
        worst = ", ".join(f"{s:.2f} s" for s in sorted(self.stalls, reverse=True)[:5])
        where = "".join(f"\n--- the loop was in:\n{stack}" for stack in self.where[:3])
        return (
            f"the event loop stalled {len(self.stalls)} time(s) for more than {self.limit:g} s "
            f"(longest: {worst}; not counting garbage collection or waits for a CPU): something blocked it{where}"
        )


def _stack(frame: FrameType) -> str:
    """The frames of our own code (outside site-packages and the standard library) and the
    innermost few: enough to name the blocking call and who made it."""
    frames = traceback.extract_stack(frame)
    ours = [f for f in frames[:-3] if not f.filename.startswith((sys.prefix, sys.base_prefix))]
    return "".join(traceback.format_list(ours[-6:] + frames[-3:]))


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
