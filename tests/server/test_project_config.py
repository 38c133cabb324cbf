"""opencode configuration merged from three places, over real HTTP (issue 4): the global file in
`$XDG_CONFIG_HOME/opencode/`, the file named by `OPENCODE_CONFIG`, and the project's
`opencode.jsonc` (comments allowed); project wins over OPENCODE_CONFIG over global."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fakellm import FakeLLMThread
from tests.support.http import new_session, prompt, requests_for, text_of
from tests.support.server import WakefulProcess


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLMThread) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("config")
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
                        "options": {"baseURL": llm.url, "apiKey": "{env:WAKEFUL_TEST_MOCK_KEY}"},
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, homes: dict[str, Path]) -> Iterator[WakefulProcess]:
    env: dict[str, str | None] = {
        "XDG_CONFIG_HOME": str(homes["xdg"]),
        "OPENCODE_CONFIG": str(homes["custom"]),
        "WAKEFUL_TEST_MOCK_KEY": "key-from-env",
    }
    proc = WakefulProcess(tmp_path_factory.mktemp("data"), homes["project"], env=env).start()
    yield proc
    proc.stop()


def test_config_is_merged_in_the_reference_order(http: httpx.Client) -> None:
    config = http.get("/config").json()
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


def test_the_merged_config_drives_runs_agents_and_commands(http: httpx.Client, llm: FakeLLMThread) -> None:
    agents = {a["name"]: a for a in http.get("/agent").json()}
    assert agents["globalagent"]["description"] == "overridden by OPENCODE_CONFIG"
    names = {c["name"] for c in http.get("/command").json()}
    assert {"shared", "from-global", "from-custom", "custom-over-global"} <= names
    providers = http.get("/config/providers").json()
    assert providers["default"]["mock"] == "mock-model"
    sid = new_session(http)
    reply = http.post(f"/session/{sid}/command", json={"command": "shared", "arguments": "merged"}).json()
    assert text_of(reply) == "project merged"
    (call,) = requests_for(llm, "REPLY project merged")
    assert call.headers["Authorization"] == "Bearer key-from-env"
    sid = new_session(http)
    reply = prompt(http, sid, "REPLY from the global agent", agent="globalagent")
    assert text_of(reply) == "from the global agent"
    system = [m["content"] for m in requests_for(llm, "REPLY from the global agent")[0].body["messages"]]
    assert system[0] == "GLOBAL-AGENT"


def test_config_is_per_directory_and_reloaded_when_it_changes(
    http: httpx.Client, homes: dict[str, Path]
) -> None:
    other = homes["other"]
    config = http.get("/config", params={"directory": str(other)}).json()
    assert config["command"]["other-dir"]["template"] == "REPLY other"
    assert config["command"]["shared"]["template"] == "REPLY custom"  # no project file there
    assert "other-dir" not in http.get("/config").json()["command"]
    (other / "opencode.json").write_text(json.dumps({"command": {"other-dir": {"template": "REPLY changed"}}}))
    changed = http.get("/config", headers={"x-opencode-directory": str(other)}).json()
    assert changed["command"]["other-dir"]["template"] == "REPLY changed"
