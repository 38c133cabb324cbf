"""The envelope of every event on `GET /event`."""

from __future__ import annotations

from typing import Any

from wakeful.wire.base import Wire


class Event(Wire):
    """One SSE `data:` frame. Replayable events also carry an SSE `id:` line (their `evt_` id);
    reconnect with `Last-Event-ID` to receive what was missed. Types: server.connected,
    server.heartbeat, server.gap (wakeful: replay impossible, properties {reason:
    'unknown-id'|'overflow', lastEventID}), session.created|updated|deleted|status|idle|compacted,
    message.updated|removed, message.part.updated|removed|delta, todo.updated,
    permission.asked (a `PermissionRequest`), permission.replied ({sessionID, requestID, reply}),
    mcp.tools.changed ({server}), webhook.delivery (wakeful: a `Delivery`, stored or after an attempt)."""

    id: str
    type: str
    properties: dict[str, Any]


class GlobalEvent(Wire):
    """One SSE `data:` frame of `GET /global/event`: an `Event` and the project directory of the
    session it is about. The server's own events (server.connected, server.heartbeat, server.gap)
    carry no directory."""

    directory: str | None = None
    payload: Event
