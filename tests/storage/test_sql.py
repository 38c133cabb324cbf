"""What only the SQLite store has, on a real database file: WAL, concurrency, schema versions.

What every store does is in test_store_contract.py."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from wakeful.storage.base import SessionQuery
from wakeful.storage.sql import SQLStore


async def test_hundred_sessions_written_concurrently(tmp_path: Path) -> None:
    store = SQLStore(tmp_path / "wakeful.db", busy_timeout=5.0)
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
        assert raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
        assert raw.execute("SELECT count(*) FROM parts").fetchone()[0] == 3000


async def test_schema_is_versioned_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "wakeful.db"
    store = SQLStore(path)
    await store.open()
    await store.put_session(
        {"id": "ses_x", "projectID": "p", "title": "kept", "time": {"created": 1, "updated": 1}}
    )
    await store.close()
    again = SQLStore(path)
    await again.open()
    assert (await again.get_session("ses_x"))["title"] == "kept"  # type: ignore[index]
    await again.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wakeful.db"
    store = SQLStore(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    newer = SQLStore(path)
    with pytest.raises(RuntimeError, match="newer"):
        await newer.open()
    await newer.close()
