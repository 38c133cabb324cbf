"""What only SQLite has, on a real database file: WAL, and many concurrent writers on one connection.

What every store does is in test_store_contract.py; schema revisions are in test_migrate.py."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from wakeful.storage.base import SessionQuery
from wakeful.storage.sql import SQLStore
from wakeful.storage.sqlite import SQLite


async def test_hundred_sessions_written_concurrently(tmp_path: Path) -> None:
    store = SQLStore(SQLite(tmp_path / "wakeful.db", busy_timeout=5.0))
    await store.open()

    async def one_session(n: int) -> None:
        sid = f"ses_{n:04d}"
        await store.put_session(
            {"id": sid, "projectID": "p", "title": f"s{n}", "time": {"created": n, "updated": n}}
        )
        for m in range(3):
            mid = f"msg_{n:04d}_{m}"
            await store.put_message({"id": mid, "sessionID": sid, "role": "user"})
            for p in range(10):
                part = {
                    "id": f"prt_{n:04d}_{m}_{p}",
                    "sessionID": sid,
                    "messageID": mid,
                    "type": "text",
                    "text": "x" * p,
                }
                await store.put_part(part)

    await asyncio.gather(*(one_session(n) for n in range(100)))
    assert len(await store.list_sessions(SessionQuery(limit=1000))) == 100
    messages = await store.list_messages("ses_0042")
    assert [m["info"]["id"] for m in messages] == ["msg_0042_0", "msg_0042_1", "msg_0042_2"]
    assert [p["id"] for p in messages[1]["parts"]] == [f"prt_0042_1_{p}" for p in range(10)]
    await store.close()

    with sqlite3.connect(tmp_path / "wakeful.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT count(*) FROM parts").fetchone()[0] == 3000



async def test_reader_threads_keep_their_connections_until_the_store_closes(tmp_path: Path) -> None:
    database = SQLite(tmp_path / "wakeful.db", readers=2)
    store = SQLStore(database)
    await store.open()
    await store.put_session({"id": "ses_1", "projectID": "p", "title": "t", "time": {"created": 1, "updated": 1}})
    for _ in range(3):
        found = await asyncio.gather(*(store.get_session("ses_1") for _ in range(20)))
        assert all(session is not None and session["id"] == "ses_1" for session in found)
    pool = database._reader.pool
    assert pool.checkedout() == len(database._readers) <= 2  # one per reader thread, reused
    await store.close()
    assert pool.checkedout() == 0
    assert database._readers == []
