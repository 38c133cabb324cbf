"""Each built-in tool in a real run (issue 4), and the `plan` agent refusing to change anything.

In-process, with the fake LLM on loopback: what the model is offered is checked on the wire."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.fakellm import FakeLLM
from tests.support.http import request_text, requests_for, text_of, tool, tool_parts, validate_all
from tests.support.inproc import InProcess, create_session, messages, prompt
from tests.support.schemas import validate, validate_response
from tests.support.server import write_project_config


@pytest.fixture
def app_project(tmp_path: Path, fake_llm: FakeLLM) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    write_project_config(directory, fake_llm.url)
    return directory


@pytest.fixture
def workdir(app_project: Path) -> Path:
    directory = app_project / f"work-{uuid.uuid4().hex[:8]}"
    (directory / "pkg").mkdir(parents=True)
    (directory / "pkg" / "alpha.py").write_text("def alpha():\n    return 'needle one'\n")
    (directory / "pkg" / "beta.py").write_text("def beta():\n    return 2\n")
    (directory / "notes.md").write_text("a needle in the notes\n")
    return directory


async def run_tools(client: httpx.AsyncClient, *lines: str, **extra: object) -> tuple[dict, list[dict]]:
    """Run a script of TOOL lines; the reply and the tool parts in call order."""
    sid = await create_session(client)
    reply = await prompt(client, sid, "\n".join(lines), **extra)
    stored = await messages(client, sid)
    validate_all(stored)
    parts = [p for m in stored for p in tool_parts(m)]
    return reply, parts


def completed(part: dict) -> dict:
    assert part["state"]["status"] == "completed", part["state"]
    state: dict = part["state"]
    return state


async def test_edit_glob_grep_list_in_one_run(client: httpx.AsyncClient, workdir: Path) -> None:
    rel = workdir.name
    reply, parts = await run_tools(
        client,
        tool("edit", filePath=f"{rel}/pkg/beta.py", oldString="return 2", newString="return 'needle two'"),
        tool("glob", pattern="**/*.py", path=rel),
        tool("grep", pattern="needle \\w+", path=rel, include="*.py"),
        tool("list", path=rel),
    )
    assert [p["tool"] for p in parts] == ["edit", "glob", "grep", "list"]
    edit, glob, grep, listing = (completed(p) for p in parts)

    assert (workdir / "pkg" / "beta.py").read_text() == "def beta():\n    return 'needle two'\n"
    assert edit["metadata"]["additions"] == 1 and edit["metadata"]["deletions"] == 1
    assert (
        "-    return 2" in edit["metadata"]["diff"] and "+    return 'needle two'" in edit["metadata"]["diff"]
    )

    assert sorted(Path(line).name for line in glob["output"].splitlines() if line.endswith(".py")) == [
        "alpha.py",
        "beta.py",
    ]
    assert glob["metadata"]["count"] == 2

    assert grep["metadata"]["matches"] == 2
    assert "alpha.py" in grep["output"] and "beta.py" in grep["output"] and "notes.md" not in grep["output"]

    assert "pkg/" in listing["output"] and "alpha.py" in listing["output"] and "notes.md" in listing["output"]
    assert listing["metadata"]["count"] == 3
    # the last tool's output reached the model, which answered with it
    assert text_of(reply).startswith("TOOL_RESULT_SEEN: ") and "notes.md" in text_of(reply)


async def test_a_failing_tool_is_an_error_part_and_the_run_goes_on(
    client: httpx.AsyncClient, workdir: Path
) -> None:
    reply, parts = await run_tools(
        client,
        tool("edit", filePath=f"{workdir.name}/pkg/alpha.py", oldString="not there", newString="x"),
        tool("read", filePath=f"{workdir.name}/missing.txt"),
        tool("no_such_tool"),
    )
    assert [p["state"]["status"] for p in parts] == ["error", "error", "error"]
    assert "not there" in parts[0]["state"]["error"] or "not found" in parts[0]["state"]["error"].lower()
    assert "no_such_tool" in parts[2]["state"]["error"]
    assert "error" not in reply["info"] and reply["info"]["finish"] == "stop"
    assert (workdir / "pkg" / "alpha.py").read_text().startswith("def alpha")


async def test_todowrite_todoread_and_the_todo_route(client: httpx.AsyncClient, wakeful: InProcess) -> None:
    todos = [
        {"id": "1", "content": "write the tests", "status": "completed", "priority": "high"},
        {"id": "2", "content": "fix what fails", "status": "in_progress", "priority": "medium"},
        {"id": "3", "content": "report", "status": "pending", "priority": "low"},
    ]
    sid = await create_session(client)
    events = wakeful.events()
    reply = await prompt(client, sid, "\n".join([tool("todowrite", todos=todos), tool("todoread")]))
    announced = await events.wait_type("todo.updated", sid)
    validate("EventTodoUpdated", announced)
    stored = await messages(client, sid)
    validate_all(stored)
    write, read = (completed(p) for m in stored for p in tool_parts(m))
    kept = [{k: v for k, v in t.items() if k != "id"} for t in todos]  # the reference's Todo shape
    assert write["title"] == "2 todos" and write["metadata"]["todos"] == kept
    assert json.loads(read["output"]) == kept
    assert json.loads(text_of(reply).removeprefix("TOOL_RESULT_SEEN: ")) == kept
    listed = await client.get(f"/session/{sid}/todo")
    assert listed.status_code == 200 and listed.json() == kept
    assert announced["properties"]["todos"] == kept
    validate_response("get", "/session/{sessionID}/todo", 200, listed.json())


async def test_plan_agent_refuses_to_write(
    client: httpx.AsyncClient, fake_llm: FakeLLM, app_project: Path
) -> None:
    target = app_project / f"plan-{uuid.uuid4().hex[:8]}.txt"
    script = "\n".join(
        [
            tool("write", filePath=str(target), content="must not be written"),
            tool("bash", command=f"echo nope > {target}"),
            tool("read", filePath=str(app_project / "opencode.json")),
        ]
    )
    sid = await create_session(client)
    reply = await prompt(client, sid, script, agent="plan")
    stored = await messages(client, sid)
    validate_all(stored)
    write, bash, read = (p for m in stored for p in tool_parts(m))
    assert write["state"]["status"] == "error" and "plan" in write["state"]["error"]
    assert bash["state"]["status"] == "error"
    assert read["state"]["status"] == "completed"
    assert not target.exists()
    assert {m["info"]["agent"] for m in stored} == {"plan"}
    assert reply["info"]["mode"] == "plan"
    # the model was only offered read-only tools
    first = requests_for(fake_llm, script)[0]
    offered = {t["function"]["name"] for t in first.body["tools"]}
    assert offered == {"read", "glob", "grep", "list", "todoread", "task", "webfetch"}
    assert "plan agent" in request_text(first)
