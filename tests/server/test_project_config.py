"""opencode configuration merged from three places (issue 4): the global file in
`$XDG_CONFIG_HOME/opencode/`, the file named by `OPENCODE_CONFIG`, and the project's
`opencode.jsonc` (comments allowed); project wins over OPENCODE_CONFIG over global.

In-process, with the fake LLM on loopback: the API key a `{env:...}` reference resolves to is
checked on the wire."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.fakellm import FakeLLM
from tests.support.http import requests_for, text_of
from tests.support.inproc import InProcess, create_session, prompt, running, server_config


@pytest.fixture
def homes(tmp_path: Path, fake_llm: FakeLLM) -> dict[str, Path]:
    root = tmp_path / "config"
    xdg = root / "xdg"
    (xdg / "opencode").mkdir(parents=True)
    (xdg / "opencode" / "opencode.json").write_text(
        json.dumps(
            {
                "model": "global/never",
                "small_model": "mock/global-small",
                "provider": {
                    "mock": {
                        "name": "Global Mock",
                        "options": {"baseURL": fake_llm.url, "apiKey": "{env:WAKEFUL_TEST_MOCK_KEY}"},
                        "models": {"mock-model": {"name": "from global"}},
                    }
                },
                "agent": {"globalagent": {"prompt": "GLOBAL-AGENT", "description": "from global"}},
                "command": {
                    "shared": {"template": "REPLY global"},
                    "from-global": {"template": "REPLY only global"},
                },
            }
        )
    )
    custom = root / "custom" / "custom.json"
    custom.parent.mkdir()
    custom.write_text(
        json.dumps(
            {
                "model": "custom/never",
                "command": {
                    "shared": {"template": "REPLY custom"},
                    "from-custom": {"template": "REPLY only custom"},
                    "custom-over-global": {"template": "REPLY custom wins"},
                },
                "agent": {"globalagent": {"description": "overridden by OPENCODE_CONFIG"}},
            }
        )
    )
    (xdg / "opencode" / "config.json").write_text(
        json.dumps({"command": {"custom-over-global": {"template": "REPLY global loses"}}})
    )
    project = root / "project"
    project.mkdir()
    (project / "opencode.jsonc").write_text(
        """// the project's own config: comments and trailing commas are allowed
{
  "$schema": "https://opencode.ai/config.json",
  /* the project's model wins over both other files */
  "model": "mock/mock-model",
  "provider": {
    "mock": {
      "models": {"mock-model": {"name": "from project"}, "second": {}},
    },
  },
  "command": {
    "shared": {"template": "REPLY project $ARGUMENTS"}, // wins
  },
}
"""
    )
    other = root / "other"
    other.mkdir()
    (other / "opencode.json").write_text(json.dumps({"command": {"other-dir": {"template": "REPLY other"}}}))
    return {"xdg": xdg, "custom": custom, "project": project, "other": other}


@pytest.fixture
async def wakeful(tmp_path: Path, homes: dict[str, Path]) -> AsyncIterator[InProcess]:
    env = {
        "XDG_CONFIG_HOME": str(homes["xdg"]),
        "OPENCODE_CONFIG": str(homes["custom"]),
        "WAKEFUL_TEST_MOCK_KEY": "key-from-env",
    }
    async with running(server_config(tmp_path / "data", homes["project"], env=env)) as app:
        yield app


async def test_config_is_merged_in_the_reference_order(client: httpx.AsyncClient) -> None:
    config = (await client.get("/config")).json()
    assert config["model"] == "mock/mock-model"  # project
    assert config["small_model"] == "mock/global-small"  # only global says it
    commands = config["command"]
    assert commands["shared"]["template"] == "REPLY project $ARGUMENTS"
    assert commands["from-global"]["template"] == "REPLY only global"
    assert commands["from-custom"]["template"] == "REPLY only custom"
    assert commands["custom-over-global"]["template"] == "REPLY custom wins"
    # objects merge key by key
    mock = config["provider"]["mock"]
    assert mock["name"] == "Global Mock"
    assert mock["options"] == {"baseURL": mock["options"]["baseURL"], "apiKey": "key-from-env"}
    assert set(mock["models"]) == {"mock-model", "second"}
    assert mock["models"]["mock-model"]["name"] == "from project"
    agent = config["agent"]["globalagent"]
    assert agent == {"prompt": "GLOBAL-AGENT", "description": "overridden by OPENCODE_CONFIG"}


async def test_the_merged_config_drives_runs_agents_and_commands(
    client: httpx.AsyncClient, fake_llm: FakeLLM
) -> None:
    agents = {a["name"]: a for a in (await client.get("/agent")).json()}
    assert agents["globalagent"]["description"] == "overridden by OPENCODE_CONFIG"
    names = {c["name"] for c in (await client.get("/command")).json()}
    assert {"shared", "from-global", "from-custom", "custom-over-global"} <= names
    providers = (await client.get("/config/providers")).json()
    assert providers["default"]["mock"] == "mock-model"
    sid = await create_session(client)
    reply = (
        await client.post(f"/session/{sid}/command", json={"command": "shared", "arguments": "merged"})
    ).json()
    assert text_of(reply) == "project merged"
    (call,) = requests_for(fake_llm, "REPLY project merged")
    assert call.headers["Authorization"] == "Bearer key-from-env"
    sid = await create_session(client)
    reply = await prompt(client, sid, "REPLY from the global agent", agent="globalagent")
    assert text_of(reply) == "from the global agent"
    system = [m["content"] for m in requests_for(fake_llm, "REPLY from the global agent")[0].body["messages"]]
    assert system[0] == "GLOBAL-AGENT"


async def test_config_is_per_directory_and_reloaded_when_it_changes(
    client: httpx.AsyncClient, homes: dict[str, Path]
) -> None:
    other = homes["other"]
    config = (await client.get("/config", params={"directory": str(other)})).json()
    assert config["command"]["other-dir"]["template"] == "REPLY other"
    assert config["command"]["shared"]["template"] == "REPLY custom"  # no project file there
    assert "other-dir" not in (await client.get("/config")).json()["command"]
    (other / "opencode.json").write_text(
        json.dumps({"command": {"other-dir": {"template": "REPLY changed"}}})
    )
    changed = (await client.get("/config", headers={"x-opencode-directory": str(other)})).json()
    assert changed["command"]["other-dir"]["template"] == "REPLY changed"
