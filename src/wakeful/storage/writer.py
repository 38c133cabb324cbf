"""Group commit: every write of the store goes through one writer task, many writes per transaction.

Hundreds of runs write at once (claims, messages, parts). One transaction per write would make each
wait for all the commits queued before it, and a new call's claim (which must finish before its
headers go out) would wait behind every running call's part updates. Instead, writes queue in memory,
and the writer applies everything queued in one `BEGIN IMMEDIATE` transaction, in submission order.
If a batch fails, each of its writes is retried alone, so one bad write cannot fail the others.

The writer's connection is a plain (synchronous) one, used on the event loop itself, a batch of at
most MAX_BATCH writes (a few milliseconds) at a time. Elsewhere it would cost more loop time, not
less: an async driver crosses between the loop and its thread once per statement, and a thread of
our own still needs the interpreter lock for every statement (SQLAlchemy is Python), which it gets
back only after the busy loop's switch interval (5 ms) each time SQLite releases it; under a burst
a batch of a thousand claims then took seconds. SQLite in WAL mode with `synchronous=NORMAL` does
not sync the disk on commit, and this process is its only writer (the data-directory lock), so a
statement never waits for a lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")
Op = Callable[[Connection], Any]
MAX_BATCH = 128


class GroupWriter:
    def __init__(self, engine: Engine) -> None:
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
        await asyncio.sleep(0)  # let the writes of this loop iteration's callbacks join the batch
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = self._transaction(_apply, [op for op, _ in batch])
            except Exception:
                results = [self._alone(op) for op, _ in batch]
            for (_, future), (ok, value) in zip(batch, results, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            await asyncio.sleep(0)  # what waited meanwhile (keep-alives, requests) runs now

    def _alone(self, op: Op) -> tuple[bool, Any]:
        try:
            return True, self._transaction(op)
        except Exception as exc:
            return False, exc

    def _transaction(self, fn: Callable[..., T], *args: Any) -> T:
        with self.engine.begin() as conn:
            return fn(conn, *args)

    async def close(self) -> None:
        if self._task is not None:
            await self._task
        self.engine.dispose()


def _apply(conn: Connection, ops: list[Op]) -> list[tuple[bool, Any]]:
    # Any failure aborts the whole transaction, so the batch is then retried write by write.
    return [(True, op(conn)) for op in ops]
