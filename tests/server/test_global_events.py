"""`GET /global/event`'s envelope: each event of the one bus wrapped as `{directory, payload}`, the
directory being the project of the session the event is about."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.inproc import new_session
from tests.support.schemas import validate
from wakeful.run.runtime import Runtime
from wakeful.server.routes.events import SessionDirectories
from wakeful.session.bus import EventBus, make_event
from wakeful.wire.sessions import SessionCreate


def data_of(frame: bytes) -> dict[str, object]:
    lines = frame.decode().splitlines()
    data: dict[str, object] = json.loads(next(line for line in lines if line.startswith("data: "))[6:])
    return data


def test_the_envelope_wraps_the_same_event_with_the_same_sse_id() -> None:
    bus = EventBus()
    event = bus.publish("session.idle", {"sessionID": "ses_1"})
    frame = event.envelope_frame("/work/proj ü")
    assert frame.startswith(f"id: {event.id}\n".encode()) and frame.endswith(b"\n\n")
    assert data_of(frame) == {"directory": "/work/proj ü", "payload": data_of(event.frame)}
    connected = make_event("server.connected", {})
    frame = connected.envelope_frame(None)
    assert not frame.startswith(b"id:")  # the server's own events move no Last-Event-ID
    assert data_of(frame) == {"payload": {"id": connected.id, "type": "server.connected", "properties": {}}}


async def test_each_event_is_placed_in_its_sessions_directory(runtime: Runtime, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    here = await new_session(runtime)
    there = await runtime.sessions.create(elsewhere, SessionCreate())
    directories = SessionDirectories(runtime, size=1)
    bus = runtime.bus
    # learnt from the store (a session created before the stream opened), then remembered
    assert await directories.of(bus.publish("session.idle", {"sessionID": there.id})) == str(elsewhere)
    assert await directories.of(bus.publish("todo.updated", {"sessionID": here.id, "todos": []})) == str(
        runtime.config.project_dir
    )
    deleted = bus.publish("session.deleted", {"sessionID": there.id, "info": there.wire()})
    assert await directories.of(deleted) == str(elsewhere)
    await runtime.sessions.delete(there.id)
    # a session gone from the store and from memory: the server's own directory
    assert await directories.of(bus.publish("session.idle", {"sessionID": "ses_gone"})) == str(
        runtime.config.project_dir
    )
    assert await directories.of(make_event("server.heartbeat")) is None
    envelope = data_of(deleted.envelope_frame(await directories.of(deleted)))
    validate("GlobalEvent", envelope)
