"""Agent runs through the routes (issue 3): the loop as the reference stores it, queueing, abort,
prompt_async through the events, and what is refused before a run starts; in-process, on the
scripted model and SQLite. A client that hangs up is tested in test_keepalive.py: it needs a
socket."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import (
    prompt_body,
    request_text,
    requests_for,
    text_of,
    tool,
    tool_parts,
    validate_all,
    validate_message,
)
from tests.support.inproc import InProcess, create_session, messages, prompt, wait_idle
from tests.support.procs import alive, eventually, find_process, live_group
from tests.support.schemas import capture, validate, validate_response
from tests.support.server import SCRIPTED, write_project_config
from wakeful.storage.base import Store
from wakeful.storage.sql import SQLStore
from wakeful.storage.sqlite import SQLite


@pytest.fixture
def app_project(tmp_path: Path) -> Path:
    """The scripted project, plus a provider that checks its models and one whose key comes from an
    unset variable (the scripted model needs no key and takes any model name)."""
    directory = tmp_path / "project"
    directory.mkdir()
    path = write_project_config(directory, SCRIPTED)
    config = json.loads(path.read_text())
    config["provider"]["strict"] = {
        "options": {"baseURL": "http://127.0.0.1:9/v1", "apiKey": "test-key"},
        "models": {"strict-model": {}},
    }
    config["provider"]["nokey"] = {
        "options": {"baseURL": "http://127.0.0.1:9/v1", "apiKey": "{env:WAKEFUL_TEST_UNSET_KEY}"},
        "models": {"m": {}},
    }
    path.write_text(json.dumps(config))
    return directory


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """SQLite, as a server has it: what these runs store, and in what order, is under test."""
    return SQLStore(SQLite(tmp_path / "wakeful.db"))


def model_calls(wakeful: InProcess) -> int:
    return len(wakeful.model("mock").requests) + len(wakeful.model("anth").requests)


async def test_multi_step_run_with_bash_read_write_is_stored_like_the_reference(
    client: httpx.AsyncClient, wakeful: InProcess
) -> None:
    project = wakeful.project
    sid = await create_session(client)
    script = "\n".join(
        [
            tool("write", filePath=str(project / "notes.txt"), content="alpha\nbeta\n"),
            tool("read", filePath=str(project / "notes.txt")),
            tool("bash", command="wc -l < notes.txt && echo from-bash", description="count lines"),
            "REPLY all done",
        ]
    )
    reply = await prompt(client, sid, script)
    validate_response("post", "/session/{sessionID}/message", 200, reply)
    assert reply["info"]["finish"] == "stop" and text_of(reply) == "all done"
    assert (project / "notes.txt").read_text() == "alpha\nbeta\n"

    stored = await messages(client, sid)
    validate_response("get", "/session/{sessionID}/message", 200, stored)
    validate_all(stored)
    user, *assistants = stored
    assert user["info"]["role"] == "user" and [p["type"] for p in user["parts"]] == ["text"]
    assert len(assistants) == 4  # one per LLM call
    assert reply["info"]["id"] == assistants[-1]["info"]["id"]

    reference = capture("exp3e-tool-messages.json")
    ref_tool_step, ref_final = reference[1], reference[2]
    for step in assistants[:3]:
        info = step["info"]
        assert info["parentID"] == user["info"]["id"]
        assert set(info) == set(ref_tool_step["info"])
        assert info["finish"] == "tool-calls"
        assert [p["type"] for p in step["parts"]] == ["step-start", "tool", "step-finish"]
        (part,) = tool_parts(step)
        assert set(part) == set(ref_tool_step["parts"][1])
        assert part["state"]["status"] == "completed"
        assert set(part["state"]) == set(ref_tool_step["parts"][1]["state"])
        finish = step["parts"][-1]
        assert finish["reason"] == "tool-calls" and set(finish["tokens"]) == set(
            ref_tool_step["info"]["tokens"]
        )
        assert finish["tokens"] == info["tokens"] and info["tokens"]["input"] > 0
    final = assistants[-1]
    assert set(final["info"]) == set(ref_final["info"])
    assert [p["type"] for p in final["parts"]] == ["step-start", "text", "step-finish"]
    assert set(final["parts"][1]) == set(ref_final["parts"][1])
    tools = [tool_parts(s)[0] for s in assistants[:3]]
    assert [t["tool"] for t in tools] == ["write", "read", "bash"]
    assert "alpha" in tools[1]["state"]["output"]
    bash = tools[2]["state"]
    assert bash["output"] == "2\nfrom-bash\n" and bash["title"] == "count lines"
    assert bash["metadata"] == {
        "output": "2\nfrom-bash\n",
        "exit": 0,
        "truncated": False,
        "description": "count lines",
    }
    # Each tool result went back to the model in the next call.
    calls = requests_for(wakeful.model(), script)
    assert len(calls) == 4
    assert "from-bash" in request_text(calls[3]) and "alpha" in request_text(calls[2])


async def test_a_second_prompt_waits_and_each_caller_gets_its_own_reply(
    client: httpx.AsyncClient, wakeful: InProcess
) -> None:
    sid = await create_session(client)
    gate = wakeful.project / f"gate-{uuid.uuid4().hex}"
    first_text = tool("bash", command=f"while [ ! -e {gate} ]; do sleep 0.01; done; echo first-tool-done")
    second_text = f"REPLY second answer {uuid.uuid4().hex}"
    events = wakeful.events()
    first = asyncio.create_task(client.post(f"/session/{sid}/message", json=prompt_body(first_text)))
    await events.wait_tool(sid, "bash", "running")
    second = asyncio.create_task(client.post(f"/session/{sid}/message", json=prompt_body(second_text)))
    # the second prompt is stored and announced while the first run is still in its tool
    await events.wait(
        lambda e: e["type"] == "message.part.updated" and e["properties"]["part"].get("text") == second_text
    )
    assert not first.done()
    gate.touch()
    first_reply, second_reply = (await first).json(), (await second).json()
    stored = await messages(client, sid)
    validate_all(stored)
    users = [m for m in stored if m["info"]["role"] == "user"]
    assert [text_of(u) for u in users] == [first_text, second_text]
    assert first_reply["info"]["parentID"] == users[0]["info"]["id"]
    assert second_reply["info"]["parentID"] == users[1]["info"]["id"]
    assert text_of(first_reply) == "TOOL_RESULT_SEEN: first-tool-done\n"
    assert text_of(second_reply).startswith("second answer")
    first_calls = requests_for(wakeful.model(), first_text)
    assert len(first_calls) == 2
    for call in first_calls:
        assert second_text not in request_text(call)
    # the second run sees the first exchange, completed, before its own prompt
    (second_call,) = requests_for(wakeful.model(), second_text)
    assert "first-tool-done" in request_text(second_call)


async def test_abort_kills_the_whole_process_group_and_keeps_earlier_parts(
    client: httpx.AsyncClient, wakeful: InProcess
) -> None:
    sid = await create_session(client)
    marker = f"marker-{uuid.uuid4().hex}"
    text = "\n".join(
        [
            "REPLY this text never comes",
            tool("write", filePath="before-abort.txt", content="kept"),
            tool("bash", command=f"bash -c 'sleep 300 & sleep 300' {marker}", description="sleep"),
        ]
    )
    held = asyncio.create_task(client.post(f"/session/{sid}/message", json=prompt_body(text)))
    found = await eventually(lambda: find_process(marker))
    pgid = found[1]
    await eventually(lambda: len(live_group(pgid)) >= 3)  # the shell (bash execs its last command), 2 sleeps
    pids = live_group(pgid)
    aborted = await client.post(f"/session/{sid}/abort")
    assert aborted.status_code == 200 and aborted.json() is True
    # The abort answers once the run has ended, and the run ends once the tool's group is gone.
    assert not live_group(pgid)
    for pid in pids:
        assert not alive(pid)
    reply = (await held).json()
    validate_message(reply)
    assert reply["info"]["error"] == {"name": "MessageAbortedError", "data": {"message": "Aborted"}}
    (bash,) = tool_parts(reply)
    assert bash["state"]["status"] == "error"
    stored = await messages(client, sid)
    validate_all(stored)
    assert len(stored) == 3  # user, the write step, the aborted bash step
    write_step = stored[1]
    assert tool_parts(write_step)[0]["state"]["status"] == "completed"
    assert write_step["info"]["finish"] == "tool-calls"
    reference = capture("exp4b-abort-prompt-response.json")
    assert set(reference["info"]) <= set(reply["info"]) | {"finish"}


async def test_abort_while_streaming_keeps_the_streamed_text(
    client: httpx.AsyncClient, wakeful: InProcess
) -> None:
    sid = await create_session(client)
    events = wakeful.events()
    held = asyncio.create_task(
        client.post(f"/session/{sid}/message", json=prompt_body("HOLD stream\nREPLY tok1 tok2 tok3"))
    )
    await wakeful.model().held("stream")
    await events.wait_type("message.part.delta", sid)
    assert (await client.post(f"/session/{sid}/abort")).json() is True
    reply = (await held).json()
    validate_message(reply)
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    assert [p["type"] for p in reply["parts"]] == ["step-start", "text"]
    assert reply["parts"][1]["text"] and "tok1 tok2 tok3".startswith(reply["parts"][1]["text"])
    assert reply["parts"][1]["time"]["end"] >= reply["parts"][1]["time"]["start"]


async def test_abort_idle_unknown_and_queued(client: httpx.AsyncClient, wakeful: InProcess) -> None:
    sid = await create_session(client)
    idle = await client.post(f"/session/{sid}/abort")
    assert idle.status_code == 200 and idle.json() is True  # as the reference answers
    unknown = await client.post("/session/ses_doesnotexist000000000000/abort")
    assert unknown.status_code == 404
    validate("NotFoundError", unknown.json())

    model = wakeful.model()
    running = await client.post(f"/session/{sid}/prompt_async", json=prompt_body("HOLD queued"))
    assert running.status_code == 204
    first_id = running.headers["X-Wakeful-Message-ID"]
    await model.held("queued")
    queued_ids = []
    for n in range(2):
        queued = await client.post(f"/session/{sid}/prompt_async", json=prompt_body(f"REPLY queued {n}"))
        assert queued.status_code == 204
        queued_ids.append(queued.headers["X-Wakeful-Message-ID"])
    assert (await client.post(f"/session/{sid}/abort")).json() is True
    await wait_idle(client, sid)
    stored = await messages(client, sid)
    validate_all(stored)
    for message_id in [first_id, *queued_ids]:
        answers = [m for m in stored if m["info"].get("parentID") == message_id]
        assert len(answers) == 1, message_id
        assert answers[0]["info"]["error"]["name"] == "MessageAbortedError"
    # the queued prompts never reached the model
    assert model.count("REPLY queued 0") == 0 and model.count("REPLY queued 1") == 0
    assert (await client.post(f"/session/{sid}/abort")).json() is True  # idle: as the reference answers


async def test_prompt_async_is_observed_through_events_until_idle(
    client: httpx.AsyncClient, wakeful: InProcess
) -> None:
    sid = await create_session(client)
    events = wakeful.events()
    response = await client.post(
        f"/session/{sid}/prompt_async",
        json=prompt_body("REASON thinking first\nDRIP 4 0.02\nREPLY streamed answer"),
    )
    assert response.status_code == 204 and response.content == b""
    await events.wait_type("session.idle", sid)
    mine = [e for e in events.events if e["properties"].get("sessionID") == sid]
    types = [e["type"] for e in mine]
    assert types.index("session.status") < types.index("message.part.delta") < types.index("session.idle")
    statuses = [e["properties"]["status"]["type"] for e in mine if e["type"] == "session.status"]
    assert statuses[0] == "busy" and statuses[-1] == "idle"
    deltas = [e["properties"] for e in mine if e["type"] == "message.part.delta"]
    assert all(d["field"] == "text" for d in deltas)
    stored = await messages(client, sid)
    validate_all(stored)
    reply = stored[-1]
    text_part = next(p for p in reply["parts"] if p["type"] == "text")
    reasoning = next(p for p in reply["parts"] if p["type"] == "reasoning")
    assert "".join(d["delta"] for d in deltas if d["partID"] == text_part["id"]) == "streamed answer"
    assert "".join(d["delta"] for d in deltas if d["partID"] == reasoning["id"]) == "thinking first"
    assert text_part["text"] == "streamed answer"
    for event in mine:
        if event["type"] == "message.updated":
            validate_message({"info": event["properties"]["info"], "parts": []})
        elif event["type"] == "message.part.updated":
            validate_message({"info": stored[0]["info"], "parts": [event["properties"]["part"]]})


async def test_unknown_model_agent_or_missing_key_is_400_before_anything_is_stored(
    client: httpx.AsyncClient, wakeful: InProcess
) -> None:
    sid = await create_session(client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"model": {"providerID": "strict", "modelID": "nope"}}, "model.modelID"),
        ({"model": {"providerID": "nope", "modelID": "mock-model"}}, "model.providerID"),
        ({"agent": "no-such-agent"}, "agent"),
        ({"model": {"providerID": "nokey", "modelID": "m"}}, "model"),
    ]
    before = model_calls(wakeful)
    for extra, field in cases:
        response = await client.post(f"/session/{sid}/message", json=prompt_body("REPLY never", **extra))
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["_tag"] == "InvalidRequestError" and body["field"] == field
        validate_response("post", "/session/{sessionID}/message", 400, body)
        refused = await client.post(f"/session/{sid}/prompt_async", json=prompt_body("x", **extra))
        assert refused.status_code == 400
    assert await messages(client, sid) == []
    assert model_calls(wakeful) == before
