"""A client-chosen part id is the client's only while nobody else has it: claiming a run with a part
id already stored anywhere is a conflict, and writes nothing (issue 12)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wakeful.errors import ConflictError
from wakeful.storage.base import RunRecord, Store
from wakeful.storage.memory import MemoryStore
from wakeful.storage.sql import SQLStore
from wakeful.storage.sqlite import SQLite


@pytest.fixture(params=["sql", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    made: Store = SQLStore(SQLite(tmp_path / "wakeful.db")) if request.param == "sql" else MemoryStore()
    await made.open()
    yield made
    await made.close()


def user(mid: str, sid: str) -> dict[str, str]:
    return {"id": mid, "sessionID": sid, "role": "user"}


def text(pid: str, mid: str, sid: str, words: str) -> dict[str, str]:
    return {"id": pid, "sessionID": sid, "messageID": mid, "type": "text", "text": words}


async def test_a_part_id_stored_anywhere_cannot_be_claimed_again(store: Store) -> None:
    mine = text("prt_shared", "msg_mine", "ses_mine", "mine")
    assert (
        await store.claim_run(
            RunRecord("msg_mine", "ses_mine", "prompt", "h1"), user("msg_mine", "ses_mine"), [mine]
        )
        is None
    )

    theirs = [
        text("prt_new", "msg_theirs", "ses_theirs", "new"),
        text("prt_shared", "msg_theirs", "ses_theirs", "taken"),
    ]
    with pytest.raises(ConflictError) as conflict:
        await store.claim_run(
            RunRecord("msg_theirs", "ses_theirs", "prompt", "h2"), user("msg_theirs", "ses_theirs"), theirs
        )
    assert conflict.value.resource == "prt_shared"

    assert await store.get_message("ses_mine", "msg_mine") == {
        "info": user("msg_mine", "ses_mine"),
        "parts": [mine],
    }
    assert await store.get_run("msg_theirs") is None
    assert await store.get_message("ses_theirs", "msg_theirs") is None
    assert await store.list_messages("ses_theirs") == []


async def test_the_conflict_fails_only_its_own_claim(store: Store) -> None:
    await store.claim_run(
        RunRecord("msg_a", "ses_a", "prompt", "h"),
        user("msg_a", "ses_a"),
        [text("prt_a", "msg_a", "ses_a", "a")],
    )
    results = await asyncio.gather(
        store.claim_run(
            RunRecord("msg_b", "ses_b", "prompt", "h"),
            user("msg_b", "ses_b"),
            [text("prt_a", "msg_b", "ses_b", "b")],
        ),
        store.claim_run(
            RunRecord("msg_c", "ses_c", "prompt", "h"),
            user("msg_c", "ses_c"),
            [text("prt_c", "msg_c", "ses_c", "c")],
        ),
        return_exceptions=True,
    )
    assert isinstance(results[0], ConflictError) and results[1] is None
    assert [p["id"] for p in (await store.get_message("ses_c", "msg_c") or {})["parts"]] == ["prt_c"]
