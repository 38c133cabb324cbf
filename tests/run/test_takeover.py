"""Taking over a run whose server stopped, on the scripted model: the stored run is made ready to go
on (an interrupted tool call becomes an error the model reads, a step cut mid-stream is asked
again), then resumed and finished; a run that may not be resumed is closed as interrupted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.http import text_of
from tests.support.inproc import EventLog, answer, new_session, prompt_run, scripted, submit
from wakeful import ids
from wakeful.ids import now_ms
from wakeful.run.manager import RunHandle
from wakeful.run.runtime import Runtime
from wakeful.run.takeover import INTERRUPTED, Takeover, resume_point
from wakeful.storage.base import RunRecord
from wakeful.wire.messages import AssistantMessage
from wakeful.wire.parts import TextPart, ToolPart, ToolStateCompleted, ToolStateRunning
from wakeful.wire.permissions import PermissionRequest
from wakeful.wire.sessions import Session

COMMAND = {"command": "echo one", "description": "step one"}
SCRIPT = f"TOOL bash {json.dumps(COMMAND)}"


@pytest.fixture
def app_flags() -> dict[str, Any]:
    return {"resume_interrupted": True}


async def dead_run(runtime: Runtime, session: Session, script: str = SCRIPT, **fields: Any) -> RunRecord:
    """A prompt claimed by a server that stopped while running it."""
    run = prompt_run(runtime, session, script, messageID=ids.message_id())
    record = RunRecord(
        run.message_id,
        session.id,
        fields.pop("kind", "prompt"),
        run.body_hash,
        status="running",
        instance="run_dead",
        created=now_ms(),
        plan=run.plan,
        **fields,
    )
    assert await runtime.store.claim_run(record, run.user_message, run.user_parts) is None
    return record


async def step(
    runtime: Runtime, run: RunRecord, *, tool: str | None = None, done: bool = True
) -> AssistantMessage:
    """An assistant message of the run as the stopped server left it: a `bash` call in state `tool`
    ("completed" or "running"), or streamed text; complete (a step that called tools) if `done`."""
    message = AssistantMessage.answering(run.session_id, run.message_id, "mock", "mock-model", "build", "/")
    await runtime.messages.put_message(message)
    if tool is None:
        await runtime.messages.put_part(
            TextPart(id=ids.part_id(), sessionID=run.session_id, messageID=message.id, text="cut off")
        )
    else:
        state: Any = ToolStateRunning(input=COMMAND, time={"start": 1})
        if tool == "completed":
            state = ToolStateCompleted(
                input=COMMAND, output="one\n", title="", metadata={}, time={"start": 1, "end": 2}
            )
        await runtime.messages.put_part(
            ToolPart(
                id=ids.part_id(),
                sessionID=run.session_id,
                messageID=message.id,
                callID="call_1",
                tool="bash",
                state=state,
            )
        )
    if done:
        message.finish = "tool-calls"
        message.time.completed = 3
        await runtime.messages.put_message(message)
    return message


async def replies(runtime: Runtime, run: RunRecord) -> list[dict[str, Any]]:
    stored = await runtime.messages.list_raw(run.session_id)
    return [m for m in stored if m["info"].get("parentID") == run.message_id]


async def resumed(runtime: Runtime, run: RunRecord) -> dict[str, Any]:
    handle = await runtime.runs.follow(run.session_id, run.message_id)
    assert isinstance(handle, RunHandle), handle
    return await answer(handle)


async def test_a_step_cut_mid_stream_is_asked_again_after_the_steps_that_ended(runtime: Runtime) -> None:
    session = await new_session(runtime)
    run = await dead_run(runtime, session)
    first = await step(runtime, run, tool="completed")
    cut = await step(runtime, run, done=False)

    await Takeover(runtime).recover_all()
    reply = await resumed(runtime, run)

    assert text_of(reply) == "TOOL_RESULT_SEEN: one\n" and reply["info"]["finish"] == "stop"
    assert [m["info"]["id"] for m in await replies(runtime, run)] == [first.id, reply["info"]["id"]]
    assert cut.id != reply["info"]["id"]
    # The model was asked once, for step 2, with step 1's call and result.
    (request,) = scripted(runtime).requests
    assert [m.role for m in request.request.messages] == ["user", "assistant", "tool"]
    stored = await runtime.store.get_run(run.message_id)
    assert stored is not None and stored.status == "done" and stored.resumes == 1
    assert stored.instance == runtime.instance


async def test_a_tool_call_left_running_becomes_an_error_the_model_reads(runtime: Runtime) -> None:
    session = await new_session(runtime)
    run = await dead_run(runtime, session)
    interrupted = await step(runtime, run, tool="running", done=False)
    events = EventLog(runtime)

    await Takeover(runtime).recover_all()
    reply = await resumed(runtime, run)

    assert text_of(reply) == f"TOOL_RESULT_SEEN: {INTERRUPTED}"
    first, _ = await replies(runtime, run)
    assert first["info"]["id"] == interrupted.id and first["info"]["finish"] == "tool-calls"
    assert first["info"]["time"]["completed"] is not None
    (part,) = first["parts"]
    assert part["state"]["status"] == "error" and part["state"]["error"] == INTERRUPTED
    statuses = [e["properties"]["status"]["type"] for e in await events.of("session.status", session.id)]
    assert statuses == ["busy", "idle"]


async def test_a_run_that_had_ended_is_only_marked_done(runtime: Runtime) -> None:
    session = await new_session(runtime)
    run = await dead_run(runtime, session)
    last = await step(runtime, run, tool="completed")
    stored = await runtime.messages.get_raw(session.id, last.id)
    assert stored is not None
    stored["info"]["finish"] = "stop"
    await runtime.store.put_message(stored["info"])
    assert await resume_point(runtime.messages, run) is None

    await Takeover(runtime).recover_all()

    assert await runtime.store.unfinished_runs() == []
    assert [m["info"]["id"] for m in await replies(runtime, run)] == [last.id]
    assert scripted(runtime).requests == []


@pytest.mark.parametrize(
    "fields",
    [{"resumes": 3}, {"kind": "shell"}, {"aborted": True}],
    ids=["resumed-enough", "shell", "aborted"],
)
async def test_a_run_that_may_not_be_resumed_is_closed_as_interrupted(
    runtime: Runtime, fields: dict[str, Any]
) -> None:
    session = await new_session(runtime)
    aborted = fields.pop("aborted", False)
    run = await dead_run(runtime, session, **fields)
    await step(runtime, run, tool="running", done=False)
    if aborted:  # sent while the run's server was dead: nothing ran here to stop
        assert await runtime.runs.abort(session.id) is False

    await Takeover(runtime).recover_all()

    (closed,) = await replies(runtime, run)
    assert "interrupted" in closed["info"]["error"]["data"]["message"]
    assert closed["parts"][0]["state"]["error"] == "Interrupted"
    assert await runtime.store.unfinished_runs() == []
    assert scripted(runtime).requests == []


async def test_the_permission_requests_of_a_run_taken_over_are_withdrawn(runtime: Runtime) -> None:
    session, other = await new_session(runtime), await new_session(runtime)
    run = await dead_run(runtime, session, "REPLY resumed")
    for sid in (session.id, other.id):
        request = PermissionRequest(
            id=ids.permission_id(), sessionID=sid, permission="bash", patterns=["x"], metadata={}, always=[]
        )
        await runtime.store.put_permission(request.wire())
    events = EventLog(runtime)
    assert await runtime.store.take_over(run, runtime.instance, "here", 0)

    await Takeover(runtime).adopt(run)

    assert text_of(await resumed(runtime, run)) == "resumed"
    assert [r.sessionID for r in await runtime.permissions.list()] == [other.id]
    (replied,) = await events.of("permission.replied", session.id)
    assert replied["properties"]["reply"] == "reject"


async def test_a_run_another_server_took_over_stops_here_without_writing(runtime: Runtime) -> None:
    session = await new_session(runtime)
    model = scripted(runtime)
    handle = await submit(runtime, prompt_run(runtime, session, "HOLD lost\nREPLY never here"))
    await model.held("lost")
    claim = await runtime.store.get_run(handle.message_id)
    assert claim is not None and await runtime.store.take_over(claim, "run_other", "there", now_ms() + 10_000)
    before = await runtime.messages.list_raw(session.id)

    runtime.runs.lost({handle.message_id})
    reply = await answer(handle)  # what is stored: the caller here follows the run there

    assert await runtime.messages.list_raw(session.id) == before
    assert "error" not in reply["info"] and reply["info"]["time"].get("completed") is None
    taken = await runtime.store.get_run(handle.message_id)
    assert taken is not None and taken.status == "running" and taken.instance == "run_other"
    model.release("lost")
