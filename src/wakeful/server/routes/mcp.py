"""`GET /mcp`: the state of each configured MCP server. wakeful runs none yet, so the map is empty;
the MCP work replaces this module."""

from __future__ import annotations

from fastapi import APIRouter

from wakeful.server.deps import Directory
from wakeful.server.routing import WireRoute
from wakeful.wire.ui import MCPStatus

router = APIRouter(route_class=WireRoute, tags=["mcp"])


@router.get("/mcp", operation_id="mcp.status")
async def mcp_status(directory: Directory) -> dict[str, MCPStatus]:
    del directory
    return {}
