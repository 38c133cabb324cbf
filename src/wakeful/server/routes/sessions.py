"""Session routes: create, list, get, update, delete, children, status."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Query
from pydantic import TypeAdapter

from wakeful.errors import InvalidRequestError
from wakeful.server.deps import LIMIT_MAX, Directory, ExistingSession, RuntimeDep, SessionID
from wakeful.server.routing import WireRoute
from wakeful.session.sessions import project_id
from wakeful.storage.base import SessionQuery
from wakeful.wire.activity import SessionStatus, Todo
from wakeful.wire.sessions import Session, SessionCreate, SessionUpdate

router = APIRouter(tags=["session"], route_class=WireRoute)
STATUSES: TypeAdapter[dict[str, SessionStatus]] = TypeAdapter(dict[str, SessionStatus])
TODOS: TypeAdapter[list[Todo]] = TypeAdapter(list[Todo])


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
    runtime: RuntimeDep,
    directory: Directory,
    roots: Annotated[str | None, Query()] = None,
    start: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    search: Annotated[str | None, Query()] = None,
    limit: Annotated[float | None, Query(ge=0, le=LIMIT_MAX, allow_inf_nan=False)] = None,
    scope: Annotated[str | None, Query()] = None,
    path: Annotated[str | None, Query()] = None,
) -> list[Session]:
    del path
    if limit is not None and limit != int(limit):
        raise InvalidRequestError("limit must be an integer", field="limit")
    if search is not None and len(search) > runtime.config.search_max_chars:
        raise InvalidRequestError(
            f"search: at most {runtime.config.search_max_chars} characters", field="search"
        )
    if scope not in (None, "project"):
        raise InvalidRequestError("scope must be 'project'", field="scope")
    query = SessionQuery(
        project_id=project_id(directory),
        roots=_bool(roots, "roots"),
        search=search or None,
        start=start,
        limit=int(limit) if limit is not None else 100,
    )
    return await runtime.sessions.list(query)


@router.post("/session", operation_id="session.create")
async def create_session(
    runtime: RuntimeDep, directory: Directory, body: Annotated[SessionCreate | None, Body()] = None
) -> Session:
    runtime.refuse_when_draining()
    return await runtime.sessions.create(directory, body or SessionCreate())


@router.get("/session/status", operation_id="session.status")
async def session_status(runtime: RuntimeDep, directory: Directory) -> dict[str, SessionStatus]:
    """The sessions that are busy or waiting to retry; a session not listed is idle."""
    del directory
    return STATUSES.validate_python(runtime.runs.statuses())


@router.get("/session/{sessionID}", operation_id="session.get")
async def get_session(directory: Directory, session: ExistingSession) -> Session:
    del directory
    return session


@router.patch("/session/{sessionID}", operation_id="session.update")
async def update_session(
    runtime: RuntimeDep, directory: Directory, session_id: SessionID, body: Annotated[SessionUpdate, Body()]
) -> Session:
    del directory
    return await runtime.sessions.update(session_id, body)


@router.delete("/session/{sessionID}", operation_id="session.delete")
async def delete_session(runtime: RuntimeDep, directory: Directory, session: ExistingSession) -> bool:
    del directory
    # Runs are stopped first, so that nothing writes into a deleted session.
    subtree = await runtime.sessions.subtree(session.id)
    await asyncio.gather(*(runtime.runs.abort(s.id, reason="Session deleted") for s in subtree))
    await runtime.sessions.delete(session.id)
    for gone in subtree:
        runtime.permissions.forget(gone.id)
    return True


@router.get("/session/{sessionID}/children", operation_id="session.children")
async def session_children(
    runtime: RuntimeDep, directory: Directory, session: ExistingSession
) -> list[Session]:
    del directory
    children = await runtime.sessions.list(SessionQuery(parent_id=session.id, limit=10_000))
    return children[::-1]


@router.get("/session/{sessionID}/todo", operation_id="session.todo")
async def session_todo(runtime: RuntimeDep, directory: Directory, session: ExistingSession) -> list[Todo]:
    del directory
    return TODOS.validate_python(await runtime.todos.get_todos(session.id))
