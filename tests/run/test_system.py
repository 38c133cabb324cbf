"""The system prompt of a run: wakeful's prompt per model family within its budget, the environment
block, AGENTS.md and the configured instruction files, in the reference's order, built once a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.inproc import answer, new_session, prompt_run, scripted, submit
from tests.support.server import SCRIPTED, write_project_config
from wakeful.project.agents import Agent, builtin_agents
from wakeful.run.runtime import Runtime
from wakeful.run.system import FAMILIES, agent_prompt, family
from wakeful.run.tokens import fixed_tokens

BUDGET = 1_200  # tokens, with the environment block


@pytest.fixture
def app_project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    (directory / ".git").mkdir(parents=True)
    (directory / "AGENTS.md").write_text("Always run `make check` before you finish.")
    (directory / "docs").mkdir()
    (directory / "docs" / "ops.md").write_text("Pods live in namespace `prod`.")
    path = write_project_config(directory, SCRIPTED)
    config = json.loads(path.read_text())
    config["instructions"] = ["docs/*.md"]
    path.write_text(json.dumps(config))
    return directory


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-sonnet-4-5", "claude"),
        ("anthropic/claude-3-5-haiku", "claude"),
        ("gpt-4.1", "openai"),
        ("o3-mini", "openai"),
        ("gpt-5-codex", "gpt-5"),
        ("gemini-2.5-pro", "gemini"),
        ("qwen3-coder-30b", "other"),
        ("mock-model", "other"),
    ],
)
def test_the_model_family_picks_the_notes(model: str, expected: str) -> None:
    assert family(model) == expected


@pytest.mark.parametrize("name", FAMILIES)
def test_each_familys_prompt_fits_the_budget_with_the_environment(name: str) -> None:
    model = {"claude": "claude-x", "openai": "gpt-4o", "gpt-5": "gpt-5", "gemini": "gemini-2.5", "other": "m"}[name]
    for agent in builtin_agents().values():
        prompt = agent_prompt(agent, model)
        assert f"wakeful's {agent.name} agent" in prompt
        env = "The environment of this run:\n<env>\n  Working directory: /srv/projects/some-team/service\n" * 2
        assert fixed_tokens([prompt, env], []) <= BUDGET, (name, agent.name)
    assert "changes nothing" in agent_prompt(builtin_agents()["plan"], model)
    assert agent_prompt(Agent("custom", prompt="Only this."), model) == "Only this."


async def test_agents_md_and_instructions_reach_the_system_prompt_in_order(
    runtime: Runtime, app_project: Path
) -> None:
    session = await new_session(runtime)
    script = 'TOOL read {"filePath": "AGENTS.md"}\nREPLY done'
    await answer(await submit(runtime, prompt_run(runtime, session, script, system="USER-SYSTEM")))
    first, second = scripted(runtime).requests
    system = first.request.system
    assert system[0].startswith("You are wakeful's build agent")
    assert system[1].startswith("The environment of this run:")
    assert f"Working directory: {app_project}" in system[1] and "Is directory a git repo: yes" in system[1]
    assert system[2] == f"Instructions from: {app_project / 'AGENTS.md'}\nAlways run `make check` before you finish."
    assert system[3] == f"Instructions from: {app_project / 'docs' / 'ops.md'}\nPods live in namespace `prod`."
    assert system[4] == "USER-SYSTEM" and len(system) == 5
    assert second.request.system is system  # built once for the run, not at every step
