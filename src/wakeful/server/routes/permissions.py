"""Permission requests: list what runs wait on, and answer them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi import Path as PathParam

from wakeful.errors import NotFoundError, PermissionNotFoundError
from wakeful.server.deps import Directory, ExistingSession, RuntimeDep
from wakeful.server.routing import WireRoute
from wakeful.wire.permissions import PermissionReplyBody, PermissionRequest, PermissionRespondBody

router = APIRouter(route_class=WireRoute)
RequestID = Annotated[str, PathParam(alias="requestID", pattern=r"^per")]
PermissionID = Annotated[str, PathParam(alias="permissionID", pattern=r"^per")]


@router.get("/permission", operation_id="permission.list", tags=["permission"])
async def list_permissions(runtime: RuntimeDep, directory: Directory) -> list[PermissionRequest]:
    """Every pending request, of every session, oldest first."""
    del directory
    return await runtime.permissions.list()


@router.post("/permission/{requestID}/reply", operation_id="permission.reply", tags=["permission"])
async def reply(
    runtime: RuntimeDep,
    directory: Directory,
    request_id: RequestID,
    body: Annotated[PermissionReplyBody, Body()],
) -> bool:
    """`once` lets the call run; `always` also allows its `always` patterns for the rest of the
    session; `reject` refuses it (a `message` is passed to the model)."""
    del directory
    await runtime.permissions.reply(request_id, body.reply, body.message)
    return True


@router.post(
    "/session/{sessionID}/permissions/{permissionID}",
    operation_id="permission.respond",
    tags=["session"],
    deprecated=True,
)
async def respond(
    runtime: RuntimeDep,
    directory: Directory,
    session: ExistingSession,
    permission_id: PermissionID,
    body: Annotated[PermissionRespondBody, Body()],
) -> bool:
    """The older form of `POST /permission/{requestID}/reply`, for a request of this session."""
    del directory
    try:
        await runtime.permissions.reply(permission_id, body.response, session_id=session.id)
    except PermissionNotFoundError as exc:
        raise NotFoundError(f"{exc.message} in session {session.id}") from None
    return True
