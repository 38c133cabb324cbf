"""A run's model options on the scripted model: max_tokens from `limit.output`, the variant of a
prompt or a command (or the agent's), model and agent `options`, top_p; an unknown variant is
refused before anything is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.inproc import answer, new_session, prompt_run, scripted, submit
from tests.support.server import SCRIPTED, write_project_config
from wakeful.errors import InvalidRequestError
from wakeful.project.commands import resolve_command
from wakeful.run.manager import Reply
from wakeful.run.prompt import build_run, command_prompt
from wakeful.run.runtime import Runtime
from wakeful.wire.bodies import CommandBody


@pytest.fixture
def app_project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    path = write_project_config(
        directory,
        SCRIPTED,
        agent={"careful": {"options": {"seed": 7, "store": True}, "top_p": 0.8, "variant": "low"}},
        command={"check": {"template": "REPLY checked $ARGUMENTS"}},
    )
    config = json.loads(path.read_text())
    config["provider"]["mock"]["models"]["mock-model"].update(
        {
            "reasoning": True,
            "limit": {"context": 100_000, "output": 2_000},
            "options": {"store": False, "user": "ci"},
            "variants": {"high": {"reasoningEffort": "high", "extra": 1}},
        }
    )
    path.write_text(json.dumps(config))
    return directory


async def run(runtime: Runtime, text: str, **body: Any) -> Reply:
    session = await new_session(runtime)
    return await answer(await submit(runtime, prompt_run(runtime, session, text, **body)))


async def test_variant_options_and_limits_reach_the_model(runtime: Runtime) -> None:
    reply = await run(runtime, "REPLY tuned", variant="high", agent="careful")
    assert reply["info"]["variant"] == "high"
    request = scripted(runtime).requests[-1].request
    assert request.options == {"store": True, "user": "ci", "seed": 7, "reasoningEffort": "high", "extra": 1}
    assert request.max_tokens == 2_000 and request.top_p == 0.8
    (user, _) = await runtime.messages.list_raw(reply["info"]["sessionID"])
    assert user["info"]["model"]["variant"] == "high"


async def test_the_agents_variant_applies_when_the_prompt_names_none(runtime: Runtime) -> None:
    reply = await run(runtime, "REPLY default variant", agent="careful")
    assert reply["info"]["variant"] == "low"
    assert scripted(runtime).requests[-1].request.options["reasoningEffort"] == "low"


async def test_a_command_takes_a_variant(runtime: Runtime) -> None:
    session = await new_session(runtime)
    project = runtime.projects.load(runtime.config.project_dir)
    body = CommandBody(command="check", arguments="all", variant="medium")
    prompt = command_prompt(resolve_command(project, "check"), body, project)
    reply = await answer(await submit(runtime, build_run(runtime, session, runtime.config.project_dir, prompt)))
    assert reply["info"]["variant"] == "medium"
    assert scripted(runtime).requests[-1].request.options["reasoningEffort"] == "medium"


async def test_an_unknown_variant_is_refused(runtime: Runtime) -> None:
    session = await new_session(runtime)
    with pytest.raises(InvalidRequestError) as refused:
        prompt_run(runtime, session, "REPLY x", variant="ultra")
    assert refused.value.field == "variant" and "high, low, medium" in refused.value.message
    assert await runtime.messages.list_raw(session.id) == []
