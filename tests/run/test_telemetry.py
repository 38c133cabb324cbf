"""What the run layer records in its runtime's metrics: runs by kind and outcome, running and queued
runs, each model call (duration, time to first token, tokens, retries, outcome) and each tool call
by tool and outcome. In-process, on the scripted model; waits are on handles and the model's gates."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.http import text_of, tool
from tests.support.inproc import answer, new_session, prompt_run, scripted, submit
from wakeful.run.runtime import Runtime

MODEL = {"provider": "mock", "model": "mock-model"}


@pytest.fixture
def app_flags() -> dict[str, Any]:
    return {"retry_base": 0}  # retries are counted, not timed


def value(runtime: Runtime, name: str, **labels: str) -> float:
    return runtime.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_run_with_tool_calls_counts_its_model_calls_tokens_and_tools(runtime: Runtime) -> None:
    notes = runtime.config.project_dir / "notes.txt"
    notes.write_text("hello\n")
    script = "\n".join(
        [
            tool("read", filePath=str(notes)),
            tool("read", filePath="missing.txt"),
            tool("no_such_tool"),
            "USAGE 100 7 20",
            "REPLY done",
        ]
    )
    session = await new_session(runtime)
    reply = await answer(await submit(runtime, prompt_run(runtime, session, script)))
    assert text_of(reply) == "done"

    assert value(runtime, "wakeful_runs_total", kind="prompt", outcome="success") == 1
    assert value(runtime, "wakeful_run_duration_seconds_count", kind="prompt", outcome="success") == 1
    assert value(runtime, "wakeful_run_queue_wait_seconds_count", kind="prompt") == 1
    # four steps: three tool calls, then the answer
    assert value(runtime, "wakeful_llm_request_duration_seconds_count", **MODEL) == 4
    assert value(runtime, "wakeful_llm_time_to_first_token_seconds_count", **MODEL) == 4
    assert value(runtime, "wakeful_llm_requests_total", **MODEL, outcome="success") == 4
    assert value(runtime, "wakeful_llm_tokens_total", **MODEL, type="input") == 4 * 100
    assert value(runtime, "wakeful_llm_tokens_total", **MODEL, type="output") == 4 * 7
    assert value(runtime, "wakeful_llm_tokens_total", **MODEL, type="cache_read") == 4 * 20
    durations = "wakeful_tool_call_duration_seconds_count"
    assert value(runtime, durations, tool="read", outcome="success") == 1
    assert value(runtime, durations, tool="read", outcome="error") == 1
    # a tool the agent does not have is counted under "unknown": a model cannot grow the labels
    assert value(runtime, durations, tool="unknown", outcome="invalid") == 1
    assert value(runtime, durations, tool="no_such_tool", outcome="invalid") == 0
    # nothing left running or queued
    assert value(runtime, "wakeful_runs_running") == 0
    assert value(runtime, "wakeful_run_queue_depth") == 0


async def test_retries_and_failed_model_calls_are_counted_by_outcome(runtime: Runtime) -> None:
    session = await new_session(runtime)
    retried = await answer(await submit(runtime, prompt_run(runtime, session, "ERROR 503 1\nREPLY after")))
    assert text_of(retried) == "after"
    failed = await answer(await submit(runtime, prompt_run(runtime, session, "ERROR 400\nREPLY never")))
    assert failed["info"]["error"]["name"] == "APIError"

    assert value(runtime, "wakeful_llm_retries_total", **MODEL) == 1
    assert value(runtime, "wakeful_llm_requests_total", **MODEL, outcome="APIError") == 2
    assert value(runtime, "wakeful_llm_requests_total", **MODEL, outcome="success") == 1
    assert value(runtime, "wakeful_runs_total", kind="prompt", outcome="success") == 1
    assert value(runtime, "wakeful_runs_total", kind="prompt", outcome="error") == 1


async def test_running_and_queued_runs_are_gauges_and_an_abort_is_its_own_outcome(runtime: Runtime) -> None:
    session = await new_session(runtime)
    model = scripted(runtime)
    first = await submit(runtime, prompt_run(runtime, session, "HOLD one\nREPLY first"))
    await model.held("one")
    second = await submit(runtime, prompt_run(runtime, session, "REPLY second"))
    assert value(runtime, "wakeful_runs_running") == 1
    assert value(runtime, "wakeful_run_queue_depth") == 1

    await runtime.runs.abort(session.id)
    assert (await answer(first))["info"]["error"]["name"] == "MessageAbortedError"
    assert (await answer(second))["info"]["error"]["name"] == "MessageAbortedError"
    assert value(runtime, "wakeful_runs_total", kind="prompt", outcome="aborted") == 2
    assert value(runtime, "wakeful_llm_requests_total", **MODEL, outcome="aborted") == 1
    assert value(runtime, "wakeful_runs_running") == 0
    assert value(runtime, "wakeful_run_queue_depth") == 0
    assert value(runtime, "wakeful_draining") == 0
    runtime.runs.stop_accepting()
    assert value(runtime, "wakeful_draining") == 1


async def test_two_runtimes_keep_their_own_numbers(runtime: Runtime) -> None:
    other = Runtime.build(runtime.config, store=runtime.store)
    session = await new_session(runtime)
    await answer(await submit(runtime, prompt_run(runtime, session, "REPLY mine")))
    assert value(runtime, "wakeful_runs_total", kind="prompt", outcome="success") == 1
    assert value(other, "wakeful_runs_total", kind="prompt", outcome="success") == 0
