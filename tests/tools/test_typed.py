"""Tools declared as an arguments model plus a function: the schema the model sees and the error text
it reads when its arguments do not fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from wakeful.errors import ToolError
from wakeful.tools.base import ToolContext, ToolResult
from wakeful.tools.bash import bash_tool
from wakeful.tools.files import read_tool, write_tool
from wakeful.tools.todo import todowrite_tool
from wakeful.tools.typed import ToolArgs, model_schema, tool


def make_ctx(tmp_path: Path) -> ToolContext:
    return ToolContext("ses", "msg", "call", tmp_path)


async def refused(call: Any, args: dict[str, Any], tmp_path: Path) -> str:
    with pytest.raises(ToolError) as info:
        await call(args, make_ctx(tmp_path))
    return info.value.message


# --- what the model reads when its arguments do not fit ---------------------------------------------


@pytest.mark.parametrize(
    ("tool_call", "args", "message"),
    [
        (
            read_tool.call,
            {"filePath": "a.txt", "offset": -1},
            "Invalid arguments for read: 'offset' should be greater than or equal to 0",
        ),
        (
            read_tool.call,
            {"filePath": "a.txt", "limit": "many"},
            "Invalid arguments for read: 'limit' should be a valid integer, unable to parse string as an integer",
        ),
        (write_tool.call, {"filePath": "a.txt"}, "Invalid arguments for write: 'content' is required"),
        (
            write_tool.call,
            {"filePath": "", "content": 3},
            "Invalid arguments for write: 'filePath' should have at least 1 character; "
            "'content' should be a valid string",
        ),
        (bash_tool.call, {"command": "  "}, "Invalid arguments for bash: 'command' must not be blank"),
        (
            todowrite_tool.call,
            {"todos": [{"content": "x", "status": "pending", "priority": "low"}, "just text"]},
            "Invalid arguments for todowrite: 'todos[1]' should be an object",
        ),
        (
            todowrite_tool.call,
            {"todos": [{"content": "x", "status": "done"}]},
            "Invalid arguments for todowrite: 'todos[0].status' should be "
            "'pending', 'in_progress', 'completed' or 'cancelled'",
        ),
    ],
)
async def test_invalid_arguments_name_the_field(
    tmp_path: Path, tool_call: Any, args: dict[str, Any], message: str
) -> None:
    (tmp_path / "a.txt").write_text("x\n")
    assert await refused(tool_call, args, tmp_path) == message


async def test_nulls_count_as_left_out_and_unknown_arguments_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    args = {"filePath": "a.txt", "offset": None, "limit": None, "explanation": "models add these"}
    result = await read_tool.call(args, make_ctx(tmp_path))
    assert "00001| one\n00002| two\n" in result.output


# --- a tool declared from scratch ----------------------------------------------------------------------


class Point(ToolArgs):
    x: int = Field(description="Across")
    title: str | None = Field(None, description="A property may be called title")


class DrawArgs(ToolArgs):
    points: list[Point] = Field(description="Where to draw")
    origin: Point | None = Field(None, description="Where to start")


calls: list[DrawArgs] = []


@tool("draw", read_only=True)
async def draw_tool(args: DrawArgs, ctx: ToolContext) -> ToolResult:
    """Draws points.

    - One line per point.
    """
    calls.append(args)
    return ToolResult(output=f"{len(args.points)} points")


def test_declaration_gives_the_definition() -> None:
    point = {
        "type": "object",
        "properties": {
            "x": {"type": "integer", "description": "Across"},
            "title": {"type": "string", "description": "A property may be called title"},
        },
        "required": ["x"],
        "additionalProperties": False,
    }
    assert draw_tool.read_only is True
    assert draw_tool.definition.name == "draw"
    assert draw_tool.definition.description == "Draws points.\n\n- One line per point."
    assert draw_tool.definition.parameters == {
        "type": "object",
        "properties": {
            "points": {"type": "array", "items": point, "description": "Where to draw"},
            "origin": {**point, "description": "Where to start"},
        },
        "required": ["points"],
        "additionalProperties": False,
    }


async def test_the_function_runs_only_with_valid_arguments(tmp_path: Path) -> None:
    calls.clear()
    message = await refused(draw_tool.call, {"points": [{"x": 1}, {"title": "no x"}]}, tmp_path)
    assert message == "Invalid arguments for draw: 'points[1].x' is required"
    assert calls == []
    result = await draw_tool.call({"points": [{"x": 1}, {"x": "2"}]}, make_ctx(tmp_path))
    assert result.output == "2 points"
    assert [p.x for p in calls[0].points] == [1, 2]


class Node(ToolArgs):
    children: list[Node] = Field(default_factory=list)


def test_recursive_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="Node -> Node"):
        model_schema(Node)


def test_a_tool_needs_a_docstring_and_an_arguments_model() -> None:
    async def undocumented(args: DrawArgs, ctx: ToolContext) -> ToolResult:
        return ToolResult(output="")

    async def untyped(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Takes anything."""
        return ToolResult(output="")

    with pytest.raises(TypeError, match="docstring"):
        tool("undocumented", read_only=True)(undocumented)
    with pytest.raises(TypeError, match="ToolArgs"):
        tool("untyped", read_only=True)(untyped)  # type: ignore[type-var]
