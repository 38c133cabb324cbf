"""The threads that tools' blocking file work runs in.

A pool of its own, sized by `ServerConfig.tool_threads`, rather than asyncio's default executor:
tool work cannot starve whatever else uses that one, and the runtime decides how much of it runs at
once. Every job takes a stop flag. When the awaiting task is cancelled (abort, a deadline, shutdown)
a job still queued is dropped and a running one sees its flag set; jobs check it as they go (walks
per directory, reads per line) and return, so a cancelled call gives its thread back. Together with
non-blocking opens (`wakeful.project.files`), no job can hold a thread forever.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
DEFAULT_THREADS = 16


class ToolPool:
    def __init__(self, threads: int = DEFAULT_THREADS) -> None:
        self.threads = threads
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="wakeful-tool")

    async def run(self, fn: Callable[[threading.Event], T]) -> T:
        """`fn(stop)` in a thread of the pool; `stop` is set once the caller stops waiting."""
        stop = threading.Event()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, stop)
        finally:
            stop.set()

    def close(self) -> None:
        """Drop queued jobs and let the threads go once their running jobs return."""
        self._executor.shutdown(wait=False, cancel_futures=True)


@functools.cache
def default_pool() -> ToolPool:
    """The pool of tool contexts made outside a runtime (tests, embedders): one per process."""
    return ToolPool()
