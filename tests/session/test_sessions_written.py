"""Sessions as this server wrote them (wakeful.session.sessions): a read of one is answered without
the store while this server is the only writer; never after a failed write or a delete, nor for
replicas (`written_limit` 0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wakeful.errors import NotFoundError
from wakeful.session.bus import EventBus
from wakeful.session.sessions import Sessions
from wakeful.storage.memory import MemoryStore
from wakeful.wire.sessions import SessionCreate, SessionUpdate


class Reads(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.fail_writes = False

    async def get_session(self, session_id: str) -> dict[str, Any] | None:
        self.reads += 1
        return await super().get_session(session_id)

    async def put_session(self, info: dict[str, Any]) -> None:
        if self.fail_writes:
            raise OSError("disk full")
        await super().put_session(info)


async def test_a_session_this_server_wrote_is_read_without_the_store(tmp_path: Path) -> None:
    store = Reads()
    sessions = Sessions(store, EventBus(), index_size=100)
    created = await sessions.create(tmp_path, SessionCreate())
    touched = await sessions.touch(created.id)
    renamed = await sessions.update(created.id, SessionUpdate(title="renamed"))
    assert store.reads == 0
    assert touched is not None and touched.time.updated > created.time.updated
    got = await sessions.get(created.id)
    assert got == renamed and got is not renamed  # a copy the caller may change
    assert got.model_dump() == (await Sessions(store, EventBus(), index_size=0).get(created.id)).model_dump()


async def test_a_failed_write_and_a_delete_send_reads_to_the_store(tmp_path: Path) -> None:
    store = Reads()
    sessions = Sessions(store, EventBus(), index_size=100)
    created = await sessions.create(tmp_path, SessionCreate())
    store.fail_writes = True
    with pytest.raises(OSError):
        await sessions.update(created.id, SessionUpdate(title="lost"))
    store.fail_writes = False
    assert (await sessions.get(created.id)).title == created.title
    assert store.reads == 1
    await sessions.delete(created.id)
    with pytest.raises(NotFoundError):
        await sessions.get(created.id)


async def test_replicas_keep_no_copy(tmp_path: Path) -> None:
    store = Reads()
    sessions = Sessions(store, EventBus(), index_size=100)
    sessions.written_limit = 0
    created = await sessions.create(tmp_path, SessionCreate())
    await sessions.touch(created.id)
    await sessions.get(created.id)
    assert store.reads == 2
