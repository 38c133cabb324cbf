"""`POST /session/{id}/shell`: one shell command in the session's directory, without the LLM.

Stored like the reference (`captures/exp3b-shell-response.json`): a synthetic user message, then an
assistant message with one `bash` tool part that goes running -> completed. Unlike a prompt, a shell
call on a busy session is refused (409 SessionBusyError) instead of queued.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wakeful import ids
from wakeful.errors import InvalidRequestError, MessageAbortedError, RunError
from wakeful.ids import now_ms
from wakeful.project.agents import resolve_agent
from wakeful.run.manager import Executor, Reply, RunHandle, RunManager, RunRequest
from wakeful.run.prompt import body_hash
from wakeful.run.runtime import Runtime
from wakeful.session.messages import MessageLog
from wakeful.tools.bash import run_shell
from wakeful.wire.bodies import ShellBody
from wakeful.wire.messages import AssistantMessage, ModelRef, UserMessage, UserTime
from wakeful.wire.parts import ToolPart, ToolStateCompleted, ToolStateError, ToolStateRunning
from wakeful.wire.sessions import Session


@dataclass
class ShellExecutor(Executor):
    log: MessageLog
    runs: RunManager
    assistant: AssistantMessage
    command: str
    directory: Path
    env: dict[str, str]
    part: ToolPart | None = None
    started: int = 0

    async def _reply(self) -> Reply:
        return (await self.log.get(self.assistant.sessionID, self.assistant.id)).wire()

    async def _record(self, pgid: int | None) -> None:
        await self.runs.record_processes(self.assistant.parentID, [] if pgid is None else [pgid])

    async def run(self, handle: RunHandle) -> Reply:
        await self.log.put_message(self.assistant)
        self.started = now_ms()
        self.part = ToolPart(
            id=ids.part_id(),
            sessionID=self.assistant.sessionID,
            messageID=self.assistant.id,
            callID=ids.new_id("run")[4:],
            tool="bash",
            state=ToolStateRunning(input={"command": self.command}, time={"start": self.started}),
        )
        await self.log.put_part(self.part)
        try:
            outcome = await run_shell(self.command, self.directory, None, self.env, self._record)
        except asyncio.CancelledError:
            if handle.lost:
                raise  # another server has it now: nothing more is written from here
            return await asyncio.shield(self.fail(handle, handle.cancel_reason or MessageAbortedError()))
        self.part.state = ToolStateCompleted(
            input={"command": self.command},
            output=outcome.output,
            title="",
            metadata={"output": outcome.output, "exit": outcome.exit_code},
            time={"start": self.started, "end": now_ms()},
        )
        await self.log.put_part(self.part)
        self.assistant.time.completed = now_ms()
        await self.log.put_message(self.assistant)
        return await self._reply()

    async def fail(self, handle: RunHandle, error: RunError) -> Reply:
        if self.part is not None and self.part.state.status == "running":
            self.part.state = ToolStateError(
                input={"command": self.command},
                error=error.message,
                time={"start": self.started, "end": now_ms()},
            )
            await self.log.put_part(self.part)
        self.assistant.error = error.to_info()
        self.assistant.time.completed = now_ms()
        await self.log.put_message(self.assistant)
        return await self._reply()


def build_shell_run(
    runtime: Runtime, session: Session, directory: Path, body: ShellBody, *, deadline: float | None = None
) -> RunRequest:
    if not body.command.strip():
        raise InvalidRequestError("command must not be empty", field="command")
    catalog = runtime.catalog(directory)
    agent = resolve_agent(catalog.config, body.agent)
    try:
        choice = catalog.resolve(
            body.model.providerID if body.model else None,
            body.model.modelID if body.model else None,
            fallback=agent.model,
        )
        provider_id, model_id = choice.provider.id, choice.model_id
    except InvalidRequestError:
        if body.model is not None:
            raise
        provider_id, model_id = "none", "none"  # a shell call needs no model
    message_id = body.messageID or ids.message_id()
    user = UserMessage(
        id=message_id,
        sessionID=session.id,
        time=UserTime(created=now_ms()),
        agent=agent.name,
        model=ModelRef(providerID=provider_id, modelID=model_id),
    )
    text: dict[str, Any] = {
        "id": ids.part_id(),
        "sessionID": session.id,
        "messageID": message_id,
        "type": "text",
        "text": "The following tool was executed by the user",
        "synthetic": True,
    }
    assistant = AssistantMessage.answering(
        session.id, message_id, provider_id, model_id, agent.name, str(directory)
    )
    executor = ShellExecutor(
        runtime.messages,
        runtime.runs,
        assistant,
        body.command,
        directory,
        runtime.child_env,
    )
    return RunRequest(
        session_id=session.id,
        message_id=message_id,
        kind="shell",
        body_hash=body_hash(session.id, "shell", body),
        user_message=user.wire(),
        user_parts=[text],
        executor=executor,
        exclusive=True,
        deadline=deadline if deadline is not None else runtime.config.run_deadline,
    )
