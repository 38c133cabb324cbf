"""The Python client of wakeful: `Client` (blocking) and `AsyncClient` (asyncio), on httpx.

    from wakeful import Client

    with Client("http://127.0.0.1:4096") as client:
        session = client.create_session(title="nightly")
        reply = client.prompt(session.id, "Fix the failing test")
        print(reply.text)

See docs/client.md. Timeouts are liveness, not deadlines: a long call lives as long as the server
keeps sending keep-alive bytes.
"""

from __future__ import annotations

from wakeful.client.aio import AsyncClient
from wakeful.client.errors import (
    BadRequest,
    ClientError,
    Conflict,
    ConnectionLost,
    DeadlineExceeded,
    NotFound,
    Refused,
    RunFailed,
    ServerError,
    ServiceUnavailable,
    SessionBusy,
    Unauthorized,
)
from wakeful.client.models import Reply
from wakeful.client.sse import Event, Gap
from wakeful.client.sync import Client

__all__ = [
    "AsyncClient",
    "BadRequest",
    "Client",
    "ClientError",
    "Conflict",
    "ConnectionLost",
    "DeadlineExceeded",
    "Event",
    "Gap",
    "NotFound",
    "Refused",
    "Reply",
    "RunFailed",
    "ServerError",
    "ServiceUnavailable",
    "SessionBusy",
    "Unauthorized",
]
