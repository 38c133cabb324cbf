"""PostgreSQL, for servers that share one database: a pool of connections on asyncpg.

Unlike SQLite's single writer, every write is its own transaction on a pooled connection, and
transactions run concurrently, here and in other processes: whatever must hold across them is a
database constraint (the run claim is the `runs` primary key). Reads run at REPEATABLE READ, so a
read that takes several statements sees one snapshot, as SQLite's WAL readers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Connection, func, make_url, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import create_async_engine

from wakeful.backoff import backoff_delay
from wakeful.config import DATABASE_SCHEMES
from wakeful.storage import migrate

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
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
        async with self._engine.begin() as conn:
            await conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
            if await conn.run_sync(migrate.needs_alembic):
                await asyncio.to_thread(migrate.scripts)
            await conn.run_sync(migrate.upgrade)

    async def read(self, op: Callable[[Connection], T]) -> T:
        async with self._reader.begin() as conn:
            return await conn.run_sync(op)

    async def write(self, op: Callable[[Connection], T]) -> T:
        task = asyncio.create_task(self._write(op))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)
        # The write happens whatever becomes of the caller: shield it from the caller's cancellation.
        return await asyncio.shield(task)

    async def write_bulk(self, bulk: Callable[[Connection, list[I]], list[T]], item: I) -> T:
        # Concurrent transactions, one per write: nothing to group.
        return await self.write(lambda conn: bulk(conn, [item])[0])

    async def _write(self, op: Callable[[Connection], T]) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(op)

    async def close(self) -> None:
        await asyncio.gather(*self._writing, return_exceptions=True)
        await self._engine.dispose()


class Listener:
    """`LISTEN channel` on a dedicated connection, kept open: each notification's payload goes to
    `on_payload` (called on the loop, so it must not block), and after every (re)connection
    `on_connect` runs, once the LISTEN holds, so that the owner can read what was notified while
    the connection was down. A lost connection is noticed by a ping every `ping` seconds at the
    latest, and reopened with backoff. `start` returns once the first LISTEN holds; `close` ends it.
    """

    def __init__(
        self,
        url: str,
        channel: str,
        on_payload: Callable[[str], None],
        on_connect: Callable[[], Awaitable[None]],
        *,
        ping: float = 5.0,
        timeout: float = 30.0,
    ) -> None:
        self._dsn = libpq_dsn(url)
        self._url = redacted(url)
        self.channel = channel
        self._on_payload = on_payload
        self._on_connect = on_connect
        self._ping = ping
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(connected), name="wakeful listener")
        await asyncio.shield(connected)

    async def _run(self, connected: asyncio.Future[None]) -> None:
        attempt = 0
        while True:
            try:
                await self._listen(connected)
                attempt = 0
            except Exception as exc:  # a database gone, or a catch-up read that failed with it
                attempt += 1
                log.warning("listener on %s: %s; reconnecting", self._url, exc)
                if not connected.done() and attempt >= 3:
                    connected.set_exception(exc)
                    return
            await asyncio.sleep(backoff_delay(attempt, 0.2, 5.0))

    async def _listen(self, connected: asyncio.Future[None]) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(self.channel, self._deliver)
            await self._on_connect()
            if not connected.done():
                connected.set_result(None)
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._ping)
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=self._timeout)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), self._timeout)

    def _deliver(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self._on_payload(str(payload))

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
