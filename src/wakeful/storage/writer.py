"""Group commit: every write of the store goes through one writer task, many writes per transaction.

Hundreds of runs write at once (claims, messages, parts). One transaction per write would make each
wait for all the commits queued before it, and a new call's claim (which must finish before its
headers go out) would wait behind every running call's part updates. Instead, writes queue in memory,
and the writer applies everything queued in one `BEGIN IMMEDIATE` transaction, in submission order,
in one trip to the database thread. If a batch fails, each of its writes is retried alone, so one bad
write cannot fail the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
Op = Callable[[Connection], Any]
MAX_BATCH = 512


class GroupWriter:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

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
                async with self.engine.begin() as conn:
                    results = await conn.run_sync(_apply, [op for op, _ in batch])
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
            async with self.engine.begin() as conn:
                return True, await conn.run_sync(op)
        except Exception as exc:
            return False, exc

    async def close(self) -> None:
        if self._task is not None:
            await self._task


def _apply(conn: Connection, ops: list[Op]) -> list[tuple[bool, Any]]:
    # Any failure aborts the whole transaction, so the batch is then retried write by write.
    return [(True, op(conn)) for op in ops]
