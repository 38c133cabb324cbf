"""The prompt body's fields over real HTTP (issue 4), and a run through the Anthropic wire API.

Honoured: messageID, model, agent, system, tools, noReply, format {"type": "text"}, text parts
(with synthetic / ignored / metadata), file parts (file:// and data: URLs), agent parts.
Refused with 400: a json_schema format whose schema is none, subtask parts, a variant the model
does not have.

In-process, with the fake LLM on loopback: how each field reaches the model is checked on the wire.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fakellm import FakeLLM
from tests.support.http import request_text, requests_for, text_of, tool, tool_parts, validate_all
from tests.support.inproc import create_session, messages, prompt
from tests.support.schemas import validate, validate_response
from tests.support.server import write_project_config


@pytest.fixture
def app_project(tmp_path: Path, fake_llm: FakeLLM) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    write_project_config(directory, fake_llm.url)
    return directory


async def post(client: httpx.AsyncClient, sid: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/session/{sid}/message", json=body)


def unique(script: str) -> str:
    return f"{script}\n# {uuid.uuid4().hex}"


async def test_model_selects_the_anthropic_provider_with_tools_and_usage(
    client: httpx.AsyncClient, fake_llm: FakeLLM, app_project: Path
) -> None:
    sid = await create_session(client)
    script = unique(
        "\n".join(
            [
                "REASON let me look",
                "USAGE 120 30 40",
                tool("read", filePath=str(app_project / "opencode.json")),
                "REPLY read it",
            ]
        )
    )
    reply = await prompt(client, sid, script, model={"providerID": "anth", "modelID": "claude-mock"})
    stored = await messages(client, sid)
    validate_all(stored)
    user, step, final = stored
    assert user["info"]["model"] == {"providerID": "anth", "modelID": "claude-mock"}
    assert step["info"]["providerID"] == "anth" and step["info"]["modelID"] == "claude-mock"
    assert [p["type"] for p in step["parts"]] == ["step-start", "reasoning", "tool", "step-finish"]
    (read,) = tool_parts(step)
    assert read["state"]["status"] == "completed" and '"mock"' in read["state"]["output"]
    assert step["info"]["finish"] == "tool-calls"
    assert step["info"]["tokens"] == {
        "total": 190,
        "input": 120,
        "output": 30,
        "reasoning": 0,
        "cache": {"read": 40, "write": 0},
    }
    assert final["info"]["finish"] == "stop" and text_of(reply) == "read it"
    calls = requests_for(fake_llm, script)
    assert [c.path for c in calls] == ["/v1/messages", "/v1/messages"]
    first, second = (c.body for c in calls)
    assert first["model"] == "claude-mock" and first["stream"] is True
    assert {t["name"] for t in first["tools"]} >= {"bash", "read", "write"}
    assert "build agent" in json.dumps(first["system"])
    # the tool result went back as an Anthropic tool_result block
    results = [b for m in second["messages"] for b in m["content"] if isinstance(b, dict)]
    assert any(b.get("type") == "tool_result" and b["tool_use_id"] == read["callID"] for b in results)


async def test_system_is_sent_to_the_model_and_stored(client: httpx.AsyncClient, fake_llm: FakeLLM) -> None:
    sid = await create_session(client)
    script = unique("REPLY with system")
    await prompt(client, sid, script, system="SYSTEM-MARKER: answer in French.")
    (call,) = requests_for(fake_llm, script)
    system = [m["content"] for m in call.body["messages"] if m["role"] == "system"]
    assert system[-1] == "SYSTEM-MARKER: answer in French."
    assert (await messages(client, sid))[0]["info"]["system"] == "SYSTEM-MARKER: answer in French."


async def test_tools_false_hides_a_tool_from_the_model(client: httpx.AsyncClient, fake_llm: FakeLLM) -> None:
    sid = await create_session(client)
    script = unique(tool("bash", command="echo should not run"))
    reply = await prompt(client, sid, script, tools={"bash": False, "write": False})
    (first, *_) = requests_for(fake_llm, script)
    offered = {t["function"]["name"] for t in first.body["tools"]}
    assert "bash" not in offered and "write" not in offered and "read" in offered
    stored = await messages(client, sid)
    assert stored[0]["info"]["tools"] == {"bash": False, "write": False}
    # a model that calls it anyway gets an error part; nothing runs
    (part,) = [p for m in stored for p in tool_parts(m)]
    assert part["state"]["status"] == "error"
    assert "error" not in reply["info"]


async def test_no_reply_stores_the_user_message_without_calling_the_model(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    sid = await create_session(client)
    script = unique("REPLY never asked")
    response = await post(client, sid, {"noReply": True, "parts": [{"type": "text", "text": script}]})
    assert response.status_code == 200
    reply = response.json()
    assert reply["info"]["role"] == "user" and text_of(reply) == script
    validate("UserMessage", reply["info"])
    assert fake_llm.count(script) == 0
    stored = await messages(client, sid)
    assert [m["info"]["id"] for m in stored] == [reply["info"]["id"]]
    # the next prompt sees it as context
    follow = unique("REPLY now answer")
    await prompt(client, sid, follow)
    (call,) = requests_for(fake_llm, follow)
    assert script in request_text(call)


async def test_file_parts_are_inlined_for_the_model(
    client: httpx.AsyncClient, fake_llm: FakeLLM, app_project: Path
) -> None:
    sid = await create_session(client)
    notes = app_project / "file-part.txt"
    notes.write_text("FILE-CONTENT-MARKER line one\n")
    inline = base64.b64encode(b"DATA-URL-MARKER from a data url").decode()
    pixel = base64.b64encode(b"\x89PNG\r\n\x1a\nnot really a png").decode()
    script = unique("REPLY seen the files")
    body = {
        "parts": [
            {"type": "text", "text": script},
            {"type": "file", "mime": "text/plain", "filename": "file-part.txt", "url": notes.as_uri()},
            {
                "type": "file",
                "mime": "text/plain",
                "filename": "inline.txt",
                "url": f"data:text/plain;base64,{inline}",
            },
            {
                "type": "file",
                "mime": "image/png",
                "filename": "p.png",
                "url": f"data:image/png;base64,{pixel}",
            },
            {"type": "text", "text": "IGNORED-MARKER", "ignored": True},
            {"type": "text", "text": "synthetic context", "synthetic": True, "metadata": {"k": "v"}},
            {"type": "agent", "name": "plan"},
        ]
    }
    response = await post(client, sid, body)
    assert response.status_code == 200, response.text
    validate_response("post", "/session/{sessionID}/message", 200, response.json())
    (call,) = [r for r in fake_llm.requests if r.script.startswith(script)]
    user = [m for m in call.body["messages"] if m["role"] == "user"][-1]
    content = user["content"]
    texts = "\n".join(c["text"] for c in content if c["type"] == "text")
    assert "FILE-CONTENT-MARKER line one" in texts and "DATA-URL-MARKER from a data url" in texts
    assert "synthetic context" in texts and "@plan" in texts and "IGNORED-MARKER" not in texts
    images = [c for c in content if c["type"] == "image_url"]
    assert images == [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}}]
    stored = await messages(client, sid)
    validate_all(stored)
    assert [p["type"] for p in stored[0]["parts"]] == [
        "text",
        "file",
        "file",
        "file",
        "text",
        "text",
        "agent",
    ]
    assert stored[0]["parts"][1]["url"] == notes.as_uri()


async def test_part_and_message_ids_from_the_client_are_kept(client: httpx.AsyncClient) -> None:
    sid = await create_session(client)
    body = {
        "messageID": "msg_clientchosen0000000000001",
        "parts": [{"id": "prt_clientchosen000000000001", "type": "text", "text": "REPLY ids"}],
        "format": {"type": "text"},
    }
    reply = (await post(client, sid, body)).json()
    assert reply["info"]["parentID"] == "msg_clientchosen0000000000001"
    user = (await messages(client, sid))[0]
    assert user["parts"][0]["id"] == "prt_clientchosen000000000001"


async def test_unsupported_fields_are_400_before_anything_is_stored(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    sid = await create_session(client)
    text = {"type": "text", "text": "REPLY never"}
    refused: list[tuple[dict[str, Any], str]] = [
        # structured output is honoured (tests/run/test_structured.py); a schema that is none is not
        ({"parts": [text], "format": {"type": "json_schema", "schema": {"type": 12}}}, "format"),
        # a subtask part runs (tests/run/test_subagent.py) unless it names no agent there is
        (
            {"parts": [text, {"type": "subtask", "prompt": "p", "description": "d", "agent": "nobody"}]},
            "parts",
        ),
        ({"parts": [text], "variant": "high"}, "variant"),
        ({"parts": []}, "parts"),
        ({"parts": [text], "unknownField": 1}, "unknownField"),
        ({"parts": [{"type": "file", "mime": "text/plain", "url": "relative/path.txt"}]}, "parts"),
    ]
    before = len(fake_llm.requests)
    for body, field in refused:
        response = await post(client, sid, body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["_tag"] == "InvalidRequestError"
        assert response.json().get("field", "").split(".")[0] == field, response.json()
        assert (await client.post(f"/session/{sid}/prompt_async", json=body)).status_code == 400
    assert await messages(client, sid) == []
    assert len(fake_llm.requests) == before
