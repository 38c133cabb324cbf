"""`GET /event` and `GET /global/event`: one event bus, two envelopes.

`/event` sends each event as it is (`{id, type, properties}`); `/global/event`, which opencode's
terminal UI follows, wraps it as `{directory, payload}`, the directory being the project of the
session the event is about. Both carry the events of every project, SSE `id:` lines, heartbeats and
`Last-Event-ID` replay alike.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from wakeful.errors import NotFoundError
from wakeful.run.runtime import Runtime
from wakeful.server.deps import Directory, RuntimeDep
from wakeful.server.routing import WireRoute
from wakeful.session.bus import Event as BusEvent
from wakeful.session.bus import make_event
from wakeful.wire.events import Event, GlobalEvent

router = APIRouter(tags=["event"], route_class=WireRoute)

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}
SERVER_EVENTS = ("server.connected", "server.heartbeat", "server.gap")


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


def _stream(
    runtime: Runtime, last_event_id: str | None, frame: Callable[[BusEvent], Awaitable[bytes]]
) -> EventStream:
    bus = runtime.bus
    sub = bus.subscribe(last_event_id)

    async def body() -> AsyncIterator[bytes]:
        yield await frame(make_event("server.connected", {}))
        async for event in bus.stream(sub, runtime.config.sse_heartbeat):
            yield await frame(event)

    return EventStream(body(), headers=SSE_HEADERS)


@router.get(
    "/event",
    operation_id="event.subscribe",
    response_class=EventStream,
    responses={200: {"model": Event, "description": "Server-sent events: one `Event` per `data:` line"}},
)
async def subscribe(
    runtime: RuntimeDep, directory: Directory, last_event_id: Annotated[str | None, Header()] = None
) -> EventStream:
    del directory

    async def frame(event: BusEvent) -> bytes:
        return event.frame

    return _stream(runtime, last_event_id, frame)


class SessionDirectories:
    """The project directory of the session each event is about: learnt from the session events
    themselves (they carry the session), else read once from the store; at most `size` remembered.
    An event about a session that no longer exists is placed in the server's own directory."""

    def __init__(self, runtime: Runtime, size: int = 4096) -> None:
        self.runtime = runtime
        self.size = size
        self._known: OrderedDict[str, str] = OrderedDict()

    async def of(self, event: BusEvent) -> str | None:
        if event.type in SERVER_EVENTS:
            return None
        properties = event.properties
        info = properties.get("info")
        session_id = properties.get("sessionID")
        if event.type.startswith("session.") and isinstance(info, dict) and "directory" in info:
            self._remember(str(info["id"]), str(info["directory"]))
        if not isinstance(session_id, str):
            return str(self.runtime.config.project_dir)
        known = self._known.get(session_id)
        if known is None:
            try:
                known = (await self.runtime.sessions.get(session_id)).directory
            except NotFoundError:
                return str(self.runtime.config.project_dir)
            self._remember(session_id, known)
        self._known.move_to_end(session_id)
        return known

    def _remember(self, session_id: str, directory: str) -> None:
        self._known[session_id] = directory
        self._known.move_to_end(session_id)
        while len(self._known) > self.size:
            self._known.popitem(last=False)


@router.get(
    "/global/event",
    operation_id="global.event",
    tags=["global"],
    response_class=EventStream,
    responses={
        200: {
            "model": GlobalEvent,
            "description": "Server-sent events: one `GlobalEvent` per `data:` line",
        }
    },
)
async def global_subscribe(
    runtime: RuntimeDep, last_event_id: Annotated[str | None, Header()] = None
) -> EventStream:
    directories = SessionDirectories(runtime)

    async def frame(event: BusEvent) -> bytes:
        return event.envelope_frame(await directories.of(event))

    return _stream(runtime, last_event_id, frame)
