"""`GET /event`: the server-sent event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from wakeful.server.deps import Directory, State
from wakeful.session.bus import make_event

router = APIRouter(tags=["event"])

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


@router.get("/event", operation_id="event.subscribe")
async def subscribe(
    state: State, directory: Directory, last_event_id: Annotated[str | None, Header()] = None
) -> StreamingResponse:
    del directory
    bus = state.bus
    sub = bus.subscribe(last_event_id)

    async def body() -> AsyncIterator[bytes]:
        yield make_event("server.connected", {}).frame
        async for event in bus.stream(sub, state.config.sse_heartbeat):
            yield event.frame

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)
