"""The task tool: hands a piece of work to a subagent, which runs it in a child session.

The child is a session of its own (`parentID` = the caller's session) and its run a real run: the
run layer provides it as `ToolContext.subagent`. The call asks `task` with the subagent's name as
the pattern; a `subtask` part of a prompt, or a command marked `subtask`, runs the same way without
asking (`Subtask`). While the child runs, the caller's tool part names the child session in its
metadata (`sessionId`); the result starts with the child's final text, followed by the id to pass as
`task_id` to continue that session.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from wakeful.errors import ToolError
from wakeful.providers.base import ToolDefinition
from wakeful.tools.base import SubagentRequest, Tool, ToolContext, ToolResult
from wakeful.tools.typed import NonBlank, ToolArgs, tool


class TaskArgs(ToolArgs):
    description: NonBlank = Field(description="What the task is about, in three to five words")
    prompt: NonBlank = Field(
        description="Everything the subagent needs to know to do the task, and what to report back"
    )
    subagent_type: NonBlank = Field(description="The agent that does the task: one of those listed")
    task_id: str | None = Field(
        None,
        description=(
            "Only to continue an earlier task: the task_id its result gave. The subagent then goes "
            "on in the same session, with what it did before, instead of starting afresh"
        ),
    )
    command: str | None = Field(None, description="The command that started this task, if one did")


def task_output(text: str, session_id: str) -> str:
    return f"{text}\n\n<task_metadata>\ntask_id: {session_id} (pass it as task_id to continue this task)\n</task_metadata>"


async def _run(request: SubagentRequest, ctx: ToolContext) -> ToolResult:
    if ctx.subagent is None:
        raise ToolError("Subagents are not available here")

    async def started(session_id: str, model: dict[str, str]) -> None:
        await ctx.set_metadata(request.description, {"sessionId": session_id, "model": model})

    reply = await ctx.subagent(request, ctx, started)
    return ToolResult(
        output=task_output(reply.text, reply.session_id),
        title=request.description,
        metadata={"sessionId": reply.session_id, "model": reply.model},
    )


@tool("task", read_only=True)
async def task_tool(args: TaskArgs, ctx: ToolContext) -> ToolResult:
    """Hands a task to a subagent: an agent of its own, in a session of its own, that works through
    it with its own tools and answers once done. Use it for searches and multi-step work whose
    details you do not need to keep, and start several at once (one message, several calls) for
    independent parts.

    - Say in 'prompt' exactly what to do and what to report back: the subagent sees nothing of this
    conversation, and its final answer is all you get back (the user does not see it: pass on what
    matters).
    - Pick 'subagent_type' from the agents listed below.
    - A result ends with a task_id; pass it as 'task_id' to send the same subagent a follow-up with
    what it already knows.
    """
    await ctx.ask(
        "task",
        [args.subagent_type],
        metadata={"description": args.description, "subagent_type": args.subagent_type},
    )
    request = SubagentRequest(
        agent=args.subagent_type,
        prompt=args.prompt,
        description=args.description,
        task_id=args.task_id,
        command=args.command,
    )
    return await _run(request, ctx)


@dataclass(frozen=True)
class Subtask:
    """The task tool as a prompt's `subtask` part runs it: the person asked for that agent, so
    nobody is asked again, and the part may name the model. Its arguments come from a validated
    part; a blank description (a command that has none) is shown as the command's name."""

    model: tuple[str, str] | None = None
    read_only: bool = True

    @property
    def definition(self) -> ToolDefinition:
        return task_tool.definition

    async def call(self, raw_args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        agent, command = str(raw_args["subagent_type"]), raw_args.get("command")
        request = SubagentRequest(
            agent=agent,
            prompt=str(raw_args["prompt"]),
            description=str(raw_args.get("description") or (f"/{command}" if command else agent)),
            command=command,
            model=self.model,
        )
        return await _run(request, ctx)


@dataclass(frozen=True)
class _Described:
    """A tool offered under another description (the task tool, listing the agents)."""

    tool: Tool
    definition: ToolDefinition

    @property
    def read_only(self) -> bool:
        return self.tool.read_only

    async def call(self, raw_args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return await self.tool.call(raw_args, ctx)


def describe_agents(task: Tool, agents: Iterable[tuple[str, str]]) -> Tool:
    """`task` whose description ends with the subagents the caller may start, (name, description)
    pairs, sorted by name."""
    lines = [
        f"- {name}: {description or 'An agent meant to be started by the user, not by you.'}"
        for name, description in sorted(agents)
    ]
    listing = "Available agents:\n" + ("\n".join(lines) if lines else "(none)")
    return _described(task, listing)  # type: ignore[arg-type]  # a tool is hashable by identity


@functools.lru_cache(maxsize=64)
def _described(task: Tool, listing: str) -> Tool:
    # One per listing, not per run: the definition keeps its wire encodings (ToolDefinition.wire),
    # which every run with the same agents then shares.
    definition = task.definition
    described = ToolDefinition(
        name=definition.name,
        description=f"{definition.description}\n\n{listing}",
        parameters=definition.parameters,
    )
    return _Described(task, described)
