"""Unit tests of wakeful.project.agents: built-in agents, config agents, tool permissions."""

from __future__ import annotations

from pathlib import Path

import pytest

from wakeful.errors import InvalidRequestError
from wakeful.project.agents import load_agents, resolve_agent
from wakeful.project.config import ProjectConfig
from wakeful.wire.meta import AgentModel

READ_ONLY = {"read", "glob", "grep", "list", "todoread"}


def config(data: dict) -> ProjectConfig:
    return ProjectConfig(Path("/tmp"), data, ())


def test_builtins() -> None:
    agents = load_agents(config({}))
    assert set(agents) == {"build", "plan", "general", "explore"}
    assert {n for n, a in agents.items() if a.mode == "subagent"} == {"general", "explore"}
    assert agents["build"].allows("bash", READ_ONLY) and agents["build"].allows("write", READ_ONLY)
    assert agents["plan"].allows("read", READ_ONLY)
    assert not agents["plan"].allows("write", READ_ONLY) and not agents["plan"].allows("bash", READ_ONLY)


def test_config_agents() -> None:
    agents = load_agents(
        config(
            {
                "mode": {"legacy": {"prompt": "old style"}},
                "agent": {
                    "review": {
                        "prompt": "P",
                        "tools": {"*": False, "read": True},
                        "model": "p/m",
                        "temperature": 0.1,
                        "maxSteps": 3,
                    },
                    "plan": {"disable": True},
                    "build": {"tools": {"bash": False}},
                    "junk": "not an object",
                },
            }
        )
    )
    assert set(agents) == {"build", "legacy", "review", "general", "explore"}
    review = agents["review"]
    assert review.allows("read", READ_ONLY) and not review.allows("grep", READ_ONLY)
    assert review.steps == 3 and review.mode == "all" and not review.native
    assert review.wire().model == AgentModel(providerID="p", modelID="m")
    assert not agents["build"].allows("bash", READ_ONLY) and agents["build"].native
    assert agents["legacy"].prompt == "old style"


def test_resolve() -> None:
    assert resolve_agent(config({}), None).name == "build"
    assert resolve_agent(config({"default_agent": "plan"}), None).name == "plan"
    with pytest.raises(InvalidRequestError) as info:
        resolve_agent(config({"agent": {"plan": {"disable": True}}}), "plan")
    assert info.value.field == "agent"


def test_turning_off_one_tool_that_edits_turns_off_all_of_them() -> None:
    agents = load_agents(
        config(
            {
                "agent": {
                    "reviewer": {"tools": {"write": False}},
                    "patcher": {"tools": {"*": False, "apply_patch": True}},
                }
            }
        )
    )
    reviewer, patcher = agents["reviewer"], agents["patcher"]
    assert not {t for t in ("edit", "write", "apply_patch") if reviewer.allows(t, READ_ONLY)}
    assert reviewer.allows("bash", READ_ONLY)
    assert {t for t in ("edit", "write", "apply_patch", "bash") if patcher.allows(t, READ_ONLY)} == {
        "edit",
        "write",
        "apply_patch",
    }
