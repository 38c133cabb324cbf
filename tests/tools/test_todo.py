"""todowrite and todoread against an in-memory TodoStore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wakeful.errors import ToolError
from wakeful.tools.base import ToolContext
from wakeful.tools.todo import todoread_tool, todowrite_tool


class MemoryTodos:
    def __init__(self) -> None:
        self.by_session: dict[str, list[dict[str, Any]]] = {}

    async def get_todos(self, session_id: str) -> list[dict[str, Any]]:
        return list(self.by_session.get(session_id, []))

    async def set_todos(self, session_id: str, todos: list[dict[str, Any]]) -> None:
        self.by_session[session_id] = list(todos)


def make_ctx(tmp_path: Path, store: MemoryTodos | None) -> ToolContext:
    return ToolContext("ses", "msg", "call", tmp_path, todos=store)


async def test_round_trip(tmp_path: Path) -> None:
    store = MemoryTodos()
    ctx = make_ctx(tmp_path, store)
    todos = [
        {"content": "Write tests", "status": "completed", "priority": "high", "id": "a"},
        {"content": "Fix bug", "status": "in_progress", "priority": "medium", "id": "b"},
        {"content": "Ship", "status": "pending", "priority": "low"},
    ]
    written = await todowrite_tool.call({"todos": todos}, ctx)
    # stored in the reference's Todo shape: an id the model sends is accepted and dropped
    expected = [{k: v for k, v in t.items() if k != "id"} for t in todos]
    assert json.loads(written.output) == expected
    assert written.title == "2 todos"
    assert written.metadata == {"todos": expected}
    assert store.by_session["ses"] == expected

    read = await todoread_tool.call({}, ctx)
    assert json.loads(read.output) == expected
    assert read.title == "2 todos"


async def test_empty_list_clears(tmp_path: Path) -> None:
    store = MemoryTodos()
    store.by_session["ses"] = [{"content": "x", "status": "pending", "priority": "low"}]
    result = await todowrite_tool.call({"todos": []}, make_ctx(tmp_path, store))
    assert result.output == "[]" and result.title == "0 todos"
    assert store.by_session["ses"] == []


@pytest.mark.parametrize(
    "todos",
    [
        None,
        "not a list",
        [{"status": "pending", "priority": "low"}],
        [{"content": "x", "status": "done", "priority": "low"}],
        [{"content": "x", "status": "pending", "priority": "urgent"}],
        [{"content": "x", "status": "pending", "priority": "low", "id": ["1"]}],
        ["just text"],
    ],
)
async def test_validation(tmp_path: Path, todos: Any) -> None:
    store = MemoryTodos()
    with pytest.raises(ToolError):
        await todowrite_tool.call({"todos": todos}, make_ctx(tmp_path, store))
    assert store.by_session == {}


async def test_without_store(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, None)
    with pytest.raises(ToolError):
        await todoread_tool.call({}, ctx)
    with pytest.raises(ToolError):
        await todowrite_tool.call({"todos": []}, ctx)
