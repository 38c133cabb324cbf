"""The agent loop on the scripted model and a MemoryStore: steps and tool calls stored as the
reference stores them, streaming (deltas and flushes), retries, final errors, a silent provider,
token and cost accounting, and an agent's step limit. Waits are on the bus and the model's gates."""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import text_of, tool, tool_parts, validate_all
from tests.support.inproc import (
    EventLog,
    answer,
    new_session,
    open_runtime,
    prompt_run,
    scripted,
    server_config,
    submit,
)
from tests.support.schemas import capture
from tests.support.server import SCRIPTED, write_project_config
from wakeful.run.manager import Reply
from wakeful.run.runtime import Runtime

RETRIES = 2
SILENCE = 0.05
COST: dict[str, Any] = {"input": 3, "output": 15, "cache": {"read": 0.3, "write": 3.75}}  # $ per million tokens


@pytest.fixture
def app_project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    path = write_project_config(directory, SCRIPTED, agent={"short": {"steps": 2}})
    config = json.loads(path.read_text())
    config["provider"]["mock"]["models"]["mock-model"]["cost"] = COST
    path.write_text(json.dumps(config))
    return directory


@pytest.fixture
def app_flags() -> dict[str, Any]:
    # No backoff (retries are counted, not timed) and a silence limit short enough to reach.
    return {"retry_attempts": RETRIES, "retry_base": 0, "provider_silence": SILENCE}


async def run(runtime: Runtime, text: str, **body: Any) -> tuple[Reply, list[dict[str, Any]]]:
    """Run one prompt in a new session: the reply and everything the session then stores."""
    session = await new_session(runtime)
    reply = await answer(await submit(runtime, prompt_run(runtime, session, text, **body)))
    stored = await runtime.messages.list_raw(session.id)
    validate_all(stored)
    return reply, stored


