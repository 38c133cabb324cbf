"""The built-in tools, by name. Each tool is stateless, so one instance serves every session."""

from __future__ import annotations

from wakeful.tools.apply_patch import apply_patch_tool
from wakeful.tools.base import Tool
from wakeful.tools.bash import bash_tool
from wakeful.tools.files import edit_tool, read_tool, write_tool
from wakeful.tools.search import glob_tool, grep_tool, list_tool
from wakeful.tools.task import task_tool
from wakeful.tools.todo import todoread_tool, todowrite_tool
from wakeful.tools.webfetch import webfetch_tool

ALL_TOOLS: tuple[Tool, ...] = (
    bash_tool,
    read_tool,
    write_tool,
    edit_tool,
    glob_tool,
    grep_tool,
    list_tool,
    todowrite_tool,
    todoread_tool,
    task_tool,
    webfetch_tool,
    apply_patch_tool,
)
# The model gets apply_patch in place of these (or these without apply_patch).
PATCH_REPLACES = frozenset({"edit", "write"})


def register(tools: dict[str, Tool], tool: Tool) -> None:
    """Offer `tool` under the name the model calls it by; two tools never share a name."""
    name = tool.definition.name
    if name in tools:
        raise ValueError(f"a tool named {name!r} is already registered")
    tools[name] = tool


def builtin_tools() -> dict[str, Tool]:
    """A fresh name -> tool mapping; callers may add or remove entries without affecting others."""
    tools: dict[str, Tool] = {}
    for tool in ALL_TOOLS:
        register(tools, tool)
    return tools


def uses_apply_patch(model_id: str) -> bool:
    """The reference's rule: GPT models from GPT-5 on are trained on the patch format; the open
    weights ones (gpt-oss) and GPT-4 are not."""
    return "gpt-" in model_id and "oss" not in model_id and "gpt-4" not in model_id


def for_model(tools: dict[str, Tool], model_id: str) -> dict[str, Tool]:
    """The tools a model is offered: apply_patch or edit and write, as the model is trained."""
    patch = uses_apply_patch(model_id)
    dropped = PATCH_REPLACES if patch else {apply_patch_tool.definition.name}
    return {name: tool for name, tool in tools.items() if name not in dropped}
