"""Subagents on the scripted model: a task call runs a child session whose answer reaches the parent's
model; the child is a real run (claimed, recorded, recovered); the parent's abort, deadline and the
drain stop the child and kill its processes first; subtask parts run without asking; the tools a
subagent is offered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import text_of, tool, validate_all
from tests.support.inproc import PATIENCE, EventLog, answer, new_session, prompt_run, scripted, submit
from tests.support.server import SCRIPTED, write_project_config
from wakeful.errors import InvalidRequestError
from wakeful.run.manager import RunHandle
from wakeful.run.recovery import recover
from wakeful.run.runtime import Runtime
from wakeful.storage.base import SessionQuery
from wakeful.tools.bash import group_alive
from wakeful.wire.sessions import Session

Json = dict[str, Any]


@pytest.fixture
def app_project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    agents = {
        "fixer": {"mode": "subagent", "description": "Fixes things", "permission": {"task": "allow"}},
        "stray": {"mode": "subagent", "description": "On a model nobody has", "model": "nowhere/missing"},
    }
    write_project_config(directory, SCRIPTED, agent=agents)
    return directory


def task(prompt: str, agent: str = "general", **extra: Any) -> str:
    return tool("task", description="look into it", prompt=prompt, subagent_type=agent, **extra)


async def children(runtime: Runtime, parent: Session) -> list[Session]:
    return await runtime.sessions.list(SessionQuery(parent_id=parent.id))


def tool_parts(stored: list[Json], name: str = "task") -> list[Json]:
    return [p for m in stored for p in m["parts"] if p["type"] == "tool" and p["tool"] == name]


async def wait_for_pgid(runtime: Runtime, session_id: str) -> int:
    """The process group of the bash call the session's run has started (recorded before it runs)."""
    async with asyncio.timeout(PATIENCE):
        while True:
            for entry in await runtime.messages.list_raw(session_id):
                run = await runtime.runs.stored(entry["info"]["id"])
                if run is not None and run.pgids:
                    return run.pgids[0]
            await asyncio.sleep(0.01)


async def child_running_sleep(runtime: Runtime) -> tuple[Session, RunHandle, str, int]:
    """A parent whose task call's child runs `sleep 300` in bash: the parent, its run, the child
    session's id and the sleep's process group."""
    parent = await new_session(runtime)
    events = EventLog(runtime)
    handle = await submit(runtime, prompt_run(runtime, parent, task(tool("bash", command="sleep 300"))))
    created = await events.wait(
        lambda e: e["type"] == "session.created" and e["properties"]["info"].get("parentID") == parent.id
    )
    child_id = created["properties"]["info"]["id"]
    return parent, handle, child_id, await wait_for_pgid(runtime, child_id)


async def test_a_task_runs_a_child_session_whose_answer_reaches_the_parent(runtime: Runtime) -> None:
    parent = await new_session(runtime)
    events = EventLog(runtime)
    reply = await answer(await submit(runtime, prompt_run(runtime, parent, task("REPLY the child found 42"))))
    assert text_of(reply).startswith("TOOL_RESULT_SEEN: the child found 42\n\n<task_metadata>")

    (child,) = await children(runtime, parent)
    assert child.parentID == parent.id and child.title == "look into it (@general subagent)"
    assert [(r.permission, r.pattern, r.action) for r in child.permission or []] == [
        ("todowrite", "*", "deny"),
        ("todoread", "*", "deny"),
        ("task", "*", "deny"),
    ]
    stored = await runtime.messages.list_raw(child.id)
    validate_all(stored)
    assert [m["info"]["role"] for m in stored] == ["user", "assistant"]
    assert text_of(stored[0]) == "REPLY the child found 42" and stored[1]["info"]["agent"] == "general"
    run = await runtime.runs.stored(stored[0]["info"]["id"])
    assert run is not None and (run.kind, run.status) == ("task", "done")

    parent_stored = await runtime.messages.list_raw(parent.id)
    validate_all(parent_stored)
    (part,) = tool_parts(parent_stored)
    state = part["state"]
    assert state["status"] == "completed" and state["title"] == "look into it"
    assert state["output"].startswith("the child found 42\n\n<task_metadata>\ntask_id: " + child.id)
    assert state["metadata"] == {
        "sessionId": child.id,
        "model": {"providerID": "mock", "modelID": "mock-model"},
    }
    # The parent's model was given the child's answer as the task call's result.
    seen = scripted(runtime).requests[-1].request.messages
    assert seen[-1].role == "tool" and seen[-1].text.startswith("the child found 42")
    # While the child ran, the parent's part already named it.
    running = [
        e["properties"]["part"]
        for e in await events.of("message.part.updated", parent.id)
        if e["properties"]["part"]["type"] == "tool"
        and e["properties"]["part"]["state"]["status"] == "running"
    ]
    assert running[-1]["state"]["metadata"]["sessionId"] == child.id


