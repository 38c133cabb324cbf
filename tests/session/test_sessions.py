"""The session service on an in-memory store: every change is stored and announced."""

from __future__ import annotations

from pathlib import Path

import pytest

from wakeful.errors import NotFoundError
from wakeful.session.bus import EventBus, Subscription
from wakeful.session.sessions import Sessions
from wakeful.storage.base import RunRecord
from wakeful.storage.memory import MemoryStore
from wakeful.wire.sessions import SessionCreate


async def drained(sub: Subscription) -> list[tuple[str, str]]:
    """The events published so far: (type, sessionID)."""
    events = []
    while (event := await sub.next(timeout=0)) is not None:
        events.append((event.type, event.properties["sessionID"]))
    return events


async def test_delete_removes_the_whole_subtree_and_announces_each(tmp_path: Path) -> None:
    store, bus = MemoryStore(), EventBus()
    sessions = Sessions(store, bus, index_size=100)
    root = await sessions.create(tmp_path, SessionCreate())
    child = await sessions.create(tmp_path, SessionCreate(parentID=root.id))
    grandchild = await sessions.create(tmp_path, SessionCreate(parentID=child.id))
    other = await sessions.create(tmp_path, SessionCreate())
    user = {"id": "msg_g", "sessionID": grandchild.id, "role": "user"}
    await store.claim_run(RunRecord("msg_g", grandchild.id, "prompt", "h"), user, [])

    assert [s.id for s in await sessions.subtree(root.id)] == [grandchild.id, child.id, root.id]
    sub = bus.subscribe()
    removed = await sessions.delete(root.id)
    assert [s.id for s in removed] == [grandchild.id, child.id, root.id]
    assert await drained(sub) == [("session.deleted", s.id) for s in removed]
    for gone in removed:
        with pytest.raises(NotFoundError):
            await sessions.get(gone.id)
    assert await store.get_message(grandchild.id, "msg_g") is None
    assert await store.get_run("msg_g") is None
    assert (await sessions.get(other.id)).id == other.id

    with pytest.raises(NotFoundError):
        await sessions.delete(root.id)
    with pytest.raises(NotFoundError):
        await sessions.subtree(root.id)
    assert await drained(sub) == []
