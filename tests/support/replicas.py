"""Replicas for the tests marked `postgres`: wakeful server processes sharing one PostgreSQL
database of their own (created on the session's cluster, dropped afterwards), each with its own
data directory, as docs/deploy.md tells operators to run them."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from tests.support.server import WakefulProcess
from wakeful.storage.base import RunRecord
from wakeful.storage.postgres import Postgres
from wakeful.storage.sql import SQLStore


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def database(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the cluster of `postgres_url`, dropped on exit."""
    name = f"wakeful_{secrets.token_hex(6)}"
    asyncio.run(_admin(postgres_url, f'CREATE DATABASE "{name}"'))
    try:
        yield urlsplit(postgres_url)._replace(path=f"/{name}").geturl()
    finally:
        asyncio.run(_admin(postgres_url, f'DROP DATABASE "{name}" WITH (FORCE)'))


def replica(root: Path, name: str, project: Path, url: str, *args: str, **env: str) -> WakefulProcess:
    return WakefulProcess(root / name, project, args=["--database-url", url, *args], env=dict(env))


def start_all(*procs: WakefulProcess) -> list[WakefulProcess]:
    """Start the servers side by side (each takes seconds to import and open its store)."""
    with ThreadPoolExecutor(len(procs)) as pool:
        return list(pool.map(lambda proc: proc.start(), procs))


@contextmanager
def two_replicas(root: Path, project: Path, postgres_url: str) -> Iterator[tuple[WakefulProcess, WakefulProcess]]:
    """Replicas `a` and `b` of `project` on a fresh database of the throwaway cluster, stopped after."""
    with database(postgres_url) as url:
        a, b = start_all(replica(root, "a", project, url), replica(root, "b", project, url))
        try:
            yield a, b
        finally:
            a.stop()
            b.stop()


def stored_run(url: str, message_id: str) -> RunRecord | None:
    """The run's claim as the database holds it, read by a store of the test's own."""

    async def read() -> RunRecord | None:
        store = SQLStore(Postgres(url))
        await store.open()
        try:
            return await store.get_run(message_id)
        finally:
            await store.close()

    return asyncio.run(read())
