"""Session routes: create, list, get, update, delete, children, status."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from wakeful.errors import InvalidRequestError
from wakeful.server.deps import Directory, SessionID, State
from wakeful.session.sessions import project_id
from wakeful.storage.base import SessionQuery
from wakeful.wire.sessions import SessionCreate, SessionUpdate

router = APIRouter(tags=["session"])


def _bool(value: str | None, field: str) -> bool:
    if value is None:
        return False
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidRequestError(f"{field} must be true or false", field=field)


@router.get("/session", operation_id="session.list")
async def list_sessions(
    state: State,
    directory: Directory,
    roots: Annotated[str | None, Query()] = None,
    start: Annotated[float | None, Query()] = None,
    search: Annotated[str | None, Query()] = None,
    limit: Annotated[float | None, Query()] = None,
    scope: Annotated[str | None, Query()] = None,
    path: Annotated[str | None, Query()] = None,
) -> list[dict[str, Any]]:
    del path
    if limit is not None and (limit < 0 or limit != int(limit)):
        raise InvalidRequestError("limit must be a non-negative integer", field="limit")
    if scope not in (None, "project"):
        raise InvalidRequestError("scope must be 'project'", field="scope")
    query = SessionQuery(
        project_id=project_id(directory),
        roots=_bool(roots, "roots"),
        search=search or None,
        start=start,
        limit=int(limit) if limit is not None else 100,
    )
    return [s.wire() for s in await state.sessions.list(query)]


@router.post("/session", operation_id="session.create")
async def create_session(
    state: State, directory: Directory, body: Annotated[SessionCreate | None, Body()] = None
) -> dict[str, Any]:
    state.refuse_when_draining()
    session = await state.sessions.create(directory, body or SessionCreate())
    return session.wire()


@router.get("/session/status", operation_id="session.status")
async def session_status(state: State, directory: Directory) -> dict[str, Any]:
    del directory
    return state.runs.statuses()


@router.get("/session/{sessionID}", operation_id="session.get")
async def get_session(state: State, directory: Directory, session_id: SessionID) -> dict[str, Any]:
    del directory
    return (await state.sessions.get(session_id)).wire()


@router.patch("/session/{sessionID}", operation_id="session.update")
async def update_session(
    state: State, directory: Directory, session_id: SessionID, body: Annotated[SessionUpdate, Body()]
) -> dict[str, Any]:
    del directory
    return (await state.sessions.update(session_id, body)).wire()


@router.delete("/session/{sessionID}", operation_id="session.delete")
async def delete_session(state: State, directory: Directory, session_id: SessionID) -> bool:
    del directory
    # Runs are stopped first, so that nothing writes into a deleted session.
    subtree = await state.sessions.subtree(session_id)
    await asyncio.gather(*(state.runs.abort(s.id, reason="Session deleted") for s in subtree))
    await state.sessions.delete(session_id)
    return True


@router.get("/session/{sessionID}/children", operation_id="session.children")
async def session_children(state: State, directory: Directory, session_id: SessionID) -> list[dict[str, Any]]:
    del directory
    await state.sessions.get(session_id)
    children = await state.sessions.list(SessionQuery(parent_id=session_id, limit=10_000))
    return [s.wire() for s in reversed(children)]


@router.get("/session/{sessionID}/todo", operation_id="session.todo")
async def session_todo(state: State, directory: Directory, session_id: SessionID) -> list[dict[str, Any]]:
    del directory
    await state.sessions.get(session_id)
    return await state.todos.get_todos(session_id)
