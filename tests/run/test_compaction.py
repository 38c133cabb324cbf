"""Compaction in the agent loop, on the scripted model with a 4,000-token window: a run of 40 tool
steps outlives the window, every request the model received fits it, and the compactions are stored
as the reference stores them; a provider's overflow error is compacted once and retried, a second
one ends the run with ContextOverflowError; `compaction.auto: false` leaves the overflow alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import prompt_body, text_of, tool_parts, validate_all
from tests.support.inproc import EventLog, answer, new_session, scripted, submit
from tests.support.server import SCRIPTED, write_project_config
from tests.support.stall import frozen_heap
from wakeful.providers.scripted.provider import request_chars
from wakeful.run.history import COMPACTION_QUESTION, is_compaction
from wakeful.run.manager import Reply
from wakeful.run.prompt import build_run
from wakeful.run.runtime import Runtime
from wakeful.wire.bodies import PromptBody

WINDOW = 4_000
OUTPUT = 400
STEPS = 40
# A bash call whose output (about 540 characters) makes each step cost about 150 tokens.
STEP = 'TOOL bash {"command": "seq 1 150", "description": "numbers"}'


def project_with_window(directory: Path, **compaction: Any) -> Path:
    directory.mkdir()
    path = write_project_config(
        directory,
        SCRIPTED,
        agent={"long": {"prompt": "Run the commands.", "tools": {"*": False, "bash": True}, "steps": 2 * STEPS}},
    )
    config = json.loads(path.read_text())
    config["provider"]["mock"]["models"]["mock-model"]["limit"] = {"context": WINDOW, "output": OUTPUT}
    if compaction:
        config["compaction"] = compaction
    path.write_text(json.dumps(config))
    return directory


@pytest.fixture
def app_project(tmp_path: Path) -> Path:
    return project_with_window(tmp_path / "project")


@pytest.fixture(scope="module", autouse=True)
def _heap() -> Iterator[None]:
    with frozen_heap():
        yield


async def run(runtime: Runtime, text: str, directory: Path | None = None) -> tuple[Reply, list[dict[str, Any]]]:
    """Run one prompt of the `long` agent in a new session of `directory` (the project by default)."""
    session = await new_session(runtime)
    body = PromptBody.model_validate(prompt_body(text, agent="long"))
    prompt = build_run(runtime, session, directory or runtime.config.project_dir, body)
    reply = await answer(await submit(runtime, prompt))
    stored = await runtime.messages.list_raw(session.id)
    # Against the reference's schemas: what this module adds, and the answer. (Not every message: a
    # jsonschema run over 50 messages allocates enough to set off a garbage collection that stalls
    # the loop.)
    validate_all([m for m in stored if m["info"].get("summary") is True or is_compaction(m)] + stored[-1:])
    return reply, stored


def compactions(stored: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(compaction part, summary message) of each compaction stored."""
    out = []
    for request in stored:
        part = next((p for p in request["parts"] if p["type"] == "compaction"), None)
        if part is None:
            continue
        (summary,) = [m for m in stored if m["info"].get("parentID") == request["info"]["id"]]
        out.append((part, summary))
    return out


async def test_a_run_of_40_tool_steps_outlives_a_4000_token_window(runtime: Runtime) -> None:
    events = EventLog(runtime)
    script = "\n".join([STEP] * STEPS)
    reply, stored = await run(runtime, script)

    assert reply["info"].get("error") is None and reply["info"]["finish"] == "stop"
    assert text_of(reply).startswith("TOOL_RESULT_SEEN: 1\n2\n")
    calls = [p for m in stored for p in tool_parts(m)]
    assert len(calls) == STEPS and all(p["state"]["status"] == "completed" for p in calls)
    assert len({p["callID"] for p in calls}) == STEPS  # each step called the next tool, none twice
    assert not [m for m in stored if m["info"].get("error")]

    done = compactions(stored)
    assert done, "no compaction was stored"
    for part, summary in done:
        assert part["auto"] is True and "overflow" not in part
        assert summary["info"]["summary"] is True
        assert summary["info"]["mode"] == summary["info"]["agent"] == "compaction"
        assert summary["info"]["finish"] == "stop" and text_of(summary)
        assert any(m["info"]["id"] == part["tail_start_id"] for m in stored)
    assert len(await events.of("session.compacted", reply["info"]["sessionID"])) == len(done)

    model = scripted(runtime)
    assert sum(r.request.purpose == "summary" for r in model.requests) == len(done)
    for received in model.requests:
        sent = request_chars(received.request) // 4  # the input tokens the model reported
        assert sent + (received.request.max_tokens or 0) <= WINDOW, received.step


async def test_after_a_compaction_the_model_sees_the_summary_the_prompt_and_the_recent_steps(
    runtime: Runtime,
) -> None:
    script = "\n".join([*[STEP] * STEPS, "SUMMARY the work so far, summarised"])
    await run(runtime, script)
    requests = scripted(runtime).requests
    first = next(i for i, r in enumerate(requests) if r.request.purpose == "summary")
    summary_request, after = requests[first].request, requests[first + 1].request
    assert summary_request.tools == [] and summary_request.system == []
    assert summary_request.messages[0].text == script  # the history before the tail is summarised
    assert "Summarise the conversation above" in summary_request.messages[-1].text
    question, summary, prompt, *tail = after.messages
    assert (question.role, question.text) == ("user", COMPACTION_QUESTION)
    assert summary.role == "assistant" and summary.text.startswith("the work so far, summarised")
    assert (prompt.role, prompt.text) == ("user", script)  # the run's task is shown verbatim again
    assert tail and tail[0].role == "assistant" and tail[0].tool_calls
    assert requests[first + 1].step == requests[first - 1].step + 1  # the run carried on where it was


async def test_an_overflow_error_is_compacted_once_and_retried(runtime: Runtime) -> None:
    reply, stored = await run(runtime, "OVERFLOW 1\nREPLY fitted at last")
    assert reply["info"].get("error") is None and text_of(reply) == "fitted at last"
    ((part, summary),) = compactions(stored)
    assert part["auto"] is True and part["overflow"] is True
    assert summary["info"]["summary"] is True
    # the refused step left nothing behind: the prompt, the compaction, and the answer
    assert [m["info"]["role"] for m in stored] == ["user", "user", "assistant", "assistant"]


async def test_a_second_overflow_ends_the_run_with_context_overflow_error(runtime: Runtime) -> None:
    reply, _ = await run(runtime, "OVERFLOW\nREPLY never")
    error = reply["info"]["error"]
    assert error["name"] == "ContextOverflowError"
    assert "maximum context length" in error["data"]["message"]
    assert "context_length_exceeded" in error["data"]["responseBody"]


async def test_without_auto_compaction_an_overflow_is_the_runs_error(runtime: Runtime, tmp_path: Path) -> None:
    directory = project_with_window(tmp_path / "manual", auto=False)
    reply, stored = await run(runtime, "OVERFLOW 1\nREPLY unreachable", directory)
    assert reply["info"]["error"]["name"] == "ContextOverflowError"
    assert not compactions(stored)
    assert scripted(runtime, directory=directory).count("OVERFLOW 1\nREPLY unreachable") == 1
