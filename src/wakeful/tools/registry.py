"""The built-in tools, by name. Each tool is stateless, so one instance serves every session."""

from __future__ import annotations

from wakeful.tools.base import Tool
from wakeful.tools.bash import BashTool
from wakeful.tools.files import EditTool, ReadTool, WriteTool
from wakeful.tools.search import GlobTool, GrepTool, ListTool
from wakeful.tools.todo import TodoReadTool, TodoWriteTool

ALL_TOOLS: tuple[Tool, ...] = (
    BashTool(),
    ReadTool(),
    WriteTool(),
    EditTool(),
    GlobTool(),
    GrepTool(),
    ListTool(),
    TodoWriteTool(),
    TodoReadTool(),
)

READ_ONLY: frozenset[str] = frozenset(t.name for t in ALL_TOOLS if t.definition.read_only)


def builtin_tools() -> dict[str, Tool]:
    """A fresh name -> tool mapping; callers may add or remove entries without affecting others."""
    return {t.name: t for t in ALL_TOOLS}