def tool_statuses(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each tool call's states, in the order they were announced, by tool name."""
    seen: dict[str, list[str]] = {}
    for e in events:
        part = e["properties"]["part"]
        if part["type"] == "tool":
            seen.setdefault(part["tool"], []).append(part["state"]["status"])
    return seen


async def test_tool_steps_are_stored_as_the_reference_stores_them(runtime: Runtime) -> None:
    notes = runtime.config.project_dir / "notes.txt"
    script = "\n".join(
        [
            tool("write", filePath=str(notes), content="alpha\n"),
            tool("read", filePath=str(notes)),
            tool("read", filePath="missing.txt"),
            tool("no_such_tool"),
            "REPLY all done",
        ]
    )
    events = EventLog(runtime)
    reply, stored = await run(runtime, script)

    user, *steps, final = stored
    assert len(steps) == 4  # one assistant message per model call
    assert reply["info"]["id"] == final["info"]["id"] and text_of(reply) == "all done"
    reference = capture("exp3e-tool-messages.json")[1]
    for step in steps:
        info = step["info"]
        assert info["parentID"] == user["info"]["id"] and info["finish"] == "tool-calls"
        assert set(info) == set(reference["info"])
        assert [p["type"] for p in step["parts"]] == ["step-start", "tool", "step-finish"]
        assert set(step["parts"][1]) == set(reference["parts"][1])
        assert step["parts"][2]["reason"] == "tool-calls" and step["parts"][2]["tokens"] == info["tokens"]
    assert [p["type"] for p in final["parts"]] == ["step-start", "text", "step-finish"]
    assert final["info"]["finish"] == "stop"

    write, read, missing, unknown = (tool_parts(s)[0]["state"] for s in steps)
    assert write["status"] == read["status"] == "completed" and read["output"].count("alpha") == 1
    assert missing["status"] == "error" and "missing.txt" in missing["error"]
    assert unknown["status"] == "error" and "no_such_tool" in unknown["error"]
    # Announced on the way: a call the loop can start runs; one it cannot goes straight to error.
    updates = await events.of("message.part.updated")
    statuses = tool_statuses(updates)
    assert statuses["write"] == ["pending", "running", "completed"]
    assert statuses["read"] == ["pending", "running", "completed", "pending", "running", "error"]
    assert statuses["no_such_tool"] == ["pending", "error"]

    # Each result went back to the model with the call it answers.
    requests = scripted(runtime).requests
    assert len(requests) == 5
    for step, request in zip(steps, requests[1:], strict=True):
        part = tool_parts(step)[0]
        result = request.request.messages[-1]
        assert result.role == "tool" and result.tool_call_id == part["callID"]
        assert result.is_error == (part["state"]["status"] == "error")


async def test_streamed_text_is_announced_as_deltas_and_stored_at_the_flush_interval(
    tmp_path: Path, app_project: Path
) -> None:
    """Held after its first chunk, the run shows what is stored mid-stream: every chunk at interval
    0, only the empty part (until it ends) at an interval no run reaches."""
    for interval, mid_stream in ((0.0, "abc"), (3600.0, "")):
        config = server_config(tmp_path / f"data-{interval:g}", app_project, part_flush_interval=interval)
        async with open_runtime(config) as runtime:
            session = await new_session(runtime)
            model = scripted(runtime)
            events = EventLog(runtime)
            handle = await submit(runtime, prompt_run(runtime, session, "HOLD gate\nREPLY abcdefghi"))
            await model.held("gate")
            (delta,) = await events.of("message.part.delta", session.id)
            assert delta["properties"]["delta"] == "abc" and delta["properties"]["field"] == "text"
            (_, partial) = await runtime.messages.list_raw(session.id)
            text = partial["parts"][1]
            assert text["id"] == delta["properties"]["partID"]
            assert text["text"] == mid_stream and "end" not in text["time"]

            model.release("gate")
            reply = await answer(handle)
            deltas = [e["properties"]["delta"] for e in await events.of("message.part.delta", session.id)]
            assert deltas == ["abc", "def", "ghi"]
            (_, done) = await runtime.messages.list_raw(session.id)
            assert done["parts"][1]["text"] == "abcdefghi" == text_of(reply)
            assert done["parts"][1]["time"]["end"] >= done["parts"][1]["time"]["start"]


async def test_a_retryable_error_is_retried_with_retry_statuses_then_succeeds(runtime: Runtime) -> None:
    script = "ERROR 503 2\nREPLY after retries"
    events = EventLog(runtime)
    reply, stored = await run(runtime, script)
    assert "error" not in reply["info"] and text_of(reply) == "after retries"
    assert scripted(runtime).count(script) == RETRIES + 1
    assert len(stored) == 2  # the attempts share one assistant message
    sid = reply["info"]["sessionID"]
    seen = [e["properties"]["status"] for e in await events.of("session.status", sid)]
    retries = [s for s in seen if s["type"] == "retry"]
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all(r["message"] == "mock error 503" and isinstance(r["next"], int) for r in retries)
    assert seen == [
        {"type": "busy"},
        retries[0],
        {"type": "busy"},
        retries[1],
        {"type": "busy"},
        {"type": "idle"},
    ]


async def test_a_cut_stream_is_retried_without_doubling_the_text(runtime: Runtime) -> None:
    script = "BREAK 2 1\nREPLY complete answer after a cut"
    events = EventLog(runtime)
    reply, _ = await run(runtime, script)
    assert "error" not in reply["info"] and text_of(reply) == "complete answer after a cut"
    assert [p["type"] for p in reply["parts"]] == ["step-start", "text", "step-finish"]
    (removed,) = await events.of("message.part.removed", reply["info"]["sessionID"])
    assert removed["properties"]["messageID"] == reply["info"]["id"]  # the first attempt's partial text


async def test_retry_after_sets_when_the_retry_comes(runtime: Runtime) -> None:
    script = "ERROR 429 1\nRETRY_AFTER 0.3\nREPLY rate limit passed"
    events = EventLog(runtime)
    reply, _ = await run(runtime, script)
    assert text_of(reply) == "rate limit passed"
    sid = reply["info"]["sessionID"]
    (retry,) = [
        e["properties"]["status"]
        for e in await events.of("session.status", sid)
        if e["properties"]["status"]["type"] == "retry"
    ]
    user_created = (await runtime.messages.list_raw(sid))[0]["info"]["time"]["created"]
    assert retry["next"] - user_created >= 300  # the server's wait, not the configured backoff (0)


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("ERROR 400", {"name": "APIError", "statusCode": 400, "isRetryable": False}),
        ("ERROR 401", {"name": "ProviderAuthError", "providerID": "mock"}),
    ],
)
async def test_a_final_error_is_stored_without_a_retry(
    runtime: Runtime, script: str, error: dict[str, Any]
) -> None:
    reply, stored = await run(runtime, script)
    assert scripted(runtime).count(script) == 1
    stored_error = reply["info"]["error"]
    assert stored_error["name"] == error.pop("name")
    assert stored_error["data"]["message"] == f"mock error {script.split()[1]}"
    assert error.items() <= stored_error["data"].items()
    assert stored[-1]["info"]["error"] == stored_error and stored[-1]["info"]["time"]["completed"]


