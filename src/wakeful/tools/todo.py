"""The todowrite and todoread tools: the model's own task list for a session, kept in ctx.todos."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from wakeful.errors import ToolError
from wakeful.tools.base import TodoStore, ToolContext, ToolResult
from wakeful.tools.typed import NonBlank, ToolArgs, tool


# One todo in the reference's `Todo` shape (content, status, priority); no docstring, because
# pydantic would show it to the model as the item's description.
class TodoItem(ToolArgs):
    # Older opencode todos had numeric ids; an id is accepted and not kept.
    model_config = ConfigDict(coerce_numbers_to_str=True)

    content: NonBlank = Field(description="Brief description of the task")
    status: Literal["pending", "in_progress", "completed", "cancelled"] = Field(
        description="Current status of the task"
    )
    priority: Literal["high", "medium", "low"] = Field(description="Priority of the task")
    id: str | None = Field(None, description="Unique identifier for the todo item")

    @model_validator(mode="before")
    @classmethod
    def _medium_by_default(cls, data: Any) -> Any:
        # The schema asks for a priority, as opencode's does; a todo without one is still kept.
        if isinstance(data, dict) and data.get("priority") is None:
            return {**data, "priority": "medium"}
        return data

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id"})


class TodoWriteArgs(ToolArgs):
    todos: list[TodoItem] = Field(description="The updated todo list")


class TodoReadArgs(ToolArgs):
    pass


def _store(ctx: ToolContext) -> TodoStore:
    if ctx.todos is None:
        raise ToolError("Todo lists are not available in this context")
    return ctx.todos


def _result(todos: list[dict[str, Any]]) -> ToolResult:
    # Like opencode, the title counts what is still open.
    open_count = sum(1 for t in todos if t.get("status") != "completed")
    return ToolResult(
        output=json.dumps(todos, indent=2), title=f"{open_count} todos", metadata={"todos": todos}
    )


@tool("todowrite", read_only=False)
async def todowrite_tool(args: TodoWriteArgs, ctx: ToolContext) -> ToolResult:
    """Creates or replaces the task list for this session; pass the whole list every time.

    - Use it for work with three or more steps, or when the user gives several tasks, so that you and
    the user can follow progress. Skip it for single, trivial tasks.
    - Statuses: pending, in_progress, completed, cancelled. Keep exactly one task in_progress while
    working, and mark a task completed as soon as it is done (not in batches).
    - Priorities: high, medium, low.
    """
    store = _store(ctx)
    await ctx.ask("todowrite", ["*"])
    todos = [item.stored() for item in args.todos]
    await store.set_todos(ctx.session_id, todos)
    return _result(todos)


@tool("todoread", read_only=True)
async def todoread_tool(args: TodoReadArgs, ctx: ToolContext) -> ToolResult:
    """Reads the current task list of this session. Use it when you are unsure what is left to do,
    before starting new work, or after finishing a task."""
    store = _store(ctx)
    await ctx.ask("todoread", ["*"])
    return _result(await store.get_todos(ctx.session_id))
