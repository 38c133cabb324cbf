"""What only PostgreSQL has: the URLs people write, a hidden password, and several servers (here,
several stores, each with its own engine and pool) on one database."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import make_url

from wakeful.storage.base import RunRecord
from wakeful.storage.postgres import Postgres, libpq_dsn, redacted
from wakeful.storage.sql import SQLStore


def test_the_urls_people_write_reach_asyncpg_as_libpq_urls() -> None:
    assert libpq_dsn("postgres://u:pw@db:5433/app?sslmode=require") == "postgresql://u:pw@db:5433/app?sslmode=require"
    assert libpq_dsn("postgresql://u@db/app") == "postgresql://u@db/app"
    assert libpq_dsn("postgresql+asyncpg://u:pw@db/app") == "postgresql://u:pw@db/app"
    for wrong in ("mysql://u:pw@db/app", "db:5432/app", "sqlite:///wakeful.db"):
        with pytest.raises(ValueError, match="not a PostgreSQL URL") as refused:
            libpq_dsn(wrong)
        assert "pw" not in str(refused.value)


def test_the_password_is_hidden_wherever_the_url_is_shown() -> None:
    assert redacted("postgresql://u:s3cret@db:5432/app") == "postgresql://u:***@db:5432/app"
    assert redacted("postgres://u@db/app?password=s3cret&sslmode=require") == "postgres://u@db/app?sslmode=require"
    assert "s3cret" not in redacted("postgresql://u:s3cret@db:notaport/app")


@pytest.mark.postgres
async def test_two_servers_claiming_one_message_id_exactly_one_wins(postgres_store: SQLStore, postgres_url: str) -> None:
    first, second = postgres_store, SQLStore(Postgres(postgres_url))
    await asyncio.gather(first.open(), second.open())
    try:
        for n in range(20):
            mid = f"msg_race{n:02d}"
            records = [RunRecord(mid, "ses_r", "prompt", f"hash-{i}", instance=f"server-{i}") for i in range(2)]
            user = {"id": mid, "sessionID": "ses_r", "role": "user"}
            results = await asyncio.gather(
                *(store.claim_run(records[i], user, []) for i in range(2) for store in (first, second))
            )
            winners = [records[i] for i, result in zip((0, 0, 1, 1), results, strict=True) if result is None]
            assert len(winners) == 1, results
            assert all(result == winners[0] for result in results if result is not None)
            assert await first.get_run(mid) == await second.get_run(mid) == winners[0]
        assert len(await second.list_messages("ses_r")) == 20
    finally:
        await asyncio.gather(first.close(), second.close())


@pytest.mark.postgres
async def test_servers_starting_together_on_a_new_database_migrate_it_once(fresh_database: str) -> None:
    stores = [SQLStore(Postgres(fresh_database)) for _ in range(3)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        await stores[0].put_session({"id": "ses_1", "projectID": "p", "title": "t", "time": {"updated": 1}})
        assert await stores[2].get_session("ses_1") is not None
    finally:
        await asyncio.gather(*(store.close() for store in stores))


@pytest.mark.postgres
async def test_a_cancelled_caller_does_not_cancel_its_write(postgres_store: SQLStore, postgres_url: str) -> None:
    await postgres_store.open()
    try:
        caller = asyncio.create_task(
            postgres_store.put_session({"id": "ses_c", "projectID": "p", "title": "t", "time": {"updated": 1}})
        )
        await asyncio.sleep(0)  # the write has started
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
    finally:
        await postgres_store.close()  # waits for the write
    reopened = SQLStore(Postgres(postgres_url))
    await reopened.open()
    try:
        assert await reopened.get_session("ses_c") is not None
    finally:
        await reopened.close()


@pytest.mark.postgres
async def test_opening_logs_where_without_the_password(
    postgres_store: SQLStore, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="wakeful.storage"):
        await postgres_store.open()
    await postgres_store.close()
    assert f"PostgreSQL at {redacted(postgres_url)}" in caplog.text
    password = make_url(postgres_url).password
    assert password is None or password not in caplog.text
