"""SQLite, the default database: one file in the data directory, one server process.

SQLite stays healthy under many concurrent runs by three rules: one writer connection fed by a
group-commit queue (`storage.writer`: writers queue in memory instead of hitting `database is
locked` or a pool timeout, and many writes share one commit); every write transaction opens with
`BEGIN IMMEDIATE`, so it takes the write lock up front instead of failing on upgrade; and writes are
short (`storage.sql`). Readers use their own small pool and see WAL snapshots: each read runs all
its statements in one of as many threads as there are reader connections, so that it crosses
between the event loop and a thread once, not once per statement (as an async driver does), and
each of those threads keeps its connection until the store closes (a read is then its transaction
alone, without a checkout from the pool and the rollback that returns a connection to it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects.sqlite import insert

from wakeful.storage import migrate
from wakeful.storage.threads import Threads
from wakeful.storage.writer import GroupWriter

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
log = logging.getLogger("wakeful.storage")


def _engine(path: Path, *, begin: str, connections: int, busy_timeout: float) -> Engine:
    """As many connections as the threads that use them (the readers' pool, the writer's one
    thread), so no thread waits for a connection; a connection may serve any of those threads."""
    engine = create_engine(
        f"sqlite:///{path}",
        pool_size=connections,
        max_overflow=0,
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
    )
    _configure(engine, begin=begin, busy_timeout=busy_timeout)
    return engine


def _configure(engine: Engine, *, begin: str, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below instead of pysqlite's implicit BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # On the driver: through SQLAlchemy's execution it cost more than the write it opened.
        conn.connection.driver_connection.execute(begin)


class SQLite:
    """The `storage.sql.Database` of a SQLite file."""

    insert = staticmethod(insert)

    def __init__(self, path: Path, *, readers: int = 4, busy_timeout: float = 30.0) -> None:
        self.path = path
        self._reader = _engine(path, begin="BEGIN", connections=readers, busy_timeout=busy_timeout)
        # As many threads as connections: a burst of reads queues here, never for a connection.
        self._reading = Threads(readers, "wakeful-read")
        self._thread_reader = threading.local()
        self._readers: list[Connection] = []  # every reader thread's connection, closed with the store
        self.writes = GroupWriter(_engine(path, begin="BEGIN IMMEDIATE", connections=1, busy_timeout=busy_timeout))

    async def open(self) -> None:
        log.info("storage: SQLite at %s", self.path)
        if await self.read(migrate.needs_alembic):
            await asyncio.to_thread(migrate.scripts)
        await self.writes.run(migrate.upgrade)

    async def read(self, op: Callable[[Connection], T]) -> T:
        return await self._reading.call(self._read, op)

    def _read(self, op: Callable[[Connection], T]) -> T:
        conn: Connection | None = getattr(self._thread_reader, "conn", None)
        if conn is None:
            conn = self._thread_reader.conn = self._reader.connect()
            self._readers.append(conn)
        # One transaction per read: all its statements see one snapshot.
        with conn.begin():
            return op(conn)

    async def write(self, op: Callable[[Connection], T]) -> T:
        return await self.writes.run(op)

    async def write_bulk(self, bulk: Callable[[Connection, list[I]], list[T]], item: I) -> T:
        return await self.writes.run_bulk(bulk, item)

    async def close(self) -> None:
        await self.writes.close()
        await asyncio.to_thread(self._close_readers)

    def _close_readers(self) -> None:
        self._reading.shutdown()
        for conn in self._readers:
            conn.close()
        self._readers.clear()
        self._reader.dispose()
