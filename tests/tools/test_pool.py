"""The tool pool: a cancelled call gives its thread back."""

from __future__ import annotations

import asyncio
import threading

from wakeful.tools.pool import ToolPool


async def test_a_cancelled_job_frees_its_thread_for_the_next() -> None:
    pool = ToolPool(1)
    started = threading.Event()

    def endless(stop: threading.Event) -> str:
        started.set()
        while not stop.wait(0.01):  # a walk that would go on forever, checking its flag
            pass
        return "stopped"

    job = asyncio.create_task(pool.run(endless))
    await asyncio.to_thread(started.wait)
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)
    assert await pool.run(lambda stop: "the next job ran") == "the next job ran"
    pool.close()
