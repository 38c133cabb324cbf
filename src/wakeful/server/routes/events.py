"""`GET /event`: the server-sent event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from wakeful.server.deps import Directory, RuntimeDep
from wakeful.server.routing import WireRoute
from wakeful.session.bus import make_event
from wakeful.wire.events import Event

router = APIRouter(tags=["event"], route_class=WireRoute)

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


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
    bus = runtime.bus
    sub = bus.subscribe(last_event_id)

    async def body() -> AsyncIterator[bytes]:
        yield make_event("server.connected", {}).frame
        async for event in bus.stream(sub, runtime.config.sse_heartbeat):
            yield event.frame

    return EventStream(body(), headers=SSE_HEADERS)
