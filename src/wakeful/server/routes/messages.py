"""Stored messages: list, get, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from wakeful.errors import InvalidRequestError, SessionBusyError
from wakeful.server.deps import Directory, MessageID, SessionID, State

router = APIRouter(tags=["session"])


@router.get("/session/{sessionID}/message", operation_id="session.messages")
async def list_messages(
    state: State,
    directory: Directory,
    session_id: SessionID,
    limit: Annotated[int | None, Query(ge=0)] = None,
    before: Annotated[str | None, Query()] = None,
) -> list[dict[str, Any]]:
    del directory
    await state.sessions.get(session_id)
    if before is not None and not before.startswith("msg"):
        raise InvalidRequestError("before must be a message id", field="before")
    return [m.wire() for m in await state.messages.list(session_id, limit, before)]


@router.get("/session/{sessionID}/message/{messageID}", operation_id="session.message")
async def get_message(
    state: State, directory: Directory, session_id: SessionID, message_id: MessageID
) -> dict[str, Any]:
    del directory
    await state.sessions.get(session_id)
    return (await state.messages.get(session_id, message_id)).wire()


@router.delete("/session/{sessionID}/message/{messageID}", operation_id="session.deleteMessage")
async def delete_message(
    state: State, directory: Directory, session_id: SessionID, message_id: MessageID
) -> bool:
    del directory
    await state.sessions.get(session_id)
    if state.runs.is_busy(session_id):
        raise SessionBusyError(session_id)
    await state.messages.delete(session_id, message_id)
    return True
