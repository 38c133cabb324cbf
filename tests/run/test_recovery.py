"""Crash recovery on a Runtime built over an in-memory store: runs a dead server left are closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wakeful import ids
from wakeful.config import ServerConfig
from wakeful.run.recovery import recover
from wakeful.run.runtime import Runtime
from wakeful.storage.base import RunRecord
from wakeful.storage.memory import MemoryStore
from wakeful.wire.messages import AssistantMessage, ModelRef, UserMessage, UserTime
from wakeful.wire.parts import ToolPart, ToolStateRunning
from wakeful.wire.sessions import SessionCreate


async def claim(runtime: Runtime, session_id: str, pgids: list[int]) -> str:
    """A prompt's claim as a server leaves it when it dies while running."""
    mid = ids.message_id()
    user = UserMessage(
        id=mid,
        sessionID=session_id,
        time=UserTime(created=1),
        agent="build",
        model=ModelRef(providerID="p", modelID="m"),
    )
    record = RunRecord(mid, session_id, "prompt", "h", status="running", instance="run_dead", pgids=pgids)
    assert await runtime.store.claim_run(record, user.wire(), []) is None
    return mid


@pytest.fixture
async def tool() -> AsyncIterator[asyncio.subprocess.Process]:
    """A tool's command in its own process group, as a dead server's bash tool leaves it."""
    process = await asyncio.create_subprocess_exec("sleep", "300", start_new_session=True)
    yield process
    if process.returncode is None:
        process.kill()
        await process.wait()


async def test_recovery_closes_unfinished_runs_and_kills_their_processes(
    tmp_path: Path, tool: asyncio.subprocess.Process
) -> None:
    runtime = Runtime.build(ServerConfig(data_dir=tmp_path, project_dir=tmp_path), store=MemoryStore())
    session = await runtime.sessions.create(tmp_path, SessionCreate())

    answered = await claim(runtime, session.id, [tool.pid])
    assistant = AssistantMessage.answering(session.id, answered, "p", "m", "build", str(tmp_path))
    await runtime.messages.put_message(assistant)
    running = ToolPart(
        id=ids.part_id(),
        sessionID=session.id,
        messageID=assistant.id,
        callID="call_1",
        tool="bash",
        state=ToolStateRunning(input={"command": "sleep 300"}, time={"start": 1}),
    )
    await runtime.messages.put_part(running)
    unanswered = await claim(runtime, session.id, [])

    assert await recover(runtime.store, runtime.messages, runtime.sessions) == 2
    assert await tool.wait() == -9
    assert await runtime.store.unfinished_runs() == []
    for mid in (answered, unanswered):
        run = await runtime.store.get_run(mid)
        assert run is not None and run.status == "done" and run.pgids == []

    stored = await runtime.messages.list_raw(session.id)
    replies = {m["info"]["parentID"]: m for m in stored if m["info"]["role"] == "assistant"}
    closed = replies[answered]
    assert closed["info"]["id"] == assistant.id
    assert closed["info"]["error"]["name"] == "UnknownError"
    assert "interrupted" in closed["info"]["error"]["data"]["message"]
    (part,) = closed["parts"]
    assert part["state"]["status"] == "error" and part["state"]["error"] == "Interrupted"
    made = replies[unanswered]["info"]
    assert made["error"]["name"] == "UnknownError" and made["path"]["cwd"] == str(tmp_path)
    assert made["time"]["completed"] is not None

    assert await recover(runtime.store, runtime.messages, runtime.sessions) == 0
