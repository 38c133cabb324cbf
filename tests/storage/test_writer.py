"""The group-commit writer: queued writes share one transaction, and none can fail another."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError

from wakeful.storage.writer import MAX_BATCH, GroupWriter


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = create_engine(f"sqlite:///{tmp_path / 'w.db'}", connect_args={"check_same_thread": False})
    with made.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER NOT NULL)")
    yield made
    made.dispose()


def insert(n: int) -> Any:
    def op(conn: Connection) -> int:
        conn.exec_driver_sql("INSERT INTO t VALUES (?)", (n,))
        return n

    return op


def broken(conn: Connection) -> None:
    conn.exec_driver_sql("INSERT INTO missing VALUES (1)")


def rows(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT n FROM t ORDER BY rowid")]


async def test_writes_queued_together_share_one_commit(engine: Engine) -> None:
    commits: list[object] = []
    event.listen(engine, "commit", commits.append)
    writer = GroupWriter(engine)
    assert await asyncio.gather(*(writer.run(insert(n)) for n in range(100))) == list(range(100))
    await writer.close()
    assert len(commits) == 1
    assert rows(engine) == list(range(100))  # in submission order


async def test_a_failing_write_fails_alone(engine: Engine) -> None:
    writer = GroupWriter(engine)
    results = await asyncio.gather(
        writer.run(insert(1)), writer.run(broken), writer.run(insert(2)), return_exceptions=True
    )
    await writer.close()
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], OperationalError)
    assert rows(engine) == [1, 2]


async def test_a_cancelled_caller_does_not_cancel_its_write(engine: Engine) -> None:
    writer = GroupWriter(engine)
    caller = asyncio.create_task(writer.run(insert(7)))
    await asyncio.sleep(0)  # the write is queued
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await writer.close()
    assert rows(engine) == [7]


async def test_bulk_items_queued_together_go_to_one_call_ahead_of_single_writes(engine: Engine) -> None:
    calls: list[list[int]] = []

    def insert_many(conn: Connection, items: list[int]) -> list[int]:
        calls.append(items)
        for n in items:
            conn.exec_driver_sql("INSERT INTO t VALUES (?)", (n,))
        return [n * 10 for n in items]

    writer = GroupWriter(engine)
    results = await asyncio.gather(
        writer.run_bulk(insert_many, 1), writer.run(insert(2)), writer.run_bulk(insert_many, 3)
    )
    await writer.close()
    assert results == [10, 2, 30]
    assert calls == [[1, 3]]
    assert rows(engine) == [1, 3, 2]


async def test_a_failing_bulk_call_is_retried_item_by_item(engine: Engine) -> None:
    def insert_many(conn: Connection, items: list[int]) -> list[int]:
        for n in items:
            conn.exec_driver_sql("INSERT INTO t VALUES (?)" if n >= 0 else "INSERT INTO missing VALUES (?)", (n,))
        return items

    writer = GroupWriter(engine)
    results = await asyncio.gather(
        writer.run_bulk(insert_many, 1),
        writer.run_bulk(insert_many, -1),
        writer.run(insert(2)),
        return_exceptions=True,
    )
    await writer.close()
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], OperationalError)
    assert rows(engine) == [1, 2]


async def test_a_bulk_write_goes_ahead_of_a_long_queue_of_single_writes(engine: Engine) -> None:
    commits: list[object] = []
    event.listen(engine, "commit", commits.append)
    seen_at: list[int] = []

    def insert_many(conn: Connection, items: list[int]) -> list[int]:
        seen_at.append(len(commits))
        for n in items:
            conn.exec_driver_sql("INSERT INTO t VALUES (?)", (n,))
        return items

    writer = GroupWriter(engine)
    singles = [writer.run(insert(n)) for n in range(MAX_BATCH + 10)]
    results = await asyncio.gather(*singles, writer.run_bulk(insert_many, -1))
    await writer.close()
    assert results[-1] == -1
    assert seen_at == [0]  # in the first transaction, though queued behind more than a batch
    assert len(commits) == 2
