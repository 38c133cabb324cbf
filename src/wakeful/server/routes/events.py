"""`GET /event`: the server-sent event stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from wakeful.events import Event, make_event
from wakeful.server.deps import Directory, State

router = APIRouter(tags=["event"])

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def encode(event: Event) -> bytes:
    data = json.dumps(event.wire(), separators=(",", ":"), ensure_ascii=False)
    # Only replayable events carry an SSE id, so heartbeats never move a client's Last-Event-ID.
    head = f"id: {event.id}\n" if event.seq else ""
    return f"{head}data: {data}\n\n".encode()


@router.get("/event", operation_id="event.subscribe")
async def subscribe(
    state: State, directory: Directory, last_event_id: Annotated[str | None, Header()] = None
) -> StreamingResponse:
    del directory
    bus = state.bus
    sub = bus.subscribe(last_event_id)

    async def body() -> AsyncIterator[bytes]:
        yield encode(make_event("server.connected", {}))
        async for event in bus.stream(sub, state.config.sse_heartbeat):
            yield encode(event)

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)
