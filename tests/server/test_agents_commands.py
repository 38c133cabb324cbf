"""Agents and commands defined in the project's opencode.json, over real HTTP (issue 4)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.fakellm import FakeLLMThread
from tests.support.http import messages, new_session, prompt, requests_for, text_of, validate_all
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


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLMThread) -> Path:
    directory = tmp_path_factory.mktemp("project")
    write_project_config(directory, llm.url, agent=AGENTS, command=COMMANDS)
    return directory


def test_agents_from_config_are_listed(http: httpx.Client) -> None:
    response = http.get("/agent")
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


def test_a_config_agent_runs_with_its_prompt_tools_and_temperature(
    http: httpx.Client, llm: FakeLLMThread
) -> None:
    sid = new_session(http)
    script = "REPLY reviewed"
    reply = prompt(http, sid, script, agent="reviewer")
    assert text_of(reply) == "reviewed"
    stored = messages(http, sid)
    validate_all(stored)
    assert {m["info"]["agent"] for m in stored} == {"reviewer"}
    (request,) = [r for r in requests_for(llm, script) if "REVIEWER-PROMPT-MARKER" in json.dumps(r.body)]
    system = [m["content"] for m in request.body["messages"] if m["role"] == "system"]
    assert system[0] == "REVIEWER-PROMPT-MARKER: review carefully."
    offered = {t["function"]["name"] for t in request.body["tools"]}
    assert not offered & {"bash", "write", "edit"} and {"read", "grep"} <= offered
    assert request.body["temperature"] == 0.25


def test_an_agent_model_is_used_when_the_prompt_names_none(http: httpx.Client, llm: FakeLLMThread) -> None:
    sid = new_session(http)
    reply = prompt(http, sid, "REPLY from claude via agent", agent="claude")
    assert reply["info"]["providerID"] == "anth" and reply["info"]["modelID"] == "claude-mock"
    assert requests_for(llm, "REPLY from claude via agent")[0].path == "/v1/messages"
    stored = messages(http, sid)
    assert stored[0]["info"]["model"] == {"providerID": "anth", "modelID": "claude-mock"}


def test_a_disabled_agent_is_refused(http: httpx.Client) -> None:
    sid = new_session(http)
    response = http.post(
        f"/session/{sid}/message", json={"agent": "plan", "parts": [{"type": "text", "text": "x"}]}
    )
    assert response.status_code == 400 and response.json()["field"] == "agent"
    assert messages(http, sid) == []


def test_commands_from_config_are_listed(http: httpx.Client) -> None:
    response = http.get("/command")
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


def test_a_config_command_runs_with_its_arguments(http: httpx.Client, llm: FakeLLMThread) -> None:
    sid = new_session(http)
    response = http.post(f"/session/{sid}/command", json={"command": "greet", "arguments": "Ada Lovelace"})
    assert response.status_code == 200, response.text
    reply = response.json()
    validate_response("post", "/session/{sessionID}/command", 200, reply)
    # $1 is the last numbered placeholder, so it takes the rest of the words (like the reference)
    assert text_of(reply) == "hello Ada Lovelace (all: Ada Lovelace)"
    stored = messages(http, sid)
    validate_all(stored)
    user = stored[0]
    assert text_of(user) == "REPLY hello Ada Lovelace (all: Ada Lovelace)"
    assert user["info"]["agent"] == "reviewer" and reply["info"]["agent"] == "reviewer"

    sid = new_session(http)
    split = http.post(f"/session/{sid}/command", json={"command": "/split", "arguments": "one 'two three' four"})
    assert split.status_code == 200 and text_of(split.json()) == "first=one rest=two three four"

    sid = new_session(http)
    plain = http.post(f"/session/{sid}/command", json={"command": "plain", "arguments": ""}).json()
    assert text_of(plain) == "plain command" and plain["info"]["providerID"] == "anth"
    # the body's agent and model win over the command's
    sid = new_session(http)
    chosen = http.post(
        f"/session/{sid}/command",
        json={"command": "plain", "arguments": "", "agent": "build", "model": "mock/mock-model"},
    ).json()
    assert chosen["info"]["agent"] == "build" and chosen["info"]["providerID"] == "mock"


def test_an_unknown_command_or_bad_model_is_400(http: httpx.Client) -> None:
    sid = new_session(http)
    unknown = http.post(f"/session/{sid}/command", json={"command": "nope", "arguments": ""})
    assert unknown.status_code == 400
    validate("InvalidRequestError", unknown.json())
    bad = http.post(f"/session/{sid}/command", json={"command": "greet", "arguments": "", "model": "nomodel"})
    assert bad.status_code == 400 and bad.json()["field"] == "model"
    assert messages(http, sid) == []
