"""Group commit: every write of the store goes through one writer task, many writes per transaction.

Hundreds of runs write at once (claims, messages, parts). One transaction per write would make each
wait for all the commits queued before it, and a new call's claim (which must finish before its
headers go out) would wait behind every running call's part updates. Instead, writes queue in memory,
and the writer applies everything queued in one `BEGIN IMMEDIATE` transaction, in submission order,
in one trip to the writer's own thread. If a batch fails, each of its writes is retried alone, so one
bad write cannot fail the others.

The writer's connection is a plain (synchronous) one, used only from that thread: an async driver
would cross between the event loop and its thread once per statement, so a batch of a thousand
claims would wait for the loop thousands of times, exactly when the loop is busiest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")
Op = Callable[[Connection], Any]
MAX_BATCH = 512


class GroupWriter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wakeful-writer")

    async def run(self, op: Callable[[Connection], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="wakeful store writer")
        # The write happens whatever becomes of the caller: shield it from the caller's cancellation.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = await self._transaction(_apply, [op for op, _ in batch])
            except Exception:
                results = [await self._alone(op) for op, _ in batch]
            for (_, future), (ok, value) in zip(batch, results, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    async def _alone(self, op: Op) -> tuple[bool, Any]:
        try:
            return True, await self._transaction(op)
        except Exception as exc:
            return False, exc

    async def _transaction(self, fn: Callable[..., T], *args: Any) -> T:
        def apply() -> T:
            with self.engine.begin() as conn:
                return fn(conn, *args)

        return await asyncio.get_running_loop().run_in_executor(self._thread, apply)

    async def close(self) -> None:
        if self._task is not None:
            await self._task
        await asyncio.get_running_loop().run_in_executor(self._thread, self.engine.dispose)
        self._thread.shutdown(wait=False)


def _apply(conn: Connection, ops: list[Op]) -> list[tuple[bool, Any]]:
    # Any failure aborts the whole transaction, so the batch is then retried write by write.
    return [(True, op(conn)) for op in ops]
