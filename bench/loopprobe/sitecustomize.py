"""An event-loop lag probe for the wakeful server under bench/held_calls.py --probe (no change to src/).

On the server's PYTHONPATH only. When WAKEFUL_BENCH_PROBE names a file, a task started with uvicorn
sleeps 20 ms at a time and notes every wake-up later than 20 ms; at exit the file gets one line
`<monotonic> <lag seconds>` per late wake-up.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import time

_PATH = os.environ.get("WAKEFUL_BENCH_PROBE")
_TICK = 0.020
_tasks: set[asyncio.Task[None]] = set()
_late: list[tuple[float, float]] = []


def _dump(path: str) -> None:
    with open(path, "a") as out:
        out.writelines(f"{start:.4f} {lag:.4f}\n" for start, lag in _late)

if _PATH:
    import uvicorn.server

    _startup = uvicorn.server.Server.startup

    atexit.register(_dump, _PATH)

    async def _probe() -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(_TICK)
            lag = time.monotonic() - start - _TICK
            if lag > _TICK:
                _late.append((start, lag))

    async def _startup_with_probe(self: uvicorn.server.Server, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        task = asyncio.create_task(_probe())
        _tasks.add(task)
        await _startup(self, sockets)

    uvicorn.server.Server.startup = _startup_with_probe  # type: ignore[method-assign]
