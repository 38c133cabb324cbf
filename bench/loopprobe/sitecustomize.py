"""Diagnostics for the wakeful server under bench/held_calls.py (no change to src/).

This directory goes on the server's PYTHONPATH only when the bench asks for a diagnostic:

- WAKEFUL_BENCH_PROBE=<file>: a task started with uvicorn sleeps 20 ms at a time and writes
  `lag <monotonic> <seconds>` for every wake-up later than 20 ms, and every garbage collection longer
  than 10 ms is written as `gc <monotonic> <seconds> <generation> <collected>`. The server leaves
  through os._exit, so lines are written as they come (line-buffered), not at exit.
- WAKEFUL_BENCH_SLOW=<seconds>: the loop's debug mode, which logs every callback that runs longer
  than that ("Executing <...> took 0.123 seconds"), uvloop included.
- WAKEFUL_BENCH_GC: experiments with the collector. "freeze" runs gc.collect() + gc.freeze() once the
  server has started (start-up objects leave the collector's view); "threshold=A,B,C" calls
  gc.set_threshold(A, B, C); several parts are separated by ";".
- WAKEFUL_BENCH_TRACEMALLOC=<dir>: tracemalloc from interpreter start (WAKEFUL_BENCH_TRACEMALLOC_FRAMES
  frames per traceback, 1 by default); each SIGUSR1 dumps a snapshot
  to <dir>/snapshot-<k>.tracemalloc (k = 1, 2, ...) for the bench to compare.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from typing import TextIO

_PATH = os.environ.get("WAKEFUL_BENCH_PROBE") or None
_SLOW = os.environ.get("WAKEFUL_BENCH_SLOW") or None
_GC = os.environ.get("WAKEFUL_BENCH_GC", "")
_TRACE = os.environ.get("WAKEFUL_BENCH_TRACEMALLOC") or None
_TICK = 0.020
_tasks: set[asyncio.Task[None]] = set()

if _TRACE:
    import signal
    import tracemalloc
    from pathlib import Path
    from types import FrameType

    # more frames (WAKEFUL_BENCH_TRACEMALLOC_FRAMES) tell which caller allocated, at a cost in speed
    tracemalloc.start(int(os.environ.get("WAKEFUL_BENCH_TRACEMALLOC_FRAMES") or 1))
    _snapshots = [0]

    def _dump_snapshot(signum: int, frame: FrameType | None) -> None:
        _snapshots[0] += 1
        assert _TRACE is not None
        tracemalloc.take_snapshot().dump(str(Path(_TRACE) / f"snapshot-{_snapshots[0]}.tracemalloc"))

    signal.signal(signal.SIGUSR1, _dump_snapshot)

if _PATH or _SLOW or _GC:
    import uvicorn.server

    _out: TextIO = open(_PATH or os.devnull, "a", buffering=1)  # lives as long as the process
    _startup = uvicorn.server.Server.startup
    _gc_start = [0.0]

    async def _probe() -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(_TICK)
            lag = time.monotonic() - start - _TICK
            if lag > _TICK:
                _out.write(f"lag {start:.4f} {lag:.4f}\n")

    def _on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _gc_start[0] = time.monotonic()
            return
        took = time.monotonic() - _gc_start[0]
        if took > 0.010:
            _out.write(f"gc {_gc_start[0]:.4f} {took:.4f} {info['generation']} {info['collected']}\n")

    async def _startup_with_probe(self: uvicorn.server.Server, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        if _SLOW:
            loop = asyncio.get_running_loop()
            loop.set_debug(True)
            loop.slow_callback_duration = float(_SLOW)
        if _PATH:
            gc.callbacks.append(_on_gc)
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
