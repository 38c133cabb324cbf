"""An event-loop lag probe for the wakeful server under bench/held_calls.py --probe (no change to src/).

On the server's PYTHONPATH only. When WAKEFUL_BENCH_PROBE names a file, a task started with uvicorn
sleeps 20 ms at a time and writes `lag <monotonic> <seconds>` for every wake-up later than 20 ms,
and every garbage collection longer than 10 ms is written as `gc <monotonic> <seconds> <generation>
<collected>`.
With WAKEFUL_BENCH_SLOW=<seconds> it also turns on the loop's debug mode, which logs every callback
that runs longer than that ("Executing <...> took 0.123 seconds"), uvloop included.
Experiments without touching src/: WAKEFUL_BENCH_GC="freeze" runs gc.collect() + gc.freeze() once the
server has started (start-up objects leave the collector's view); "threshold=A,B,C" calls
gc.set_threshold(A, B, C); both may be given, comma-free parts separated by ";".
The server leaves through os._exit, so the probe writes as it goes (line-buffered), not at exit.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from typing import TextIO

_PATH = os.environ.get("WAKEFUL_BENCH_PROBE")
_SLOW = os.environ.get("WAKEFUL_BENCH_SLOW")
_GC = os.environ.get("WAKEFUL_BENCH_GC", "")
_TICK = 0.020
_tasks: set[asyncio.Task[None]] = set()

if _PATH:
    import uvicorn.server

    _out: TextIO = open(_PATH, "a", buffering=1)  # lives as long as the process
    _startup = uvicorn.server.Server.startup

    async def _probe() -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(_TICK)
            lag = time.monotonic() - start - _TICK
            if lag > _TICK:
                _out.write(f"lag {start:.4f} {lag:.4f}\n")

    _gc_start = [0.0]

    def _on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _gc_start[0] = time.monotonic()
            return
        took = time.monotonic() - _gc_start[0]
        if took > 0.010:
            _out.write(f"gc {_gc_start[0]:.4f} {took:.4f} {info['generation']} {info['collected']}\n")

    gc.callbacks.append(_on_gc)

    async def _startup_with_probe(self: uvicorn.server.Server, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        if _SLOW:
            loop = asyncio.get_running_loop()
            loop.set_debug(True)
            loop.slow_callback_duration = float(_SLOW)
        task = asyncio.create_task(_probe())
        _tasks.add(task)
        await _startup(self, sockets)
        for part in filter(None, _GC.split(";")):
            if part == "freeze":
                gc.collect()
                gc.freeze()
                _out.write(f"gc-frozen {time.monotonic():.4f} {gc.get_freeze_count()}\n")
            elif part.startswith("threshold="):
                a, b, c = (int(x) for x in part.removeprefix("threshold=").split(","))
                gc.set_threshold(a, b, c)

    uvicorn.server.Server.startup = _startup_with_probe  # type: ignore[method-assign]
