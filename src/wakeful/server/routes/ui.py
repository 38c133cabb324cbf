"""What opencode's terminal UI reads at start-up that wakeful has none of: language servers,
formatters, log-in methods, workspaces, the hosted Console and capabilities.

Every answer is the reference's empty one, so that the UI starts and shows "none"; none of these
things exists in wakeful (keys come from opencode.json, edits are not formatted, runs stay in their
session).
"""

from __future__ import annotations

from fastapi import APIRouter

from wakeful.server.deps import Directory
from wakeful.server.routing import WireRoute
from wakeful.wire.ui import (
    ConsoleState,
    ExperimentalCapabilities,
    FormatterStatus,
    LSPStatus,
    ProviderAuthMethod,
    Workspace,
    WorkspaceStatus,
)

router = APIRouter(route_class=WireRoute)


@router.get("/lsp", operation_id="lsp.status", tags=["lsp"])
async def lsp_status(directory: Directory) -> list[LSPStatus]:
    del directory
    return []


@router.get("/formatter", operation_id="formatter.status", tags=["formatter"])
async def formatter_status(directory: Directory) -> list[FormatterStatus]:
    del directory
    return []


@router.get("/provider/auth", operation_id="provider.auth", tags=["provider"])
async def provider_auth(directory: Directory) -> dict[str, list[ProviderAuthMethod]]:
    """No provider offers a log-in: keys come from opencode.json (`{env:VAR}`)."""
    del directory
    return {}


@router.get("/experimental/capabilities", operation_id="experimental.capabilities.get", tags=["experimental"])
async def capabilities(directory: Directory) -> ExperimentalCapabilities:
    del directory
    return ExperimentalCapabilities(backgroundSubagents=False)


@router.get("/experimental/console", operation_id="experimental.console.get", tags=["experimental"])
async def console(directory: Directory) -> ConsoleState:
    del directory
    return ConsoleState(consoleManagedProviders=[], switchableOrgCount=0)


@router.get("/experimental/workspace", operation_id="experimental.workspace.list", tags=["experimental"])
async def workspaces(directory: Directory) -> list[Workspace]:
    del directory
    return []


@router.get(
    "/experimental/workspace/status", operation_id="experimental.workspace.status", tags=["experimental"]
)
async def workspace_status(directory: Directory) -> list[WorkspaceStatus]:
    del directory
    return []
