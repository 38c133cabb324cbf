"""Subagents: a task call, or a prompt's `subtask` part, runs as the run of a child session.

The child is a real session (`parentID` = the caller's session) and its run a real run, submitted to
the RunManager as a prompt is: queued in the child session, abortable there
(`POST /session/{child}/abort`), claimed in the RunStore, so that crash recovery closes it and kills
its tool processes like any other. The caller's tool call waits for its answer.

Invariant: a child never outlives its caller's wait. When the caller is cancelled (its run aborted,
past its deadline, or stopped by the drain), the child is cancelled with the caller's reason, and
the cancellation goes on only once the child's run has ended, its tool processes killed.

A new child session has the caller session's own rules, then denies todowrite and todoread, and
task unless the subagent's rules speak of it: a subagent does not start subagents by accident.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from wakeful.errors import MessageAbortedError, NotFoundError, RunError, ToolError, WakefulError
from wakeful.project.agents import Agent, load_agents
from wakeful.project.catalog import ModelChoice
from wakeful.run.manager import RemoteRun, Reply, RunHandle, RunRequest
from wakeful.run.runtime import Runtime
from wakeful.tools.base import SubagentReply, SubagentRequest, ToolContext
from wakeful.wire.bodies import PromptBody, PromptModel, TextPartInput
from wakeful.wire.permissions import PermissionRule
from wakeful.wire.sessions import Session, SessionCreate

# Builds the run of a prompt in a child session, as the caller's run was built (`build_run`).
ChildRun = Callable[[Session, PromptBody], RunRequest]
KIND = "task"  # the runs' kind in the RunStore


def child_rules(caller: Session, agent: Agent) -> list[PermissionRule]:
    rules = list(caller.permission or [])
    denied = ["todowrite", "todoread"]
    if not any(rule.permission == "task" for rule in agent.permission):
        denied.append("task")
    rules += [PermissionRule(permission=name, pattern="*", action="deny") for name in denied]
    return rules


def _final_text(reply: Reply) -> str:
    texts = [p["text"] for p in reply["parts"] if p["type"] == "text"]
    return texts[-1] if texts else ""


@dataclass
class Subagents:
    """The `SubagentRunner` of one run, in `directory`, whose model is `model`."""

    runtime: Runtime
    build: ChildRun
    directory: Path
    model: ModelChoice

    async def __call__(
        self,
        request: SubagentRequest,
        ctx: ToolContext,
        started: Callable[[str, dict[str, str]], Awaitable[None]],
    ) -> SubagentReply:
        agents = load_agents(self.runtime.projects.load(self.directory))
        agent = agents.get(request.agent)
        if agent is None:
            known = ", ".join(sorted(a.name for a in agents.values() if a.mode != "primary"))
            raise ToolError(f"Unknown agent type: {request.agent}. The subagents are: {known or 'none'}")
        session = await self._session(request, ctx.session_id, agent)
        try:
            run = self.build(session, self._body(request, agent))
        except WakefulError as exc:
            if session.id != request.task_id:  # a child made for this call, that nothing names yet
                await self.runtime.sessions.delete(session.id)
            raise ToolError(f"The subagent could not start: {exc.message}") from None
        model = run.user_message["model"]
        await started(session.id, {"providerID": model["providerID"], "modelID": model["modelID"]})
        try:
            reply = await self._run(run, ctx.session_id)
        except WakefulError as exc:
            raise ToolError(f"The subagent could not start: {exc.message}") from None
        error = reply["info"].get("error")
        if error:
            message = (error.get("data") or {}).get("message") or error.get("name", "failed")
            raise ToolError(f"The subagent failed (task_id: {session.id}): {message}")
        return SubagentReply(
            session_id=session.id,
            text=_final_text(reply),
            model={"providerID": reply["info"]["providerID"], "modelID": reply["info"]["modelID"]},
        )

    async def _session(self, request: SubagentRequest, caller_id: str, agent: Agent) -> Session:
        sessions = self.runtime.sessions
        if request.task_id:
            try:
                found = await sessions.get(request.task_id)
            except NotFoundError:
                raise ToolError(f"No task {request.task_id}: leave task_id out to start a new one") from None
            if found.parentID != caller_id:
                raise ToolError(f"{request.task_id} is not a task of this session")
            return found
        caller = await sessions.get(caller_id)
        body = SessionCreate(
            parentID=caller_id,
            title=f"{request.description} (@{agent.name} subagent)",
            permission=child_rules(caller, agent),
        )
        return await sessions.create(self.directory, body)

    def _body(self, request: SubagentRequest, agent: Agent) -> PromptBody:
        """The child's prompt: the request's model, else the agent's, else the caller's."""
        model = None
        if request.model is not None:
            model = PromptModel(providerID=request.model[0], modelID=request.model[1])
        elif agent.model is None:
            model = PromptModel(providerID=self.model.provider.id, modelID=self.model.model_id)
        return PromptBody(
            agent=agent.name, model=model, parts=[TextPartInput(type="text", text=request.prompt)]
        )

    async def _run(self, run: RunRequest, caller_id: str) -> Reply:
        """Submit the child's run and wait for its reply; see the module's invariant."""
        submitting = asyncio.ensure_future(self.runtime.runs.submit(run))
        handle: RunHandle | RemoteRun | None = None
        try:
            submitted = await asyncio.shield(submitting)
            if not isinstance(submitted, RunHandle | RemoteRun):  # answered from storage
                return submitted
            handle = submitted
            return await handle.wait()
        except asyncio.CancelledError:
            if handle is None:  # cancelled while submitting: the submission goes on, so wait for it
                with contextlib.suppress(Exception):
                    submitted = await submitting
                    handle = submitted if isinstance(submitted, RunHandle | RemoteRun) else None
            if handle is not None:
                caller = self.runtime.runs.current(caller_id)
                reason: RunError = (caller.cancel_reason if caller else None) or MessageAbortedError(
                    "The run that started this subagent was stopped"
                )
                handle.cancel(reason)
                # Running (not queued behind another run of its session): wait until it has ended
                # and its processes are gone. A queued one ends without running when its turn comes.
                if self.runtime.runs.current(handle.session_id) is handle:
                    with contextlib.suppress(Exception):
                        await handle.wait()
            raise
