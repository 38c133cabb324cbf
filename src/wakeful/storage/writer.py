"""Group commit: every write of the store goes through one writer, many writes per transaction.

Hundreds of runs write at once (claims, messages, parts). One transaction per write would make each
wait for all the commits queued before it, and a new call's claim (which must finish before its
headers go out) would wait behind every running call's part updates. Instead, writes queue in memory,
and the writer applies everything queued in one `BEGIN IMMEDIATE` transaction, in one trip to its own
thread. If a batch fails, each of its writes is retried alone, so one bad write cannot fail the others.
The writer keeps its one connection from its first write to `close`: checking a connection out of the
pool and back (where the pool rolls it back) for every batch cost three times the transaction itself.

The writer's connection is a plain (synchronous) one, used only from that thread: an async driver
would cross between the event loop and its thread once per statement, so a batch of a thousand
claims would wait for the busy loop thousands of times. The thread needs Python's interpreter lock
back after every statement (SQLite releases it while it works), and while the loop is busy it gets
it back only at the loop's next switch (up to 5 ms): so what a burst writes many of is written in
few statements. A *bulk* write (`run_bulk`) names a function that applies many items at once: the
items of one kind queued meanwhile go to one call of it, in the next batch, ahead of every single
write still queued (a call's headers wait for its claim, while thousands of running runs' writes
may be queued). Bulk items create rows no queued write depends on (a claim stores a new run,
message and parts).

    queue: [claim a] [touch s] [claim b] [part p]    ->  thread, one transaction:
                                                         claims([a, b]); touch s; part p; COMMIT
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from wakeful.storage.threads import Threads

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
Op = Callable[[Connection], Any]
# Applies many items in one go and returns one result per item, in order.
Bulk = Callable[[Connection, list[Any]], list[Any]]
MAX_BATCH = 512


@dataclass(slots=True)
class _Write:
    future: asyncio.Future[Any]
    op: Op | None = None
    bulk: Bulk | None = None
    item: Any = None


class GroupWriter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pending: list[_Write] = []  # single writes, in order
        self._bulk: list[_Write] = []  # bulk writes: they jump the queue of single writes
        self._task: asyncio.Task[None] | None = None
        self._thread = Threads(1, "wakeful-writer")
        self._conn: Connection | None = None  # used only in the writer's thread

    async def run(self, op: Callable[[Connection], T]) -> T:
        """`op`'s result once the transaction it was applied in has committed."""
        return await self._queue(_Write(self._future(), op=op))  # type: ignore[no-any-return]

    async def run_bulk(self, bulk: Callable[[Connection, list[I]], list[T]], item: I) -> T:
        """`item`'s result from `bulk`, applied to it with the other items of `bulk` queued meanwhile."""
        return await self._queue(_Write(self._future(), bulk=bulk, item=item))  # type: ignore[no-any-return]

    @staticmethod
    def _future() -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def _queue(self, write: _Write) -> Any:
        (self._pending if write.bulk is None else self._bulk).append(write)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="wakeful store writer")
        # The write happens whatever becomes of the caller: shield it from the caller's cancellation.
        return await asyncio.shield(write.future)

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # the writes queued by this loop iteration's callbacks join the batch
        while self._pending or self._bulk:
            bulk, self._bulk = self._bulk[:MAX_BATCH], self._bulk[MAX_BATCH:]
            single, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            batch = bulk + single
            results = await self._thread.call(self._apply, batch)
            for write, (ok, value) in zip(batch, results, strict=True):
                if write.future.done():
                    continue
                if ok:
                    write.future.set_result(value)
                else:
                    write.future.set_exception(value)

    # --- in the writer's thread -------------------------------------------------------------------

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _apply(self, batch: list[_Write]) -> list[tuple[bool, Any]]:
        try:
            conn = self._connection()
            with conn.begin():
                return _apply_all(conn, batch)
        except Exception:
            # Any failure aborts the whole transaction: each write is then retried alone.
            return [self._alone(write) for write in batch]

    def _alone(self, write: _Write) -> tuple[bool, Any]:
        try:
            conn = self._connection()
            with conn.begin():
                return _apply_all(conn, [write])[0]
        except Exception as exc:
            return False, exc

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()

    async def close(self) -> None:
        if self._task is not None:
            await self._task
        await self._thread.call(self._close)
        self._thread.shutdown()


def _apply_all(conn: Connection, batch: list[_Write]) -> list[tuple[bool, Any]]:
    results: list[tuple[bool, Any] | None] = [None] * len(batch)
    kinds: dict[Bulk, list[int]] = {}
    for index, write in enumerate(batch):
        if write.bulk is not None:
            kinds.setdefault(write.bulk, []).append(index)
    for bulk, indices in kinds.items():
        for index, value in zip(indices, bulk(conn, [batch[i].item for i in indices]), strict=True):
            results[index] = (True, value)
    for index, write in enumerate(batch):
        if write.op is not None:
            results[index] = (True, write.op(conn))
    return results  # type: ignore[return-value]