async def test_retries_end_with_the_last_error_stored(runtime: Runtime) -> None:
    reply, _ = await run(runtime, "ERROR 503")
    assert scripted(runtime).count("ERROR 503") == RETRIES + 1
    error = reply["info"]["error"]
    assert error["name"] == "APIError" and error["data"]["isRetryable"] is True
    assert error["data"]["statusCode"] == 503


async def test_a_silent_provider_ends_the_run_with_an_error_that_says_why(runtime: Runtime) -> None:
    # The silence limit firing is the point: SILENT is never released.
    reply, stored = await run(runtime, "SILENT")
    assert scripted(runtime).count("SILENT") == RETRIES + 1
    assert reply["info"]["error"] == {
        "name": "UnknownError",
        "data": {
            "message": f"The run was stopped: provider sent nothing for {SILENCE:g} s (after {RETRIES + 1} attempts)"
        },
    }
    assert stored[-1]["info"]["error"] == reply["info"]["error"]


async def test_tokens_and_cost_are_counted_per_step(runtime: Runtime) -> None:
    script = "\n".join(["USAGE 120 30 40 10", tool("read", filePath="opencode.json"), "REPLY counted"])
    _, stored = await run(runtime, script)
    _, step, final = stored
    expected_cost = (120 * COST["input"] + 30 * COST["output"] + 40 * 0.3) / 1_000_000
    for message in (step, final):
        info = message["info"]
        assert info["tokens"] == {
            "total": 190,  # uncached input + cache reads + output (reasoning included)
            "input": 120,
            "output": 20,  # without the reasoning, which is counted apart
            "reasoning": 10,
            "cache": {"read": 40, "write": 0},
        }
        assert info["cost"] == pytest.approx(expected_cost)
        finish = message["parts"][-1]
        assert finish["tokens"] == info["tokens"] and finish["cost"] == info["cost"]


async def test_an_agent_stops_after_its_step_limit(runtime: Runtime) -> None:
    script = "\n".join([tool("read", filePath="opencode.json")] * 3 + ["REPLY never reached"])
    reply, stored = await run(runtime, script, agent="short")
    assert [m["info"]["role"] for m in stored] == ["user", "assistant", "assistant"]
    assert len(scripted(runtime).requests) == 2
    assert reply["info"]["id"] == stored[-1]["info"]["id"]
    assert reply["info"]["finish"] == "tool-calls" and "error" not in reply["info"]
    assert [p["state"]["status"] for m in stored for p in tool_parts(m)] == ["completed", "completed"]


async def test_a_finished_run_leaves_no_loop_for_the_collector(runtime: Runtime) -> None:
    """Refcounting frees a finished run's agent loop: a reference cycle through it would keep every
    finished run (its tools, history, messages) until the collector's next full pass, which a
    server that holds a thousand calls runs rarely."""
    session = await new_session(runtime)
    request = prompt_run(runtime, session, "REPLY plain")
    gc.disable()
    try:
        assert text_of(await answer(await submit(runtime, request))) == "plain"
        loop = weakref.ref(request.executor._loop)  # type: ignore[attr-defined]
        assert loop() is not None
        del request
        assert loop() is None
    finally:
        gc.enable()
