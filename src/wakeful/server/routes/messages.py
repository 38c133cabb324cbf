"""Stored messages: list, get, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from wakeful import ids
from wakeful.errors import SessionBusyError
from wakeful.server.deps import LIMIT_MAX, Directory, ExistingSession, MessageID, RuntimeDep
from wakeful.server.routing import WireRoute
from wakeful.wire.messages import MessageWithParts

router = APIRouter(tags=["session"], route_class=WireRoute)


@router.get("/session/{sessionID}/message", operation_id="session.messages")
async def list_messages(
    runtime: RuntimeDep,
    directory: Directory,
    session: ExistingSession,
    limit: Annotated[int | None, Query(ge=0, le=LIMIT_MAX)] = None,
    before: Annotated[str | None, Query(pattern=ids.pattern("msg"))] = None,
) -> list[MessageWithParts]:
    del directory
    return await runtime.messages.list(session.id, limit, before)


@router.get("/session/{sessionID}/message/{messageID}", operation_id="session.message")
async def get_message(
    runtime: RuntimeDep, directory: Directory, session: ExistingSession, message_id: MessageID
) -> MessageWithParts:
    del directory
    return await runtime.messages.get(session.id, message_id)


@router.delete("/session/{sessionID}/message/{messageID}", operation_id="session.deleteMessage")
async def delete_message(
    runtime: RuntimeDep, directory: Directory, session: ExistingSession, message_id: MessageID
) -> bool:
    del directory
    if runtime.runs.is_busy(session.id):
        raise SessionBusyError(session.id)
    await runtime.messages.delete(session.id, message_id)
    return True
