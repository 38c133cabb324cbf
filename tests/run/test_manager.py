"""The run manager on the scripted model and a MemoryStore: one run at a time per session in FIFO
order, each caller's own reply, idempotent submission, exclusive runs, abort, deadline, drain, and
the session statuses it announces. Every wait is on an event: the bus, a handle, a model's gate."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.http import text_of
from tests.support.inproc import EventLog, answer, new_session, prompt_run, scripted, submit
from wakeful import ids
from wakeful.errors import ConflictError, ServiceUnavailableError, SessionBusyError
from wakeful.run.manager import RunHandle
from wakeful.run.runtime import Runtime
from wakeful.run.shell import build_shell_run
from wakeful.wire.bodies import ShellBody


def aborted(message: str = "Aborted") -> dict[str, object]:
    return {"name": "MessageAbortedError", "data": {"message": message}}


async def statuses(events: EventLog, session_id: str) -> list[str]:
    return [e["properties"]["status"]["type"] for e in await events.of("session.status", session_id)]


async def test_prompts_of_a_session_run_one_at_a_time_in_order_each_caller_with_its_reply(
    runtime: Runtime,
) -> None:
    session = await new_session(runtime)
    model = scripted(runtime)
    events = EventLog(runtime)
    texts = ["HOLD one\nREPLY first", "REPLY second", "REPLY third"]
    first = await submit(runtime, prompt_run(runtime, session, texts[0]))
    await model.held("one")
    second = await submit(runtime, prompt_run(runtime, session, texts[1]))
    third = await submit(runtime, prompt_run(runtime, session, texts[2]))
    # queued behind the first, which is still running: the model has seen only the first
    assert [r.script for r in model.requests] == texts[:1]
    assert runtime.runs.current(session.id) is first
    assert not (first.done() or second.done() or third.done())

    model.release("one")
    handles = [first, second, third]
    replies = [await answer(h) for h in handles]
    assert [r["info"]["parentID"] for r in replies] == [h.message_id for h in handles]
    assert [text_of(r) for r in replies] == ["first", "second", "third"]
    assert [r.script for r in model.requests] == texts
    # The second run saw the first exchange, complete, and not the prompt queued behind it.
    seen = [(m.role, m.text) for m in model.requests[1].request.messages]
    assert seen == [("user", texts[0]), ("assistant", "first"), ("user", texts[1])]
    # One busy period for the whole queue: idle only after the last run.
    assert await statuses(events, session.id) == ["busy", "idle"]
    assert len(await events.of("session.idle", session.id)) == 1


async def test_sessions_do_not_wait_for_each_other(runtime: Runtime) -> None:
    busy, other = await new_session(runtime), await new_session(runtime)
    model = scripted(runtime)
    held = await submit(runtime, prompt_run(runtime, busy, "HOLD busy\nREPLY later"))
    await model.held("busy")
    quick = await submit(runtime, prompt_run(runtime, other, "REPLY meanwhile"))
    assert text_of(await answer(quick)) == "meanwhile"
    assert not held.done()
    model.release("busy")
    assert text_of(await answer(held)) == "later"


async def test_a_message_id_runs_once_attaches_while_live_and_answers_from_storage_after(
    runtime: Runtime,
) -> None:
    session = await new_session(runtime)
    model = scripted(runtime)
    text, message_id = "HOLD once\nREPLY only once", ids.message_id()
    handle = await submit(runtime, prompt_run(runtime, session, text, messageID=message_id))
    await model.held("once")

    assert await runtime.runs.submit(prompt_run(runtime, session, text, messageID=message_id)) is handle
    with pytest.raises(ConflictError) as live_conflict:
        await runtime.runs.submit(prompt_run(runtime, session, "REPLY other", messageID=message_id))
    assert live_conflict.value.resource == message_id

    model.release("once")
    reply = await answer(handle)
    stored = await runtime.runs.submit(prompt_run(runtime, session, text, messageID=message_id))
    assert not isinstance(stored, RunHandle) and stored == reply
    with pytest.raises(ConflictError):
        await runtime.runs.submit(prompt_run(runtime, session, text, messageID=message_id, agent="plan"))
    assert model.count(text) == 1
    kept = await runtime.messages.list_raw(session.id)
    assert [m["info"]["role"] for m in kept] == ["user", "assistant"]


async def test_an_exclusive_run_is_refused_while_the_session_is_busy(runtime: Runtime) -> None:
    session = await new_session(runtime)
    model = scripted(runtime)

    def shell(command: str) -> ShellBody:
        return ShellBody(agent="build", command=command)

    held = await submit(runtime, prompt_run(runtime, session, "HOLD busy\nREPLY done"))
    await model.held("busy")
    refused = build_shell_run(runtime, session, runtime.config.project_dir, shell("echo never"))
    with pytest.raises(SessionBusyError):
        await runtime.runs.submit(refused)
    assert await runtime.runs.stored(refused.message_id) is None  # nothing claimed, nothing stored

    model.release("busy")
    await answer(held)
    after = await submit(
        runtime, build_shell_run(runtime, session, runtime.config.project_dir, shell("echo now"))
    )
    assert (await answer(after))["parts"][0]["state"]["output"] == "now\n"


async def test_abort_stops_the_running_prompt_and_every_queued_one(runtime: Runtime) -> None:
    session = await new_session(runtime)
    model = scripted(runtime)
    running = await submit(runtime, prompt_run(runtime, session, "HOLD stuck\nREPLY never"))
    await model.held("stuck")
    queued = [await submit(runtime, prompt_run(runtime, session, f"REPLY queued {n}")) for n in range(2)]

    assert await runtime.runs.abort(session.id) is True
    # abort returns once the session's worker has stored every error
    assert all(h.done() for h in [running, *queued])
    for handle in [running, *queued]:
        reply = await answer(handle)
        assert reply["info"]["parentID"] == handle.message_id
        assert reply["info"]["error"] == aborted()
    assert model.count("REPLY queued 0") == model.count("REPLY queued 1") == 0
    stored = await runtime.messages.list_raw(session.id)
    answers = [m["info"] for m in stored if m["info"]["role"] == "assistant"]
    assert [a["parentID"] for a in answers] == [h.message_id for h in [running, *queued]]
    assert all(a["error"] == aborted() for a in answers)
    assert await runtime.runs.abort(session.id) is False
    assert runtime.runs.statuses() == {}


async def test_a_run_past_its_deadline_is_aborted_and_keeps_what_it_streamed(runtime: Runtime) -> None:
    session = await new_session(runtime)
    # Nothing releases the gate: only the deadline can end this run.
    handle = await submit(
        runtime, prompt_run(runtime, session, "HOLD forever\nREPLY abcdefghi", deadline=0.05)
    )
    reply = await answer(handle)
    assert reply["info"]["error"] == aborted("Run exceeded its deadline of 0.05 s")
    assert [p["type"] for p in reply["parts"]] == ["step-start", "text"]
    assert reply["parts"][1]["text"] == "abc"  # the first chunk, streamed before the gate


async def test_drain_lets_running_prompts_finish_within_its_timeout(runtime: Runtime) -> None:
    session = await new_session(runtime)
    model = scripted(runtime)
    handle = await submit(runtime, prompt_run(runtime, session, "HOLD drain\nREPLY finished"))
    await model.held("drain")
    runtime.runs.stop_accepting()
    with pytest.raises(ServiceUnavailableError):
        await runtime.runs.submit(prompt_run(runtime, session, "REPLY too late"))

    drain = asyncio.create_task(runtime.runs.drain(60, "not expected"))
    await asyncio.sleep(0)
    assert not drain.done()  # it waits for the held run
    model.release("drain")
    await drain
    assert handle.done()
    reply = await answer(handle)
    assert "error" not in reply["info"] and text_of(reply) == "finished"


async def test_drain_aborts_what_is_left_at_its_timeout_with_the_reason(runtime: Runtime) -> None:
    session = await new_session(runtime)
    model = scripted(runtime)
    running = await submit(runtime, prompt_run(runtime, session, "HOLD drain\nREPLY never"))
    await model.held("drain")
    queued = await submit(runtime, prompt_run(runtime, session, "REPLY queued"))
    runtime.runs.stop_accepting()
    await runtime.runs.drain(0, "The server shut down before the run finished")
    for handle in (running, queued):
        assert (await answer(handle))["info"]["error"] == aborted(
            "The server shut down before the run finished"
        )
    assert model.count("REPLY queued") == 0


async def test_statuses_and_events_follow_the_session_from_busy_to_idle(runtime: Runtime) -> None:
    session = await new_session(runtime)
    model = scripted(runtime)
    events = EventLog(runtime)
    assert runtime.runs.statuses() == {} and not runtime.runs.is_busy(session.id)
    handle = await submit(runtime, prompt_run(runtime, session, "HOLD status\nREPLY done"))
    await model.held("status")
    assert runtime.runs.statuses() == {session.id: {"type": "busy"}}
    assert runtime.runs.is_busy(session.id)
    announced = await events.wait_type("session.status", session.id)
    assert announced["properties"] == {"sessionID": session.id, "status": {"type": "busy"}}

    idle = asyncio.create_task(runtime.runs.idle(session.id))
    await asyncio.sleep(0)
    assert not idle.done()
    model.release("status")
    await idle
    assert handle.done() and runtime.runs.statuses() == {}
    assert await statuses(events, session.id) == ["busy", "idle"]
    (idled,) = await events.of("session.idle", session.id)
    assert idled["properties"] == {"sessionID": session.id}
