"""Running the tool calls of one LLM step, each as a tool part pending -> running -> completed | error.

A bad call (arguments that are not a JSON object, a tool the agent may not use or that a permission
rule denies altogether) becomes a tool part in state "error" that the model sees on its next step; so
does a `ToolError` (arguments the tool's schema refuses, a permission refused, or a failure) or any
other failure of the tool. Cancellation (abort, deadline, shutdown) propagates after the tool has
stopped what it started; `abort_open` then marks the interrupted part. An output too
long for the model is cut and kept whole (`tools.output`).
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from wakeful import ids
from wakeful.errors import ToolError
from wakeful.ids import now_ms
from wakeful.providers.base import ToolCall
from wakeful.session.messages import MessageLog
from wakeful.telemetry.calls import ToolExecution, ToolOutcome
from wakeful.telemetry.metrics import Metrics
from wakeful.tools.base import Tool, ToolContext
from wakeful.tools.output import limit_output
from wakeful.wire.parts import (
    ToolPart,
    ToolStateCompleted,
    ToolStateError,
    ToolStatePending,
    ToolStateRunning,
)
from wakeful.wire.permissions import PermissionRule


@dataclass
class ToolCalls:
    log: MessageLog
    tools: dict[str, Tool]
    agent_name: str
    context: ToolContext  # what every call of the run shares; message and call ids are set per call
    metrics: Metrics
    denied: dict[str, PermissionRule] = field(default_factory=dict)  # tools a rule denies altogether
    _open: dict[str, tuple[ToolPart, int]] = field(default_factory=dict)  # part id -> (part, start)

    async def _set(self, part: ToolPart, state: Any) -> None:
        part.state = state
        await self.log.put_part(part)

    async def run(self, session_id: str, message_id: str, calls: list[ToolCall]) -> None:
        for call in calls:
            part = await self._pending(session_id, message_id, call)
            await self._observed(part, call.name in self.tools, self._run(part, call))

    async def run_given(self, session_id: str, message_id: str, call: ToolCall, tool: Tool) -> None:
        """Run `call` with `tool`, whatever the agent's tools and rules: a call the run makes
        because the prompt asked for it (a `subtask` part)."""
        part = await self._pending(session_id, message_id, call)
        await self._observed(part, True, self._execute(part, json.loads(call.arguments), tool, now_ms()))

    async def _observed(self, part: ToolPart, known: bool, call: Coroutine[Any, Any, ToolOutcome]) -> None:
        """Await `call`, which runs `part`'s tool, as one observed tool execution."""
        with ToolExecution(self.metrics, part.tool, part.callID, known=known) as observed:
            observed.outcome = await call
            if isinstance(part.state, ToolStateError):
                observed.error = part.state.error

    async def _pending(self, session_id: str, message_id: str, call: ToolCall) -> ToolPart:
        part = ToolPart(
            id=ids.part_id(),
            sessionID=session_id,
            messageID=message_id,
            callID=call.id,
            tool=call.name,
            state=ToolStatePending(input={}, raw=call.arguments),
        )
        await self.log.put_part(part)
        return part

    async def _fail(self, part: ToolPart, args: dict[str, Any], error: str, start: int) -> None:
        # What a running call showed (a subagent's session) stays on its error.
        shown = part.state.metadata if isinstance(part.state, ToolStateRunning) else None
        await self._set(
            part,
            ToolStateError(input=args, error=error, metadata=shown, time={"start": start, "end": now_ms()}),
        )

    async def _run(self, part: ToolPart, call: ToolCall) -> ToolOutcome:
        start = now_ms()
        try:
            args = json.loads(call.arguments or "{}")
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            await self._fail(part, {}, f"Invalid tool arguments: {exc}", start)
            return "invalid"
        tool = self.tools.get(call.name)
        rule = self.denied.get(call.name)
        if rule is not None:
            denial = f"Permission denied: the rule {json.dumps(rule.wire())} forbids the tool {call.name}"
            await self._fail(part, args, denial, start)
            return "denied"
        if tool is None:
            await self._fail(
                part, args, f"Unknown tool or not allowed for agent {self.agent_name}: {call.name}", start
            )
            return "invalid"
        return await self._execute(part, args, tool, start)

    async def _execute(self, part: ToolPart, args: dict[str, Any], tool: Tool, start: int) -> ToolOutcome:
        await self._set(part, ToolStateRunning(input=args, time={"start": start}))
        self._open[part.id] = (part, start)

        async def show(title: str, metadata: dict[str, Any]) -> None:
            if isinstance(part.state, ToolStateRunning):
                await self._set(part, part.state.model_copy(update={"title": title, "metadata": metadata}))

        ctx = replace(self.context, message_id=part.messageID, call_id=part.callID, on_metadata=show)
        try:
            result = await limit_output(await tool.call(args, ctx), ctx)
        except ToolError as exc:
            self._open.pop(part.id, None)
            await self._fail(part, args, exc.message, start)
            return "error"
        except Exception as exc:
            self._open.pop(part.id, None)
            await self._fail(part, args, f"{type(exc).__name__}: {exc}", start)
            return "error"
        self._open.pop(part.id, None)
        await self._set(
            part,
            ToolStateCompleted(
                input=args,
                output=result.output,
                title=result.title,
                metadata=result.metadata,
                time={"start": start, "end": now_ms()},
                attachments=result.attachments or None,
            ),
        )
        return "success"

    async def abort_open(self, reason: str = "Tool execution aborted") -> None:
        """Mark the tools that were running when the run ended."""
        for part, start in list(self._open.values()):
            await self._fail(part, part.state.input, reason, start)
        self._open.clear()
