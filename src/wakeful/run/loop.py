"""The agent loop: one prompt's run, stored as the reference stores it.

Persisted user message (done at submission) -> one assistant message per `subtask` part of the
prompt, holding the task tool call that ran it -> one assistant message per LLM call (`parentID` =
the user message), each framed by `step-start` and `step-finish`, with text, reasoning and tool parts
in between; repeat while the model calls tools. Streaming text goes out as `message.part.delta`
events and is saved at most every `part_flush_interval` seconds and when it ends. Retryable provider
errors are retried with exponential backoff and jitter, each announced as a `retry` session status.
Whatever ends the run (success, provider error, abort, deadline, crash of a tool) the run ends with
a stored assistant message, so every waiting caller gets `{info, parts}`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wakeful import ids
from wakeful.config import ServerConfig
from wakeful.errors import (
    APIError,
    MessageAbortedError,
    ProviderSilenceError,
    RunError,
    UnknownRunError,
)
from wakeful.ids import now_ms
from wakeful.project.agents import Agent
from wakeful.project.catalog import ModelChoice
from wakeful.providers.base import (
    ChatRequest,
    Finish,
    Provider,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)
from wakeful.run import history
from wakeful.run.manager import Executor, Reply, RunHandle, RunManager
from wakeful.run.retry import Retries
from wakeful.run.toolcalls import ToolCalls
from wakeful.session.messages import MessageLog
from wakeful.tools.base import (
    PermissionGate,
    SubagentRunner,
    TodoStore,
    Tool,
    ToolContext,
    WebClients,
)
from wakeful.tools.pool import ToolPool
from wakeful.tools.task import Subtask
from wakeful.wire.bodies import SubtaskPartInput
from wakeful.wire.messages import AssistantMessage
from wakeful.wire.parts import ReasoningPart, StepFinishPart, StepStartPart, TextPart, TimeSpan, Tokens
from wakeful.wire.permissions import PermissionRule


def step_tokens(usage: Usage) -> Tokens:
    """A provider's usage in the reference's shape: `input` uncached, `output` without the
    reasoning share (reported apart), `total` everything the call counted."""
    tokens = Tokens(
        total=usage.input + usage.cache_read + usage.cache_write + usage.output,
        input=usage.input,
        output=max(0, usage.output - usage.reasoning),
        reasoning=usage.reasoning,
    )
    tokens.cache.read, tokens.cache.write = usage.cache_read, usage.cache_write
    return tokens


@dataclass
class RunPlan:
    """Everything resolved before the run was accepted."""

    session_id: str
    user_message_id: str
    directory: Path
    agent: Agent
    model: ModelChoice
    provider: Provider
    tools: dict[str, Tool]
    system: str | None = None
    denied: dict[str, PermissionRule] = field(default_factory=dict)  # tools no call may use
    subtasks: list[SubtaskPartInput] = field(default_factory=list)  # run before the model is called


class AgentLoop(Executor):
    def __init__(
        self,
        plan: RunPlan,
        log: MessageLog,
        runs: RunManager,
        todos: TodoStore,
        config: ServerConfig,
        child_env: dict[str, str],
        *,
        gate: PermissionGate | None,
        pool: ToolPool,
        web: WebClients | None = None,
        subagent: SubagentRunner | None = None,
    ):
        self.plan = plan
        self.log = log
        self.runs = runs
        self.config = config
        self.assistant: AssistantMessage | None = None
        self._pgids: set[int] = set()
        self.no_reply = False
        context = ToolContext(
            session_id=plan.session_id,
            message_id=plan.user_message_id,
            call_id="",
            directory=plan.directory,
            config=config,
            todos=todos,
            on_process=self._record_process,
            env=child_env,
            gate=gate,
            pool=pool,
            web=web,
            subagent=subagent,
        )
        self.tool_calls = ToolCalls(log, plan.tools, plan.agent.name, context, plan.denied)
        self._streaming: list[TextPart | ReasoningPart] = []  # parts of the attempt in flight
        # What the model sees, read from storage once per run and then extended step by step:
        # nothing else writes to a session while it runs, and a long run in a long session must not
        # re-read the whole session at every step.
        self._history: list[dict[str, Any]] | None = None
        self._files: dict[str, history.FileContent] = {}  # its file:// parts, read once

    # --- messages ---------------------------------------------------------------------------------

    async def _new_assistant(self) -> AssistantMessage:
        plan = self.plan
        message = AssistantMessage.answering(
            plan.session_id,
            plan.user_message_id,
            plan.model.provider.id,
            plan.model.model_id,
            plan.agent.name,
            str(plan.directory),
        )
        await self.log.put_message(message)
        self.assistant = message
        return message

    async def _reply(self, message: AssistantMessage) -> Reply:
        return (await self.log.get(message.sessionID, message.id)).wire()

    async def fail(self, handle: RunHandle, error: RunError) -> Reply:
        message = self.assistant or await self._new_assistant()
        message.error = error.to_info()
        message.time.completed = now_ms()
        await self.log.put_message(message)
        return await self._reply(message)

    # --- the loop ---------------------------------------------------------------------------------

    async def run(self, handle: RunHandle) -> Reply:
        if self.no_reply:
            return (await self.log.get(self.plan.session_id, self.plan.user_message_id)).wire()
        try:
            for task in self.plan.subtasks:
                await self._subtask(task)
            step = 0
            while True:
                step += 1
                message = await self._new_assistant()
                finish, calls = await self._step(message)
                if (
                    finish == "tool-calls"
                    and calls
                    and (self.plan.agent.steps is None or step < self.plan.agent.steps)
                ):
                    continue
                return await self._reply(message)
        except asyncio.CancelledError:
            error = handle.cancel_reason or MessageAbortedError()
            return await asyncio.shield(self._end(error))
        except ProviderSilenceError as exc:
            # A keep-alive must not hide a hung provider: say plainly why the run ended.
            attempts = self.config.retry_attempts + 1
            return await self._end(
                UnknownRunError(f"The run was stopped: {exc.message} (after {attempts} attempts)")
            )
        except RunError as exc:
            return await self._end(exc)
        except Exception as exc:
            return await self._end(UnknownRunError(f"{type(exc).__name__}: {exc}"))

    async def _end(self, error: RunError) -> Reply:
        # Text streamed before the end is kept (saved with what arrived since the last flush).
        await self._close_parts(self._streaming)
        self._streaming = []
        await self.tool_calls.abort_open()
        return await self.fail(None, error)  # type: ignore[arg-type]

    async def _subtask(self, task: SubtaskPartInput) -> None:
        """A subtask part: the task tool, called for the person, in an assistant message of its own."""
        plan = self.plan
        model = (task.model.providerID, task.model.modelID) if task.model else None
        provider_id, model_id = model or (plan.model.provider.id, plan.model.model_id)
        message = AssistantMessage.answering(
            plan.session_id, plan.user_message_id, provider_id, model_id, task.agent, str(plan.directory)
        )
        await self.log.put_message(message)
        self.assistant = message
        args = {"prompt": task.prompt, "description": task.description, "subagent_type": task.agent}
        if task.command:
            args["command"] = task.command
        call = ToolCall(ids.new_id("run")[4:], "task", json.dumps(args))  # an id as /shell makes them
        await self.tool_calls.run_given(message.sessionID, message.id, call, Subtask(model))
        message.finish, message.time.completed = "tool-calls", now_ms()
        await self.log.put_message(message)

    async def _step(self, message: AssistantMessage) -> tuple[str, list[ToolCall]]:
        plan = self.plan
        await self.log.put_part(
            StepStartPart(id=ids.part_id(), sessionID=message.sessionID, messageID=message.id)
        )
        if self._history is None:
            stored = await self.log.list_raw(plan.session_id)
            selected = history.select(stored, plan.user_message_id)
            self._history = [m for m in selected if m["info"]["id"] != message.id]  # added when done
            self._files = await history.read_files(self._history, self.tool_calls.context)
        request = ChatRequest(
            model=plan.model.api_model,
            system=self._system(),
            messages=history.to_chat(self._history, self._files),
            tools=[t.definition for t in plan.tools.values()],
            temperature=plan.agent.temperature,
        )
        finish, calls, usage = await self._stream_with_retries(message, request)
        await self.tool_calls.run(message.sessionID, message.id, calls)
        tokens = step_tokens(usage)
        cost = self._cost(usage)
        await self.log.put_part(
            StepFinishPart(
                id=ids.part_id(),
                sessionID=message.sessionID,
                messageID=message.id,
                reason=finish,
                cost=cost,
                tokens=tokens,
            )
        )
        message.tokens, message.cost, message.finish = tokens, cost, finish
        message.time.completed = now_ms()
        await self.log.put_message(message)
        done = await self.log.get_raw(message.sessionID, message.id)
        if done is not None:
            self._history.append(done)
        return finish, calls

    def _system(self) -> list[str]:
        plan = self.plan
        env = (
            f"Working directory: {plan.directory}\nPlatform: linux\n"
            f"Today's date: {time.strftime('%a %b %d %Y')}"
        )
        out = [p for p in (plan.agent.prompt, env) if p]
        if plan.system:
            out.append(plan.system)
        return out

    def _cost(self, usage: Usage) -> int | float:
        raw = self.plan.model.provider.models.get(self.plan.model.model_id, {}).get("cost") or {}
        cache = raw.get("cache") or {}
        per_million = (
            usage.input * float(raw.get("input", 0))
            + usage.output * float(raw.get("output", 0))
            + usage.cache_read * float(cache.get("read", raw.get("cache_read", 0)))
            + usage.cache_write * float(cache.get("write", raw.get("cache_write", 0)))
        )
        cost = per_million / 1_000_000
        return int(cost) if cost == int(cost) else cost

    # --- streaming --------------------------------------------------------------------------------

    async def _stream_with_retries(
        self, message: AssistantMessage, request: ChatRequest
    ) -> tuple[str, list[ToolCall], Usage]:
        retries = Retries(self.config)
        while True:
            streamed: list[TextPart | ReasoningPart] = []
            self._streaming = streamed
            try:
                return await self._stream(message, request, streamed)
            except APIError as exc:
                await self._close_parts(streamed)
                delay = retries.next_delay(exc)
                if delay is None:
                    raise
                # A retried attempt streams its text again: drop the partial copy so the answer
                # is not doubled. The final failure keeps what was streamed.
                for part in streamed:
                    await self.log.delete_part(part.sessionID, part.messageID, part.id)
                self.runs.set_status(
                    self.plan.session_id,
                    {
                        "type": "retry",
                        "attempt": retries.attempt,
                        "message": exc.message,
                        "next": now_ms() + int(delay * 1000),
                    },
                )
                await asyncio.sleep(delay)
                self.runs.set_status(self.plan.session_id, {"type": "busy"})

    async def _stream(
        self, message: AssistantMessage, request: ChatRequest, streamed: list[TextPart | ReasoningPart]
    ) -> tuple[str, list[ToolCall], Usage]:
        finish, calls, usage = "stop", [], Usage()
        current: TextPart | ReasoningPart | None = None
        last_flush = time.monotonic()
        async for event in self.plan.provider.stream(request):
            if isinstance(event, TextDelta | ReasoningDelta):
                kind = TextPart if isinstance(event, TextDelta) else ReasoningPart
                if not isinstance(current, kind):
                    if current is not None:
                        await self._close_parts([current])
                    current = kind(
                        id=ids.part_id(),
                        sessionID=message.sessionID,
                        messageID=message.id,
                        text="",
                        time=TimeSpan(start=now_ms()),
                    )
                    streamed.append(current)
                    await self.log.put_part(current)
                current.text += event.text
                self.log.delta(current, "text", event.text)
                if time.monotonic() - last_flush >= self.config.part_flush_interval:
                    last_flush = time.monotonic()
                    await self.log.put_part(current)
            elif isinstance(event, ToolCallEvent):
                calls.append(event.call)
            elif isinstance(event, Usage):
                usage = event
            elif isinstance(event, Finish):
                finish = event.reason
        await self._close_parts(streamed)
        if calls and finish == "stop":
            finish = "tool-calls"
        return finish, calls, usage

    async def _close_parts(self, parts: list[TextPart | ReasoningPart]) -> None:
        for part in parts:
            if part.time is not None and part.time.end is None:
                part.time.end = now_ms()
                await self.log.put_part(part)

    async def _record_process(self, pgid: int | None) -> None:
        if pgid is None:
            self._pgids.clear()
        else:
            self._pgids.add(pgid)
        await self.runs.record_processes(self.plan.user_message_id, sorted(self._pgids))
