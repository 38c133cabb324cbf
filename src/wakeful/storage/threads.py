"""The threads a store's blocking calls run on, handed over with as little as the event loop allows.

`loop.run_in_executor` builds a `concurrent.futures.Future`, a work item and a chain of callbacks
between two futures per call, and `ThreadPoolExecutor.submit` takes a lock and a semaphore: about
twice the CPU of this hand-over (a queue put, a thread's get, one `call_soon_threadsafe`), and a
prompt makes about nine such trips. Invariants: calls start in the order they were made; a call
whose caller was cancelled still runs to its end (its result is dropped), as a started executor
call does; `shutdown` lets every queued call finish first.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")
_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class Threads:
    """`threads` threads named `{name}_{n}`, started at the first call."""

    def __init__(self, threads: int, name: str) -> None:
        self._count = threads
        self._name = name
        self._calls: SimpleQueue[_Call | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._closed = False

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on one of the threads."""
        if self._closed:
            raise RuntimeError("cannot schedule new calls after shutdown")
        if not self._threads:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((loop, future, fn, args))
        return await future

    def _start(self) -> None:
        for n in range(self._count):
            thread = threading.Thread(target=self._work, name=f"{self._name}_{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, fn, args = call
            try:
                ok, value = True, fn(*args)
            except BaseException as exc:  # handed to the caller, as an executor does
                ok, value = False, exc
            try:
                loop.call_soon_threadsafe(_settle, future, ok, value)
            except RuntimeError:
                pass  # the loop has closed: no one is waiting any more

    def shutdown(self) -> None:
        """Blocks until the queued calls have run and the threads have ended."""
        self._closed = True
        for _ in self._threads:
            self._calls.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
