"""Admission control: how many runs execute at once, how fast they start, and when to refuse.

A burst of a thousand prompts is accepted at once (each call gets its headers and keep-alives) and
then degrades instead of failing: at most `max_running` runs execute at the same time, the rest wait
for a slot, queued behind the headers. Starting a run (its first writes, its history, its LLM
request) costs the one event loop ten times what accepting a call does, so starts give way to
acceptance during a burst (BURST prompts arriving within QUIET seconds): a start then waits until no
prompt is being accepted and none arrived for QUIET seconds, for at most MAX_DEFER seconds. A busy
loop runs its timers late, so "none arrived" alone would let starts in between two rounds of a
burst's claims; the count of claims under way closes that gap. A prompt arriving alone never waits.
Runs also take their slots at most `start_rate` per second (a token bucket holding a tenth of a
second's worth), and a run with its slot still starts only once the event loop comes back to it
within LAG_LIMIT: every held call's keep-alive waits behind whatever the loop has queued, so when
starts pile up work faster than the loop gets through it, the next start waits instead. Starts pass
that gate one at a time, each after its own measurement, so a backlog of starts cannot rush through
together the moment the loop is free.

A run that waits for a person (a permission ask, `paused`) gives its slot back meanwhile and takes
one again before it goes on: a fleet of runs waiting for approval cannot starve the rest. The slot a
run holds travels in a context variable, so the permission gate, deep inside the run's tool calls,
finds it without being handed it.

Above the queue, an optional hard cap (`max_held`, off by default) refuses a new run with 503 and
`Retry-After` once that many runs are accepted and unfinished.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from wakeful.errors import ServiceUnavailableError

RETRY_AFTER = 5  # seconds a refused client is told to wait
QUIET = 0.1  # seconds without a new prompt after which runs start
BURST = 16  # prompts within QUIET seconds that make a burst
MAX_DEFER = 2.0  # seconds a start gives way to arriving prompts at most
LAG_LIMIT = 0.05  # seconds the loop may take to come back to a start, or the start waits
LAG_PAUSE = 0.05  # seconds a start waits before it measures again


class _Slot:
    """One run's hold on the semaphore; `paused` counts the asks (tool calls run in parallel) for
    which it is given back."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.paused = 0
        self.holding = True


_held: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("wakeful_admission_slot", default=None)


class Admission:
    def __init__(self, max_running: int, max_held: int | None = None, start_rate: float | None = None) -> None:
        self.max_running = max_running
        self.max_held = max_held or None
        self._slots = asyncio.Semaphore(max_running)
        self._running = 0
        self._interval = 1.0 / start_rate if start_rate else 0.0
        self._burst = 0.1  # seconds of start rate that may be spent at once
        self._next = 0.0
        # Set unless a burst is being accepted; every deferred start waits on this one event
        # (thousands of starts polling a clock would cost the loop more than they save).
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._window = (float("-inf"), 0)  # (start, prompts arrived since)
        self._last_arrival = float("-inf")
        self._accepting = 0  # prompts between their arrival and their answer (headers or refusal)
        self._gate = asyncio.Lock()  # the starts measuring the loop, one at a time

    @property
    def running(self) -> int:
        """Runs that hold a slot now (not counting those paused for a person)."""
        return self._running

    def refuse_if_full(self, unfinished: int) -> None:
        """503 with Retry-After when `unfinished` accepted runs already reach the hard cap."""
        if self.max_held is not None and unfinished >= self.max_held:
            raise ServiceUnavailableError(
                f"The server holds {unfinished} runs, its limit (max_held_calls); try again later",
                retry_after=RETRY_AFTER,
            )

    @contextlib.contextmanager
    def accepting(self) -> Iterator[None]:
        """Around one prompt's acceptance: in a burst, starts wait until arrivals pause."""
        loop = asyncio.get_running_loop()
        now = self._last_arrival = loop.time()
        start, count = self._window
        if now - start > QUIET:
            start, count = now, 0
        self._window = (start, count + 1)
        if count + 1 >= BURST and self._quiet.is_set():
            self._quiet.clear()
            self._check_later(QUIET)
        self._accepting += 1
        try:
            yield
        finally:
            self._accepting -= 1

    def _check_later(self, delay: float) -> None:
        # One check pending at a time: armed when a burst begins, re-armed only by itself.
        asyncio.get_running_loop().call_later(delay, self._check)

    def _check(self) -> None:
        since = asyncio.get_running_loop().time() - self._last_arrival
        if self._accepting or since < QUIET:
            self._check_later(max(QUIET - since, QUIET / 2))
        else:
            self._quiet.set()

    async def settled(self) -> None:
        """Return at once, or in a burst once prompts stop arriving (MAX_DEFER at most)."""
        if not self._quiet.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MAX_DEFER):
                    await self._quiet.wait()

    async def _pace(self) -> None:
        await self.settled()
        if not self._interval:
            return
        now = asyncio.get_running_loop().time()
        self._next = max(self._next, now - self._burst)
        wait = self._next - now
        self._next += self._interval
        if wait > 0:
            await asyncio.sleep(wait)

    async def _unloaded(self) -> None:
        """Return once a turn of the event loop (everything queued ahead of this task) takes at most
        LAG_LIMIT."""
        loop = asyncio.get_running_loop()
        async with self._gate:
            while True:
                asked = loop.time()
                await asyncio.sleep(0)
                if loop.time() - asked <= LAG_LIMIT:
                    return
                await asyncio.sleep(LAG_PAUSE)

    async def acquire(self) -> None:
        await self._slots.acquire()
        self._running += 1

    def release(self) -> None:
        self._running -= 1
        self._slots.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of `max_running` slots (waiting in turn, paced, for a loop with time to spare)
        while the body runs."""
        await self._pace()
        await self.acquire()
        slot = _Slot(self)
        token = _held.set(slot)
        try:
            await self._unloaded()
            yield
        finally:
            _held.reset(token)
            if slot.holding:
                self.release()


@asynccontextmanager
async def paused() -> AsyncIterator[None]:
    """Give the current run's slot back while the body waits (for a person), then take one
    again. Outside a run holding a slot, nothing happens."""
    slot = _held.get()
    if slot is None:
        yield
        return
    slot.paused += 1
    if slot.holding:
        slot.holding = False
        slot.admission.release()
    try:
        yield
    finally:
        slot.paused -= 1
        if slot.paused == 0:
            # A run cancelled while it waits here holds nothing, and `slot()` releases nothing.
            await slot.admission.acquire()
            if slot.paused:  # another ask began meanwhile: it gives the slot back at once
                slot.admission.release()
            else:
                slot.holding = True