async def test_a_task_id_continues_the_same_child(runtime: Runtime) -> None:
    parent = await new_session(runtime)
    await answer(await submit(runtime, prompt_run(runtime, parent, task("REPLY first"))))
    (child,) = await children(runtime, parent)
    await answer(await submit(runtime, prompt_run(runtime, parent, task("REPLY again", task_id=child.id))))
    assert [c.id for c in await children(runtime, parent)] == [child.id]
    assert [m["info"]["role"] for m in await runtime.messages.list_raw(child.id)] == ["user", "assistant"] * 2

    other = await new_session(runtime)
    await answer(await submit(runtime, prompt_run(runtime, other, task("REPLY theft", task_id=child.id))))
    (part,) = tool_parts(await runtime.messages.list_raw(other.id))
    assert part["state"]["error"] == f"{child.id} is not a task of this session"


async def test_unknown_agents_and_failed_children_are_tool_errors(runtime: Runtime) -> None:
    parent = await new_session(runtime)
    script = "\n".join([task("REPLY x", agent="nobody"), task("ERROR 400"), "REPLY done"])
    await answer(await submit(runtime, prompt_run(runtime, parent, script)))
    unknown, failed = tool_parts(await runtime.messages.list_raw(parent.id))
    assert (
        unknown["state"]["error"]
        == "Unknown agent type: nobody. The subagents are: explore, fixer, general, stray"
    )
    (child,) = await children(runtime, parent)
    assert failed["state"]["error"].startswith(f"The subagent failed (task_id: {child.id}): ")
    assert failed["state"]["metadata"]["sessionId"] == child.id  # the error still links the child


async def test_a_child_whose_run_cannot_be_built_is_not_left_behind(runtime: Runtime) -> None:
    parent = await new_session(runtime)
    await answer(
        await submit(runtime, prompt_run(runtime, parent, task("REPLY x", agent="stray") + "\nREPLY done"))
    )
    (part,) = tool_parts(await runtime.messages.list_raw(parent.id))
    assert part["state"]["error"].startswith("The subagent could not start: Unknown provider: nowhere")
    assert await children(runtime, parent) == []


async def test_aborting_the_parent_kills_the_childs_bash_first(runtime: Runtime) -> None:
    parent, handle, child_id, pgid = await child_running_sleep(runtime)
    assert group_alive(pgid)

    await runtime.runs.abort(parent.id)
    assert not group_alive(pgid)  # gone before the parent's abort returned
    reply = await answer(handle)
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    (part,) = tool_parts(await runtime.messages.list_raw(parent.id))
    assert part["state"]["status"] == "error" and part["state"]["metadata"]["sessionId"] == child_id
    child = await runtime.messages.list_raw(child_id)
    assert child[-1]["info"]["error"]["name"] == "MessageAbortedError"
    assert tool_parts(child, "bash")[0]["state"]["status"] == "error"


async def test_the_parents_deadline_and_the_drain_reach_the_child(runtime: Runtime) -> None:
    model = scripted(runtime)
    parent = await new_session(runtime)
    handle = await submit(
        runtime, prompt_run(runtime, parent, task("HOLD deadline\nREPLY never"), deadline=0.2)
    )
    reply = await answer(handle)
    assert reply["info"]["error"]["data"]["message"] == "Run exceeded its deadline of 0.2 s"
    (child,) = await children(runtime, parent)
    stored = await runtime.messages.list_raw(child.id)
    assert stored[-1]["info"]["error"]["data"]["message"] == "Run exceeded its deadline of 0.2 s"

    drained = await new_session(runtime)
    handle = await submit(runtime, prompt_run(runtime, drained, task("HOLD drain\nREPLY never")))
    await model.held("drain")
    await runtime.runs.drain(0, "The server is shutting down")
    assert (await answer(handle))["info"]["error"]["data"]["message"] == "The server is shutting down"
    (child,) = await children(runtime, drained)
    assert (await runtime.messages.list_raw(child.id))[-1]["info"]["error"]["data"]["message"] == (
        "The server is shutting down"
    )


