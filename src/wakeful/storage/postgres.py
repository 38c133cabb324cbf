"""PostgreSQL, for servers that share one database: a pool of connections on asyncpg.

Unlike SQLite's single writer, every write is its own transaction on a pooled connection, and
transactions run concurrently, here and in other processes: whatever must hold across them is a
database constraint (the run claim is the `runs` primary key). Reads run at REPEATABLE READ, so a
read that takes several statements sees one snapshot, as SQLite's WAL readers do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Connection, func, make_url, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from wakeful.config import DATABASE_SCHEMES
from wakeful.storage import migrate

T = TypeVar("T")
log = logging.getLogger("wakeful.storage")

# The advisory lock that servers starting together on one database take to migrate it one at a time.
MIGRATION_LOCK = int.from_bytes(b"wakeful", "big")


def libpq_dsn(url: str) -> str:
    """`url` as asyncpg reads it: the libpq URL people write (`postgresql://` or `postgres://`,
    query parameters such as `sslmode` included), also when given as SQLAlchemy spells it."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in DATABASE_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL: {redacted(url)}")
    return f"postgresql://{rest}"


def redacted(url: str) -> str:
    """`url` with its password hidden (libpq also takes one as a query parameter), for logs."""
    try:
        parsed = make_url(url).difference_update_query(["password"])
    except (ArgumentError, ValueError):  # not parseable: nothing of it can be shown safely
        return "<a database URL>"
    return parsed.render_as_string(hide_password=True)


class Postgres:
    """The `storage.sql.Database` of a PostgreSQL URL."""

    insert = staticmethod(insert)

    def __init__(self, url: str, *, pool_size: int = 10, timeout: float = 30.0) -> None:
        dsn = libpq_dsn(url)
        self.url = redacted(url)

        async def connect() -> Any:
            return await asyncpg.connect(dsn, timeout=timeout)

        self._engine = create_async_engine(
            "postgresql+asyncpg://",
            async_creator=connect,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=timeout,
            # A database restarted or failed over leaves dead connections in the pool.
            pool_pre_ping=True,
        )
        self._reader = self._engine.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        self._writing: set[asyncio.Task[Any]] = set()

    async def open(self) -> None:
        log.info("storage: PostgreSQL at %s", self.url)
        await asyncio.to_thread(migrate.scripts)
        async with self._engine.begin() as conn:
            await conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            await conn.run_sync(migrate.upgrade)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.begin() as conn:
            yield conn

    async def write(self, op: Callable[[Connection], T]) -> T:
        task = asyncio.create_task(self._write(op))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)
        # The write happens whatever becomes of the caller: shield it from the caller's cancellation.
        return await asyncio.shield(task)

    async def _write(self, op: Callable[[Connection], T]) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(op)

    async def close(self) -> None:
        await asyncio.gather(*self._writing, return_exceptions=True)
        await self._engine.dispose()
