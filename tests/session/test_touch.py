"""A session's `time.updated` moves with every change, and each move is announced as
`session.updated`: a rename, a prompt arriving, a run ending (the reference's behaviour)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.inproc import EventLog, answer, new_session, prompt_run, submit
from wakeful.run.runtime import Runtime
from wakeful.session.bus import EventBus
from wakeful.session.sessions import Sessions
from wakeful.storage.memory import MemoryStore
from wakeful.wire.sessions import SessionCreate, SessionUpdate


async def test_touch_moves_time_updated_and_announces_it(tmp_path: Path) -> None:
    bus = EventBus()
    sessions = Sessions(MemoryStore(), bus, index_size=100)
    made = await sessions.create(tmp_path, SessionCreate())
    sub = bus.subscribe()
    touched = await sessions.touch(made.id)
    assert touched is not None and touched.time.updated > made.time.updated
    event = await sub.next(timeout=0)
    assert event is not None and event.type == "session.updated"
    assert event.properties["info"] == touched.wire() == (await sessions.get(made.id)).wire()
    assert await sessions.touch("ses_gone") is None


async def test_a_touch_and_a_rename_at_once_both_land(tmp_path: Path) -> None:
    sessions = Sessions(MemoryStore(), EventBus(), index_size=100)
    made = await sessions.create(tmp_path, SessionCreate())
    await asyncio.gather(
        sessions.touch(made.id),
        sessions.update(made.id, SessionUpdate(title="renamed")),
        sessions.touch(made.id),
    )
    assert (await sessions.get(made.id)).title == "renamed"


async def test_a_prompt_and_the_end_of_its_run_update_the_session(runtime: Runtime) -> None:
    session = await new_session(runtime)
    events = EventLog(runtime)
    handle = await submit(runtime, prompt_run(runtime, session, "REPLY done"))
    arrived = await events.wait_type("session.updated", session.id)
    assert arrived["properties"]["info"]["time"]["updated"] > session.time.updated
    await answer(handle)
    await events.wait_type("session.idle", session.id)
    updates = await events.of("session.updated", session.id)
    assert len(updates) == 2
    times = [u["properties"]["info"]["time"]["updated"] for u in updates]
    assert times[1] > times[0]
    assert (await runtime.sessions.get(session.id)).time.updated == times[1]
