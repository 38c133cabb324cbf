"""Unit tests of wakeful.run.history: which stored messages a run sees, and how they become a chat."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from wakeful.run.history import read_files, select, to_chat
from wakeful.tools.base import ToolContext


def user(mid: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"id": mid, "role": "user"}, "parts": list(parts)}


def assistant(mid: str, parent: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"id": mid, "role": "assistant", "parentID": parent}, "parts": list(parts)}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def test_select_excludes_later_prompts_and_their_answers() -> None:
    stored = [
        user("u1", text("one")),
        assistant("a1", "u1", text("r1")),
        user("u2", text("two")),
        user("u3", text("three")),  # queued behind u2
        assistant("a2", "u2", text("r2")),
        assistant("a3", "u3", text("r3")),
    ]
    assert [m["info"]["id"] for m in select(stored, "u2")] == ["u1", "a1", "u2", "a2"]
    assert [m["info"]["id"] for m in select(stored, "u3")] == [m["info"]["id"] for m in stored]


def test_to_chat_tools_and_ignored_parts(tmp_path: Path) -> None:
    tool = {
        "type": "tool",
        "callID": "c1",
        "tool": "bash",
        "state": {"status": "completed", "input": {"command": "ls"}, "output": "out"},
    }
    failed = {"type": "tool", "callID": "c2", "tool": "x", "state": {"status": "error", "input": {}, "error": "bad"}}
    running = {"type": "tool", "callID": "c3", "tool": "x", "state": {"status": "running", "input": {}}}
    chat = to_chat(
        [
            user("u", text("hi"), text("skip me", ignored=True), {"type": "agent", "name": "plan"}),
            assistant("a", "u", {"type": "step-start"}, text("ok"), tool, failed, running),
        ]
    )
    assert [m.role for m in chat] == ["user", "assistant", "tool", "tool"]
    assert chat[0].text == "hi\n\n@plan"
    assert chat[1].text == "ok" and [c.id for c in chat[1].tool_calls] == ["c1", "c2"]
    assert chat[2].text == "out" and not chat[2].is_error
    assert chat[3].text == "bad" and chat[3].is_error


async def test_files_are_read_once_then_inlined_or_attached(tmp_path: Path) -> None:
    note = tmp_path / "n.txt"
    note.write_text("file text")
    data = base64.b64encode(b"data text").decode()
    parts = [
        {"id": "p1", "type": "file", "mime": "text/plain", "url": note.as_uri(), "filename": "n.txt"},
        {"id": "p2", "type": "file", "mime": "text/plain", "url": f"data:text/plain;base64,{data}"},
        {"id": "p3", "type": "file", "mime": "image/png", "url": "data:image/png;base64,AAAA", "filename": "i.png"},
        {"id": "p4", "type": "file", "mime": "text/plain", "url": (tmp_path / "gone.txt").as_uri()},
    ]
    stored = [user("u", *parts)]
    files = await read_files(stored, ToolContext("ses", "u", "", tmp_path))
    assert set(files) == {"p1", "p4"}  # only file:// parts are read
    note.write_text("changed since")  # what the model sees is what was read
    (message,) = to_chat(stored, files)
    assert '<file name="n.txt">\nfile text\n</file>' in message.text
    assert "data text" in message.text and "could not be read" in message.text
    assert [a.mime for a in message.attachments] == ["image/png"]
