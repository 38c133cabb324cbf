"""SQLite, the default database: one file in the data directory, one server process.

SQLite stays healthy under many concurrent runs by three rules: one writer connection fed by a
group-commit queue (`storage.writer`: writers queue in memory instead of hitting `database is
locked` or a pool timeout, and many writes share one commit); every write transaction opens with
`BEGIN IMMEDIATE`, so it takes the write lock up front instead of failing on upgrade; and writes are
short (`storage.sql`). Readers use their own small pool and see WAL snapshots.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from wakeful.storage import migrate
from wakeful.storage.writer import GroupWriter

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
log = logging.getLogger("wakeful.storage")
# Readers wait for a connection rather than fail: a burst of thousands of calls queues here.
READER_POOL_TIMEOUT = 600.0


def _engine(path: Path, *, begin: str, pool_size: int, busy_timeout: float, pool_timeout: float) -> AsyncEngine:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{path}",
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=pool_timeout,
        connect_args={"timeout": busy_timeout},
    )
    _configure(engine.sync_engine, begin=begin, busy_timeout=busy_timeout)
    return engine


def _writer_engine(path: Path, *, busy_timeout: float) -> Engine:
    """The group writer's one connection, used only from the writer's thread (`storage.writer`)."""
    engine = create_engine(
        f"sqlite:///{path}",
        pool_size=1,
        max_overflow=0,
        pool_timeout=busy_timeout,
        connect_args={"timeout": busy_timeout},
    )
    _configure(engine, begin="BEGIN IMMEDIATE", busy_timeout=busy_timeout)
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
        conn.exec_driver_sql(begin)


class SQLite:
    """The `storage.sql.Database` of a SQLite file."""

    insert = staticmethod(insert)

    def __init__(self, path: Path, *, readers: int = 4, busy_timeout: float = 30.0) -> None:
        self.path = path
        self._reader = _engine(
            path, begin="BEGIN", pool_size=readers, busy_timeout=busy_timeout, pool_timeout=READER_POOL_TIMEOUT
        )
        self.writes = GroupWriter(_writer_engine(path, busy_timeout=busy_timeout))

    async def open(self) -> None:
        log.info("storage: SQLite at %s", self.path)
        await asyncio.to_thread(migrate.scripts)
        await self.writes.run(migrate.upgrade)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.begin() as conn:
            yield conn

    async def write(self, op: Callable[[Connection], T]) -> T:
        return await self.writes.run(op)

    async def write_bulk(self, bulk: Callable[[Connection, list[I]], list[T]], item: I) -> T:
        return await self.writes.run_bulk(bulk, item)

    async def close(self) -> None:
        await self.writes.close()
        await self._reader.dispose()
