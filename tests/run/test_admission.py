"""Admission control in the run manager (in-process, scripted model): the cap on executing runs,
the slot a permission ask gives back, and the hard cap's 503."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from tests.support.http import tool
from tests.support.inproc import PATIENCE, EventLog, answer, new_session, prompt_run, scripted, submit
from wakeful.errors import ServiceUnavailableError
from wakeful.providers.scripted import ScriptedProvider
from wakeful.run.admission import BURST, LAG_LIMIT, QUIET, Admission, paused
from wakeful.run.manager import RunHandle
from wakeful.run.runtime import Runtime
from wakeful.wire.sessions import Session

ASK_ECHO = [{"permission": "bash", "pattern": "echo *", "action": "ask"}]


def text_of(reply: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in reply["parts"] if p["type"] == "text")


@pytest.fixture
def app_flags() -> dict[str, Any]:
    return {"max_running_runs": 1}


async def slot_taken(runtime: Runtime, gate: str) -> tuple[ScriptedProvider, RunHandle, Session]:
    """The only slot held by a run that waits at the model's `gate`, and a second session."""
    model = scripted(runtime)
    first, second = await new_session(runtime), await new_session(runtime)
    held = await submit(runtime, prompt_run(runtime, first, f"HOLD_BEFORE {gate}\nREPLY first"))
    await model.held(gate)
    return model, held, second


async def test_a_run_over_the_cap_waits_for_a_slot_and_then_runs(runtime: Runtime) -> None:
    model, held, second = await slot_taken(runtime, "one")
    queued = await submit(runtime, prompt_run(runtime, second, "REPLY second"))
    assert runtime.runs.admission.running == 1
    assert not queued.done() and runtime.runs.is_busy(second.id)  # accepted, waiting for the slot
    model.release("one")
    assert text_of(await answer(held)) == "first"
    assert text_of(await answer(queued)) == "second"
    assert runtime.runs.admission.running == 0


async def test_a_run_waiting_for_approval_gives_its_slot_back(runtime: Runtime) -> None:
    asking = await new_session(runtime, permission=ASK_ECHO)
    other = await new_session(runtime)
    events = EventLog(runtime)
    waiting = await submit(runtime, prompt_run(runtime, asking, tool("bash", command="echo approved")))
    asked = (await events.wait_type("permission.asked", asking.id))["properties"]
    assert runtime.runs.admission.running == 0  # the asking run holds no slot meanwhile
    # With the only slot given back, another session's run executes while the first one waits.
    assert text_of(await answer(await submit(runtime, prompt_run(runtime, other, "REPLY meanwhile")))) == "meanwhile"
    await runtime.permissions.reply(asked["id"], "once")
    reply = await answer(waiting)
    assert "TOOL_RESULT_SEEN" in text_of(reply) and "approved" in text_of(reply)
    assert runtime.runs.admission.running == 0


async def test_an_aborted_run_waiting_for_a_slot_ends_without_running(runtime: Runtime) -> None:
    model, held, second = await slot_taken(runtime, "gate")
    queued = await submit(runtime, prompt_run(runtime, second, "REPLY never"))
    assert await runtime.runs.abort(second.id)
    reply = await answer(queued)
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    model.release("gate")
    await answer(held)
    assert len(model.requests) == 1  # the aborted run never reached the model


def test_the_hard_cap_refuses_with_retry_after() -> None:
    admission = Admission(max_running=2, max_held=3)
    admission.refuse_if_full(2)
    with pytest.raises(ServiceUnavailableError) as refused:
        admission.refuse_if_full(3)
    assert refused.value.headers()["Retry-After"] == "5"
    Admission(max_running=2).refuse_if_full(1_000_000)  # off by default


async def test_paused_outside_a_run_does_nothing() -> None:
    async with paused():
        pass


async def test_a_prompt_arriving_alone_starts_at_once() -> None:
    admission = Admission(max_running=4)
    with admission.accepting():
        await asyncio.wait_for(admission.settled(), PATIENCE)


async def test_in_a_burst_starts_wait_until_no_prompt_is_being_accepted() -> None:
    admission = Admission(max_running=4)
    with contextlib.ExitStack() as burst:
        for _ in range(BURST):
            burst.enter_context(admission.accepting())
        start = asyncio.create_task(admission.settled())
        await asyncio.sleep(3 * QUIET)  # arrivals have paused, but their claims are still under way
        assert not start.done()
    await asyncio.wait_for(start, PATIENCE)


async def test_a_start_waits_while_the_event_loop_is_slow_to_come_back() -> None:
    admission = Admission(max_running=4)
    loop = asyncio.get_running_loop()
    hogging = True

    def hog() -> None:
        # Each turn of the loop takes longer than LAG_LIMIT (well short of the stall detector).
        if hogging:
            time.sleep(1.2 * LAG_LIMIT)
            loop.call_soon(hog)

    started = asyncio.Event()

    async def start() -> None:
        async with admission.slot():
            started.set()

    loop.call_soon(hog)
    task = asyncio.create_task(start())
    for _ in range(6):  # six slow turns: the start measured, and paused, at least twice
        await asyncio.sleep(0)
    assert not started.is_set()
    assert admission.running == 1  # it holds its slot while it waits for the loop
    hogging = False
    await asyncio.wait_for(started.wait(), PATIENCE)
    await task
