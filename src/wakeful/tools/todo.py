"""The todowrite and todoread tools: the model's own task list for a session, kept in ctx.todos."""

from __future__ import annotations

import json
from typing import Any

from wakeful.errors import ToolError
from wakeful.tools.base import TodoStore, Tool, ToolContext, ToolDefinition, ToolResult

STATUSES = ("pending", "in_progress", "completed", "cancelled")
PRIORITIES = ("high", "medium", "low")

_TODO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "content": {"type": "string", "description": "Brief description of the task"},
        "status": {"type": "string", "enum": list(STATUSES), "description": "Current status of the task"},
        "priority": {"type": "string", "enum": list(PRIORITIES), "description": "Priority of the task"},
        "id": {"type": "string", "description": "Unique identifier for the todo item"},
    },
    "required": ["content", "status", "priority"],
    "additionalProperties": False,
}


def validate_todos(raw: Any) -> list[dict[str, Any]]:
    """The todos in the reference's `Todo` shape (content, status, priority); ToolError says what is
    wrong."""
    if not isinstance(raw, list):
        raise ToolError("'todos' must be a list of todo items")
    todos: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        where = f"todos[{index}]"
        if not isinstance(item, dict):
            raise ToolError(f"{where} must be an object with content, status and priority")
        content = item.get("content")
        if not isinstance(content, str) or not content.strip():
            raise ToolError(f"{where}.content must be a non-empty string")
        status = item.get("status")
        if status not in STATUSES:
            raise ToolError(f"{where}.status must be one of {', '.join(STATUSES)}")
        priority = item.get("priority", "medium")
        if priority not in PRIORITIES:
            raise ToolError(f"{where}.priority must be one of {', '.join(PRIORITIES)}")
        todo_id = item.get("id")  # older opencode todos had ids; accepted, not kept
        if todo_id is not None and (isinstance(todo_id, bool) or not isinstance(todo_id, str | int)):
            raise ToolError(f"{where}.id must be a string")
        todos.append({"content": content, "status": status, "priority": priority})
    return todos


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


class TodoWriteTool(Tool):
    definition = ToolDefinition(
        name="todowrite",
        description=(
            "Creates or replaces the task list for this session; pass the whole list every time.\n\n"
            "- Use it for work with three or more steps, or when the user gives several tasks, so "
            "that you and the user can follow progress. Skip it for single, trivial tasks.\n"
            "- Statuses: pending, in_progress, completed, cancelled. Keep exactly one task "
            "in_progress while working, and mark a task completed as soon as it is done (not in "
            "batches).\n"
            "- Priorities: high, medium, low."
        ),
        parameters={
            "type": "object",
            "properties": {
                "todos": {"type": "array", "items": _TODO_SCHEMA, "description": "The updated todo list"},
            },
            "required": ["todos"],
            "additionalProperties": False,
        },
        read_only=False,
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        store = _store(ctx)
        todos = validate_todos(args.get("todos"))
        await store.set_todos(ctx.session_id, todos)
        return _result(todos)


class TodoReadTool(Tool):
    definition = ToolDefinition(
        name="todoread",
        description=(
            "Reads the current task list of this session. Use it when you are unsure what is left "
            "to do, before starting new work, or after finishing a task."
        ),
        parameters={"type": "object", "properties": {}, "required": [], "additionalProperties": False},
        read_only=True,
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        todos = await _store(ctx).get_todos(ctx.session_id)
        return _result(todos)
