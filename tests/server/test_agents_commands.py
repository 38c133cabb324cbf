"""Agents and commands defined in the project's opencode.json (issue 4).

In-process, with the fake LLM on loopback: an agent's prompt, tools and temperature are checked on
the wire, as is the Anthropic provider an agent's model selects."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.fakellm import FakeLLM
from tests.support.http import requests_for, text_of, validate_all
from tests.support.inproc import create_session, messages, prompt
from tests.support.schemas import validate, validate_response
from tests.support.server import write_project_config

AGENTS = {
    "reviewer": {
        "description": "Reviews code without running it",
        "prompt": "REVIEWER-PROMPT-MARKER: review carefully.",
        "tools": {"bash": False, "write": False, "edit": False},
        "temperature": 0.25,
        "mode": "primary",
    },
    "claude": {"description": "Answers with the Anthropic model", "model": "anth/claude-mock"},
    "build": {"temperature": 0.5},  # a built-in agent, adjusted
    "plan": {"disable": True},
}
COMMANDS = {
    "greet": {
        "template": "REPLY hello $1 (all: $ARGUMENTS)",
        "description": "Greets someone",
        "agent": "reviewer",
    },
    "split": {"template": "REPLY first=$1 rest=$2"},
    "plain": {"template": "REPLY plain command", "model": "anth/claude-mock"},
}


@pytest.fixture
def app_project(tmp_path: Path, fake_llm: FakeLLM) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    write_project_config(directory, fake_llm.url, agent=AGENTS, command=COMMANDS)
    return directory


async def test_agents_from_config_are_listed(client: httpx.AsyncClient) -> None:
    response = await client.get("/agent")
    assert response.status_code == 200
    agents = {a["name"]: a for a in response.json()}
    validate_response("get", "/agent", 200, response.json())
    assert "plan" not in agents  # disabled by config
    assert {"build", "reviewer", "claude"} <= set(agents)
    reviewer = agents["reviewer"]
    assert reviewer["description"] == "Reviews code without running it"
    assert reviewer["temperature"] == 0.25 and reviewer["native"] is False and reviewer["mode"] == "primary"
    assert agents["claude"]["model"] == {"providerID": "anth", "modelID": "claude-mock"}
    assert agents["build"]["native"] is True and agents["build"]["temperature"] == 0.5


async def test_a_config_agent_runs_with_its_prompt_tools_and_temperature(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    sid = await create_session(client)
    script = "REPLY reviewed"
    reply = await prompt(client, sid, script, agent="reviewer")
    assert text_of(reply) == "reviewed"
    stored = await messages(client, sid)
    validate_all(stored)
    assert {m["info"]["agent"] for m in stored} == {"reviewer"}
    (request,) = [r for r in requests_for(fake_llm, script) if "REVIEWER-PROMPT-MARKER" in json.dumps(r.body)]
    system = [m["content"] for m in request.body["messages"] if m["role"] == "system"]
    assert system[0] == "REVIEWER-PROMPT-MARKER: review carefully."
    offered = {t["function"]["name"] for t in request.body["tools"]}
    assert not offered & {"bash", "write", "edit"} and {"read", "grep"} <= offered
    assert request.body["temperature"] == 0.25


async def test_an_agent_model_is_used_when_the_prompt_names_none(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    sid = await create_session(client)
    reply = await prompt(client, sid, "REPLY from claude via agent", agent="claude")
    assert reply["info"]["providerID"] == "anth" and reply["info"]["modelID"] == "claude-mock"
    assert requests_for(fake_llm, "REPLY from claude via agent")[0].path == "/v1/messages"
    stored = await messages(client, sid)
    assert stored[0]["info"]["model"] == {"providerID": "anth", "modelID": "claude-mock"}


async def test_a_disabled_agent_is_refused(client: httpx.AsyncClient) -> None:
    sid = await create_session(client)
    response = await client.post(
        f"/session/{sid}/message", json={"agent": "plan", "parts": [{"type": "text", "text": "x"}]}
    )
    assert response.status_code == 400 and response.json()["field"] == "agent"
    assert await messages(client, sid) == []


async def test_commands_from_config_are_listed(client: httpx.AsyncClient) -> None:
    response = await client.get("/command")
    assert response.status_code == 200
    validate_response("get", "/command", 200, response.json())
    commands = {c["name"]: c for c in response.json()}
    assert {"init", "review", "greet", "split", "plain"} <= set(commands)
    greet = commands["greet"]
    assert greet == {
        "name": "greet",
        "source": "command",
        "template": "REPLY hello $1 (all: $ARGUMENTS)",
        "description": "Greets someone",
        "agent": "reviewer",
        "hints": ["$1", "$ARGUMENTS"],
    }
    assert commands["split"]["hints"] == ["$1", "$2"]


async def test_a_config_command_runs_with_its_arguments(client: httpx.AsyncClient, fake_llm: FakeLLM) -> None:
    sid = await create_session(client)
    response = await client.post(
        f"/session/{sid}/command", json={"command": "greet", "arguments": "Ada Lovelace"}
    )
    assert response.status_code == 200, response.text
    reply = response.json()
    validate_response("post", "/session/{sessionID}/command", 200, reply)
    # $1 is the last numbered placeholder, so it takes the rest of the words (like the reference)
    assert text_of(reply) == "hello Ada Lovelace (all: Ada Lovelace)"
    stored = await messages(client, sid)
    validate_all(stored)
    user = stored[0]
    assert text_of(user) == "REPLY hello Ada Lovelace (all: Ada Lovelace)"
    assert user["info"]["agent"] == "reviewer" and reply["info"]["agent"] == "reviewer"

    sid = await create_session(client)
    split = await client.post(
        f"/session/{sid}/command", json={"command": "/split", "arguments": "one 'two three' four"}
    )
    assert split.status_code == 200 and text_of(split.json()) == "first=one rest=two three four"

    sid = await create_session(client)
    plain = (await client.post(f"/session/{sid}/command", json={"command": "plain", "arguments": ""})).json()
    assert text_of(plain) == "plain command" and plain["info"]["providerID"] == "anth"
    # the body's agent and model win over the command's
    sid = await create_session(client)
    chosen = (
        await client.post(
            f"/session/{sid}/command",
            json={"command": "plain", "arguments": "", "agent": "build", "model": "mock/mock-model"},
        )
    ).json()
    assert chosen["info"]["agent"] == "build" and chosen["info"]["providerID"] == "mock"


async def test_an_unknown_command_or_bad_model_is_400(client: httpx.AsyncClient) -> None:
    sid = await create_session(client)
    unknown = await client.post(f"/session/{sid}/command", json={"command": "nope", "arguments": ""})
    assert unknown.status_code == 400
    validate("InvalidRequestError", unknown.json())
    bad = await client.post(
        f"/session/{sid}/command", json={"command": "greet", "arguments": "", "model": "nomodel"}
    )
    assert bad.status_code == 400 and bad.json()["field"] == "model"
    assert await messages(client, sid) == []
