"""The store's thread hand-over: results, errors, order, a cancelled caller, shutdown."""

from __future__ import annotations

import asyncio
import threading

import pytest

from wakeful.storage.threads import Threads


async def test_results_errors_and_thread_names() -> None:
    threads = Threads(2, "wakeful-test")
    try:
        name = await threads.call(lambda: threading.current_thread().name)
        assert name in ("wakeful-test_0", "wakeful-test_1")
        assert await threads.call(pow, 2, 10) == 1024
        with pytest.raises(ZeroDivisionError):
            await threads.call(divmod, 1, 0)
    finally:
        await asyncio.to_thread(threads.shutdown)


async def test_calls_start_in_order_on_one_thread() -> None:
    threads = Threads(1, "wakeful-test")
    seen: list[int] = []
    try:
        await asyncio.gather(*(threads.call(seen.append, n) for n in range(50)))
        assert seen == list(range(50))
    finally:
        await asyncio.to_thread(threads.shutdown)


async def test_a_cancelled_caller_call_still_runs_and_shutdown_drains() -> None:
    threads = Threads(1, "wakeful-test")
    gate, ran = threading.Event(), threading.Event()
    blocked = asyncio.create_task(threads.call(gate.wait))
    queued = asyncio.create_task(threads.call(ran.set))
    await asyncio.sleep(0)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    gate.set()
    assert await blocked is True
    await asyncio.to_thread(threads.shutdown)
    assert ran.is_set()
    with pytest.raises(RuntimeError):
        await threads.call(int)
