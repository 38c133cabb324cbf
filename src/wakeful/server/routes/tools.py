"""`GET /experimental/tool/ids` and `GET /experimental/tool`: the tools, as the reference lists them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from wakeful.run.prompt import listed_tools
from wakeful.server.deps import Directory, RuntimeDep
from wakeful.server.routing import WireRoute
from wakeful.wire.tools import ToolListItem

router = APIRouter(route_class=WireRoute, tags=["experimental"])


@router.get("/experimental/tool/ids", operation_id="tool.ids")
async def tool_ids(runtime: RuntimeDep, directory: Directory) -> list[str]:
    """Every built-in tool, whichever model it is offered to."""
    del directory
    return list(runtime.tools)


@router.get("/experimental/tool", operation_id="tool.list")
async def tool_list(
    runtime: RuntimeDep,
    directory: Directory,
    provider: Annotated[str, Query()],
    model: Annotated[str, Query()],
) -> list[ToolListItem]:
    """The tools the model is offered (apply_patch or edit and write, as it is trained), with the
    JSON schema of their arguments; an agent's rules may offer fewer."""
    del provider  # the reference's choice depends on the model's id alone
    return [
        ToolListItem(id=name, description=tool.definition.description, parameters=tool.definition.parameters)
        for name, tool in listed_tools(runtime, directory, model).items()
    ]