async def test_crash_recovery_finds_the_child_and_kills_its_processes(runtime: Runtime) -> None:
    parent, handle, child_id, pgid = await child_running_sleep(runtime)
    # What a restarted server reads of what a dead one left: the child's run is claimed like the
    # parent's, with the process group it started.
    unfinished = {r.session_id: (r.kind, r.pgids) for r in await runtime.store.unfinished_runs()}
    assert unfinished == {parent.id: ("prompt", []), child_id: ("task", [pgid])}
    assert await recover(runtime.store, runtime.messages, runtime.sessions) == 2
    async with asyncio.timeout(PATIENCE):  # recovery sends SIGKILL; the kernel ends the processes
        while group_alive(pgid):
            await asyncio.sleep(0.01)
    await runtime.runs.abort(parent.id)  # this server is alive: stop what it still runs
    await answer(handle)


async def test_a_subtask_part_runs_a_child_without_asking(runtime: Runtime) -> None:
    # The person asked for the subagent: a session rule about task does not stop it.
    parent = await new_session(runtime, permission=[{"permission": "task", "pattern": "*", "action": "deny"}])
    subtask = {"type": "subtask", "prompt": "REPLY sub answer", "description": "sub job", "agent": "explore"}
    run = prompt_run(
        runtime, parent, "REPLY parent done", parts=[{"type": "text", "text": "REPLY parent done"}, subtask]
    )
    reply = await answer(await submit(runtime, run))
    assert text_of(reply) == "parent done"
    stored = await runtime.messages.list_raw(parent.id)
    validate_all(stored)
    assert [p["type"] for p in stored[0]["parts"]] == ["text", "subtask"]
    first = stored[1]
    assert first["info"]["agent"] == "explore" and first["info"]["finish"] == "tool-calls"
    (part,) = tool_parts([first])
    assert part["state"]["input"] == {
        "prompt": "REPLY sub answer",
        "description": "sub job",
        "subagent_type": "explore",
    }
    assert part["state"]["output"].startswith("sub answer")
    (child,) = await children(runtime, parent)
    assert child.title == "sub job (@explore subagent)"
    # The parent's model then saw the task and its result.
    said = [m.role for m in scripted(runtime).requests[-1].request.messages]
    assert said == ["user", "assistant", "tool"]


async def test_a_subtask_naming_an_unknown_agent_is_refused(runtime: Runtime) -> None:
    parent = await new_session(runtime)
    subtask = {"type": "subtask", "prompt": "p", "description": "d", "agent": "nobody"}
    with pytest.raises(InvalidRequestError) as refused:
        prompt_run(runtime, parent, "x", parts=[subtask])
    assert refused.value.field == "parts.0.agent"


async def test_subagents_are_offered_their_own_tools(runtime: Runtime) -> None:
    model = scripted(runtime)
    parent = await new_session(runtime)
    script = "\n".join(
        [task("REPLY general"), task("REPLY explore", agent="explore"), task("REPLY fix", agent="fixer")]
    )
    await answer(await submit(runtime, prompt_run(runtime, parent, script)))
    offered = {r.script: {t.name for t in r.request.tools} for r in model.requests}
    assert "task" in offered[script] and "todowrite" in offered[script]
    assert not offered["REPLY general"] & {"todowrite", "todoread", "task"}
    assert "bash" in offered["REPLY general"] and "edit" in offered["REPLY general"]
    assert offered["REPLY explore"] == {"bash", "read", "glob", "grep", "list", "webfetch"}
    assert "task" in offered["REPLY fix"]  # its own rules speak of task, so its session allows it
    # The task tool lists the subagents the caller may start.
    (description,) = {
        t.description
        for r in model.requests
        if r.script == script
        for t in r.request.tools
        if t.name == "task"
    }
    listing = description.split("\n\nAvailable agents:\n")[1].splitlines()
    assert [line.split(":")[0] for line in listing] == ["- explore", "- fixer", "- general", "- stray"]
    assert "- fixer: Fixes things" in listing


async def test_the_plan_agent_may_start_explore_only(runtime: Runtime) -> None:
    model = scripted(runtime)
    parent = await new_session(runtime)
    script = "\n".join([task("REPLY no", agent="general"), task("REPLY yes", agent="explore")])
    await answer(await submit(runtime, prompt_run(runtime, parent, script, agent="plan")))
    refused, allowed = tool_parts(await runtime.messages.list_raw(parent.id))
    assert refused["state"]["error"].startswith("Permission denied")
    assert allowed["state"]["status"] == "completed"
    description = next(t.description for t in model.requests[0].request.tools if t.name == "task")
    listing = description.split("\n\nAvailable agents:\n")[1].splitlines()
    assert [line.split(":")[0] for line in listing] == ["- explore"]
