"""MCP servers of the request's project: their status, adding one at run time, connecting and
disconnecting one, and their resources. What they do: `wakeful.mcp`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi import Path as PathParam

from wakeful.server.deps import Directory, RuntimeDep
from wakeful.server.routing import WireRoute
from wakeful.wire.mcp import McpAddBody, McpResource, MCPStatus

router = APIRouter(route_class=WireRoute)
ServerName = Annotated[str, PathParam(alias="name")]


@router.get("/mcp", operation_id="mcp.status", tags=["mcp"])
async def mcp_status(runtime: RuntimeDep, directory: Directory) -> dict[str, MCPStatus]:
    """Each configured server: `connected`, `failed` with the error, or `disabled`. Servers not
    started yet are started first, and the answer waits for their first attempt."""
    return await runtime.mcp.status(runtime.projects.load(directory))


@router.post("/mcp", operation_id="mcp.add", tags=["mcp"])
async def mcp_add(
    runtime: RuntimeDep, directory: Directory, body: Annotated[McpAddBody, Body()]
) -> dict[str, MCPStatus]:
    """Add a server to the project (until the server stops), or replace the one of that name, and
    connect it; answers every server's status."""
    return await runtime.mcp.add(runtime.projects.load(directory), body.name, body.config)


@router.post("/mcp/{name}/connect", operation_id="mcp.connect", tags=["mcp"])
async def mcp_connect(runtime: RuntimeDep, directory: Directory, name: ServerName) -> bool:
    """Connect a server, even one its entry disables; returns once the attempt has ended."""
    await runtime.mcp.switch(runtime.projects.load(directory), name, True)
    return True


@router.post("/mcp/{name}/disconnect", operation_id="mcp.disconnect", tags=["mcp"])
async def mcp_disconnect(runtime: RuntimeDep, directory: Directory, name: ServerName) -> bool:
    """Disconnect a server (a local one is stopped); its status is `disabled` until it is connected."""
    await runtime.mcp.switch(runtime.projects.load(directory), name, False)
    return True


@router.get("/experimental/resource", operation_id="experimental.resource.list", tags=["experimental"])
async def resources(runtime: RuntimeDep, directory: Directory) -> dict[str, McpResource]:
    """The resources of the project's connected servers, keyed `<server>:<resource name>`."""
    return await runtime.mcp.resources(runtime.projects.load(directory))
