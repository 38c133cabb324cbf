"""An asyncio loop in a daemon thread of its own, driven from a test's code: the loopback servers of
the socket tests (the fake LLM, the proxy, the recorder, the webhook receiver) run on one, so that
sync and async tests alike can use them without their traffic waiting on the test's own loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, setup: Coroutine[Any, Any, T]) -> T:
        """Start the loop and run `setup` on it; its exception stops the loop again and is raised."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
        thread.start()
        self.loop, self._thread = loop, thread
        try:
            return self.call(setup)
        except BaseException:
            self._halt(10.0)
            raise

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and block for its result."""
        assert self.loop is not None, f"{self.name} is not started"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Call `fn` on the loop's thread (state the loop's tasks change is read there)."""

        async def on_loop() -> T:
            return fn()

        return self.call(on_loop(), timeout)

    async def wait(self, coro: Coroutine[Any, Any, T]) -> T:
        """For async tests: `coro` on this loop, awaited without blocking the caller's loop."""
        assert self.loop is not None, f"{self.name} is not started"
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self, teardown: Coroutine[Any, Any, object], timeout: float = 10.0) -> None:
        """Run `teardown` on the loop, then stop and close it; nothing if it is not running."""
        if self.loop is None:
            teardown.close()
            return
        try:
            self.call(teardown, timeout)
        finally:
            self._halt(timeout)

    def _halt(self, timeout: float) -> None:
        loop, thread = self.loop, self._thread
        self.loop = self._thread = None
        assert loop is not None and thread is not None
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()
