"""Over HTTP (in-process): the tool listings `GET /experimental/tool/ids` and `/experimental/tool`,
apply_patch offered to the models trained on it, `subtask` parts in a prompt body, and commands
that run as subtasks in child sessions. Every answer is validated against the reference's schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import text_of, validate_all
from tests.support.inproc import InProcess, create_session, messages, ok, prompt
from tests.support.schemas import validate_response
from tests.support.server import SCRIPTED, write_project_config

COMMANDS = {
    "sub": {"template": "REPLY the child did $ARGUMENTS", "description": "delegated", "subtask": True},
    "look": {"template": "REPLY explored", "agent": "explore"},  # a subagent: a subtask by default
    "inline": {"template": "REPLY inline", "agent": "explore", "subtask": False},
}


@pytest.fixture
def app_project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    path = write_project_config(directory, SCRIPTED, command=COMMANDS)
    config = json.loads(path.read_text())
    config["provider"]["mock"]["models"]["gpt-5"] = {"name": "GPT-5"}
    path.write_text(json.dumps(config))
    return directory


async def test_tool_ids_list_every_builtin(client: httpx.AsyncClient) -> None:
    ids = ok(await client.get("/experimental/tool/ids"))
    validate_response("get", "/experimental/tool/ids", 200, ids)
    assert set(ids) == {
        "bash", "read", "write", "edit", "glob", "grep", "list", "todowrite", "todoread", "task", "webfetch",
        "apply_patch",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("model", "offered", "left_out"),
    [("mock-model", {"edit", "write"}, {"apply_patch"}), ("gpt-5", {"apply_patch"}, {"edit", "write"})],
)
async def test_the_tool_list_is_the_models(
    client: httpx.AsyncClient, model: str, offered: set[str], left_out: set[str]
) -> None:
    tools = ok(await client.get("/experimental/tool", params={"provider": "mock", "model": model}))
    validate_response("get", "/experimental/tool", 200, tools)
    names = {t["id"] for t in tools}
    assert offered <= names and not left_out & names
    task = next(t for t in tools if t["id"] == "task")
    assert "- explore: " in task["description"] and "- general: " in task["description"]
    assert task["parameters"]["required"] == ["description", "prompt", "subagent_type"]


async def test_the_tool_list_needs_a_provider_and_a_model(client: httpx.AsyncClient) -> None:
    response = await client.get("/experimental/tool", params={"model": "gpt-5"})
    assert response.status_code == 400 and response.json()["_tag"] == "InvalidRequestError"


async def test_a_gpt_5_run_is_offered_apply_patch_and_uses_it(
    wakeful: InProcess, client: httpx.AsyncClient
) -> None:
    sid = await create_session(client)
    patch = "*** Begin Patch\n*** Add File: made.txt\n+by a patch\n*** End Patch"
    script = "TOOL apply_patch " + json.dumps({"patchText": patch})
    reply = await prompt(client, sid, script, model={"providerID": "mock", "modelID": "gpt-5"})
    assert text_of(reply) == "TOOL_RESULT_SEEN: Success. Updated the following files:\nA made.txt"
    assert (wakeful.project / "made.txt").read_text() == "by a patch\n"
    offered = {t.name for t in wakeful.model().requests[0].request.tools}
    assert "apply_patch" in offered and not offered & {"edit", "write"}


async def children(client: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(await client.get(f"/session/{sid}/children"))
    validate_response("get", "/session/{sessionID}/children", 200, found)
    return found


async def test_a_subtask_part_in_a_prompt_body(client: httpx.AsyncClient) -> None:
    sid = await create_session(client)
    subtask = {
        "type": "subtask",
        "prompt": "REPLY from the subtask",
        "description": "part",
        "agent": "general",
    }
    response = await client.post(f"/session/{sid}/message", json={"parts": [subtask]})
    reply = ok(response)
    validate_response("post", "/session/{sessionID}/message", 200, reply)
    (child,) = await children(client, sid)
    assert child["parentID"] == sid
    stored = await messages(client, sid)
    validate_all(stored)
    task = next(p for p in stored[1]["parts"] if p["type"] == "tool")
    assert task["tool"] == "task" and task["state"]["metadata"]["sessionId"] == child["id"]
    assert task["state"]["output"].startswith("from the subtask")
    unknown = {**subtask, "agent": "nobody"}
    refused = await client.post(f"/session/{sid}/message", json={"parts": [unknown]})
    assert refused.status_code == 400 and refused.json()["field"] == "parts.0.agent"


@pytest.mark.parametrize(
    ("command", "arguments", "agent", "answer"),
    [("sub", "the work", "build", "the child did the work"), ("look", "", "explore", "explored")],
)
async def test_a_command_marked_subtask_runs_in_a_child_session(
    client: httpx.AsyncClient, command: str, arguments: str, agent: str, answer: str
) -> None:
    sid = await create_session(client)
    reply = ok(
        await client.post(f"/session/{sid}/command", json={"command": command, "arguments": arguments})
    )
    validate_response("post", "/session/{sessionID}/command", 200, reply)
    (child,) = await children(client, sid)
    child_messages = await messages(client, child["id"])
    validate_all(child_messages)
    assert child_messages[-1]["info"]["agent"] == agent and text_of(child_messages[-1]) == answer
    stored = await messages(client, sid)
    validate_all(stored)
    (part,) = stored[0]["parts"]
    assert part["type"] == "subtask" and part["command"] == command and part["agent"] == agent
    task = next(p for p in stored[1]["parts"] if p["type"] == "tool")
    assert task["state"]["input"]["command"] == command
    assert task["state"]["output"].startswith(answer)
    assert stored[0]["info"]["agent"] == "build"  # the caller's agent stays the primary one


async def test_a_command_marked_subtask_false_runs_inline(client: httpx.AsyncClient) -> None:
    sid = await create_session(client)
    reply = ok(await client.post(f"/session/{sid}/command", json={"command": "inline", "arguments": ""}))
    assert text_of(reply) == "inline" and reply["info"]["agent"] == "explore"
    assert await children(client, sid) == []
