"""Prompt bodies: validation, the idempotency hash, and turning a body into a run.

`POST /session/{id}/message` and `prompt_async` take the reference's body; `/command` becomes a
prompt after its template is expanded, or a prompt of one `subtask` part when the command is marked
`subtask` or its agent is a subagent; `/summarize` becomes a run whose user message is a compaction
request. Everything that can be refused is refused here, before the route answers 200: unknown
agent, model or variant (a subtask's agent and model too), missing key, bad parts, a `json_schema`
that is not a schema, a file part outside the project that the permission rules deny.

The tools a run offers: the built-ins for its model (`wakeful.tools.registry.for_model`), less those
the agent or the body leaves out and those a rule denies altogether; the task tool's description
lists the subagents the rules let it start. The project's MCP servers' tools are chosen the same
way at each step of the run (`RunPlan.more_tools`), since starting a server may take a while.
What cannot be refused (the tools the rules leave, the provider client, the agent loop) is built
behind the headers, when the run starts (`PreparedRun`), from the session as stored then.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from wakeful import ids
from wakeful.config import ServerConfig
from wakeful.errors import InvalidRequestError, RunError
from wakeful.ids import now_ms
from wakeful.project.agents import Agent, enabled, load_agents, resolve_agent
from wakeful.project.catalog import Catalog, ModelChoice
from wakeful.project.commands import Command
from wakeful.project.config import ProjectConfig
from wakeful.project.permissions import Ruleset, disabled, evaluate, last_match
from wakeful.providers.base import data_url_bytes
from wakeful.run import subagent
from wakeful.run.compaction import CompactionSettings
from wakeful.run.loop import AgentLoop, Offer, RunPlan
from wakeful.run.manager import Executor, Reply, RunHandle, RunRequest
from wakeful.run.runtime import Runtime
from wakeful.run.structured import check_schema
from wakeful.storage.base import RunRecord
from wakeful.tools.base import Tool
from wakeful.tools.paths import inside, project_roots, real_path
from wakeful.tools.registry import for_model
from wakeful.tools.task import describe_agents
from wakeful.wire.base import Wire
from wakeful.wire.bodies import (
    CommandBody,
    FilePartInput,
    PromptBody,
    PromptModel,
    SubtaskPartInput,
    SummarizeBody,
    TextPartInput,
)
from wakeful.wire.messages import ModelRef, OutputFormatJsonSchema, UserMessage, UserSummary, UserTime
from wakeful.wire.parts import CompactionPart, SubtaskModel
from wakeful.wire.permissions import PermissionRule
from wakeful.wire.sessions import Session


def body_hash(session_id: str, kind: str, body: Wire) -> str:
    """Canonical JSON of the validated body (without its messageID) and where it was sent."""
    data = body.model_dump(mode="json", exclude_none=True, exclude={"messageID"})
    canonical = json.dumps(
        {"session": session_id, "kind": kind, "body": data}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _refuse_unsupported(body: PromptBody) -> None:
    if isinstance(body.format, OutputFormatJsonSchema):
        check_schema(body.format.json_schema)
    if not body.parts:
        raise InvalidRequestError("parts: at least one part is required", field="parts")
    for index, part in enumerate(body.parts):
        if isinstance(part, FilePartInput):
            _check_file_url(part.url, f"parts.{index}.url")


def _check_file_url(url: str, field: str) -> None:
    """A file part must be something the run can read: a readable file:// path, a well-formed
    data: URL, or an http(s) URL (passed to the provider as is)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        if not path.is_absolute() or not path.is_file() or not os.access(path, os.R_OK):
            raise InvalidRequestError(f"{field}: {url} is not a readable file", field=field)
    elif parsed.scheme == "data":
        try:
            data_url_bytes(url)
        except ValueError:
            raise InvalidRequestError(f"{field}: malformed data: URL", field=field) from None
    elif parsed.scheme not in ("http", "https"):
        raise InvalidRequestError(f"{field}: use a file://, data: or http(s):// URL", field=field)


def _refuse_denied_files(body: PromptBody, directory: Path, rules: Ruleset) -> None:
    """A `file://` part outside the project that the rules deny `external_directory` is refused
    before the run is accepted (one that asks is asked when the run reads it)."""
    files = [
        (index, part)
        for index, part in enumerate(body.parts)
        if isinstance(part, FilePartInput) and part.url.startswith("file://")
    ]
    if not files:
        return
    roots = project_roots(directory)
    for index, part in files:
        path = real_path(directory, unquote(urlparse(part.url).path))
        if inside(path, roots):
            continue
        pattern = path.parent.as_posix().rstrip("/") + "/*"
        rule = last_match("external_directory", pattern, rules)
        if rule is not None and rule.action == "deny":
            field = f"parts.{index}.url"
            raise InvalidRequestError(
                f"{field}: {path} is outside the project, and the rule {json.dumps(rule.wire())} denies "
                "external_directory for it",
                field=field,
            )


def _subtasks(body: PromptBody, agents: dict[str, Agent], catalog: Catalog) -> list[SubtaskPartInput]:
    """The body's subtask parts, once each names a known agent (and model)."""
    found: list[SubtaskPartInput] = []
    for index, part in enumerate(body.parts):
        if not isinstance(part, SubtaskPartInput):
            continue
        if part.agent not in agents:
            field = f"parts.{index}.agent"
            raise InvalidRequestError(f"{field}: Unknown agent: {part.agent}", field=field)
        if part.model is not None:
            catalog.resolve(part.model.providerID, part.model.modelID)
        found.append(part)
    return found


def _with_subagents(tools: dict[str, Tool], agents: dict[str, Agent], rules: Ruleset) -> dict[str, Tool]:
    """`tools` with the task tool, if there, describing the subagents `rules` let it start."""
    if "task" not in tools:
        return tools
    startable = [
        (a.name, a.description)
        for a in agents.values()
        if a.mode != "primary" and evaluate("task", a.name, rules) != "deny"
    ]
    return {**tools, "task": describe_agents(tools["task"], startable)}


def listed_tools(runtime: Runtime, directory: Path, model_id: str) -> dict[str, Tool]:
    """The tools `model_id` is offered in `directory`, as `GET /experimental/tool` lists them: the
    task tool as the default agent sees it."""
    config = runtime.projects.load(directory)
    agent = resolve_agent(config, None)
    return _with_subagents(for_model(runtime.tools, model_id), load_agents(config), agent.permission)


def _variant(choice: ModelChoice, agent: Agent, requested: str | None) -> str | None:
    """The prompt's variant (refused when the model has no such variant), else the agent's if the
    model has it."""
    variants = choice.variants
    if requested is not None:
        if requested not in variants:
            known = ", ".join(sorted(variants)) or "none"
            raise InvalidRequestError(
                f"variant: {choice.provider.id}/{choice.model_id} has no variant {requested!r} (it has: {known})",
                field="variant",
            )
        return requested
    return agent.variant if agent.variant in variants else None


def _run_config(config: ServerConfig, project: ProjectConfig) -> ServerConfig:
    """The server's config with the project's `tool_output` limits, which the tools read."""
    section = project.section("tool_output")
    limits = {
        field: value
        for key, field in (("max_lines", "tool_output_max_lines"), ("max_bytes", "tool_output_max_bytes"))
        if isinstance(value := section.get(key), int) and not isinstance(value, bool) and value > 0
    }
    return config.model_copy(update=limits) if limits else config


def _loop(
    runtime: Runtime,
    plan: RunPlan,
    project: ProjectConfig,
    permission_timeout: float | None = None,
    subagents: subagent.Subagents | None = None,
) -> AgentLoop:
    timeout = permission_timeout if permission_timeout is not None else runtime.config.permission_timeout
    return AgentLoop(
        plan,
        runtime.messages,
        runtime.runs,
        runtime.todos,
        _run_config(runtime.config, project),
        runtime.child_env,
        runtime.prompts,
        gate=runtime.permissions.gate(plan.agent.permission, timeout),
        pool=runtime.tool_pool,
        outputs=runtime.outputs,
        web=runtime.web,
        subagent=subagents,
    )


# A session's own permission rules: all a run's agent loop needs of its session.
SessionRules = list[PermissionRule] | None


class PreparedRun(Executor):
    """An accepted run whose agent loop is built when it starts: with the session's rules as stored
    then (they may have changed since, in another process too) and with the provider's SDK
    imported off the event loop. `plan` is what the run would be built with now. It keeps only
    the session's id and rules: a run may wait in a queue behind a thousand others."""

    def __init__(
        self, runtime: Runtime, session: Session, choice: ModelChoice, build: Callable[[SessionRules], AgentLoop]
    ) -> None:
        self._runtime = runtime
        self._session_id = session.id
        self._rules = session.permission
        self._choice = choice
        self._build_for = build
        self._loop: AgentLoop | None = None
        self._prepared = False
        self.no_reply = False
        self.first_step = 0

    @property
    def plan(self) -> RunPlan:
        return self._build_for(self._rules).plan

    def _build(self) -> AgentLoop:
        loop = self._loop = self._build_for(self._rules)
        loop.no_reply = self.no_reply
        loop.first_step = self.first_step
        return loop

    async def prepare(self) -> None:
        self._rules = (await self._runtime.sessions.get(self._session_id)).permission
        self._prepared = True
        await self._runtime.providers.imported(self._choice.provider.id, self._choice.provider.npm)

    async def run(self, handle: RunHandle) -> Reply:
        assert self._prepared, "the manager prepares a run before it runs it"
        return await self._build().run(handle)

    async def fail(self, handle: RunHandle, error: RunError) -> Reply:
        if self._loop is None:
            await self._runtime.providers.imported(self._choice.provider.id, self._choice.provider.npm)
        return await (self._loop or self._build()).fail(handle, error)


def _instructions(project: ProjectConfig) -> list[str]:
    raw = project.data.get("instructions")
    return [str(i) for i in raw if isinstance(i, str)] if isinstance(raw, list) else []


def build_run(
    runtime: Runtime,
    session: Session,
    directory: Path,
    body: PromptBody,
    *,
    kind: str = "prompt",
    deadline: float | None = None,
    permission_timeout: float | None = None,
) -> RunRequest:
    _refuse_unsupported(body)
    catalog = runtime.catalog(directory)
    agent = resolve_agent(catalog.config, body.agent)
    agents = load_agents(catalog.config)
    choice = catalog.resolve(
        body.model.providerID if body.model else None,
        body.model.modelID if body.model else None,
        fallback=agent.model,
    )
    subtasks = _subtasks(body, agents, catalog)
    variant = _variant(choice, agent, body.variant)
    message_id = body.messageID or ids.message_id()
    user = UserMessage(
        id=message_id,
        sessionID=session.id,
        time=UserTime(created=now_ms()),
        format=body.format,
        summary=UserSummary(),
        agent=agent.name,
        model=ModelRef(providerID=choice.provider.id, modelID=choice.model_id, variant=variant),
        system=body.system,
        tools=body.tools,
    )
    parts: list[dict[str, Any]] = []
    for given in body.parts:
        data = given.model_dump(mode="json", exclude_none=True)
        data.update(id=given.id or ids.part_id(), sessionID=session.id, messageID=message_id)
        parts.append(data)
    _refuse_denied_files(body, directory, [*agent.permission, *(session.permission or [])])
    timeout = permission_timeout if permission_timeout is not None else runtime.config.permission_timeout
    user_message = user.wire()  # kept as stored (and announced): the model is made again at start
    executor = PreparedRun(
        runtime,
        session,
        choice,
        lambda rules: _agent_loop(
            runtime, rules, directory, catalog, agent, choice, UserMessage.model_validate(user_message), timeout, subtasks
        ),
    )
    executor.no_reply = bool(body.noReply)
    deadline = deadline if deadline is not None else runtime.config.run_deadline
    return RunRequest(
        session_id=session.id,
        message_id=message_id,
        kind=kind,
        body_hash=body_hash(session.id, kind, body),
        user_message=user_message,
        user_parts=parts,
        executor=executor,
        deadline=deadline,
        plan={
            "directory": str(directory),
            "permissionTimeout": timeout,
            "deadline": deadline,
            "noReply": bool(body.noReply),
        },
    )


def _agent_loop(
    runtime: Runtime,
    session_rules: SessionRules,
    directory: Path,
    catalog: Catalog,
    agent: Agent,
    choice: ModelChoice,
    user: UserMessage,
    permission_timeout: float,
    subtasks: list[SubtaskPartInput] | None = None,
) -> AgentLoop:
    """The agent loop of a stored or new prompt: everything it needs is on its user message, but
    the `subtask` parts a new prompt runs before the model answers."""
    rules = [*agent.permission, *(session_rules or [])]

    def offered(candidates: dict[str, Tool]) -> Offer:
        """The tools the agent, the prompt's `tools` and the rules leave, and those a rule denies."""
        read_only = {name for name, tool in candidates.items() if tool.read_only}
        allowed = {
            name: tool
            for name, tool in candidates.items()
            if agent.allows(name, read_only) and enabled(user.tools or {}, name)
        }
        denied = disabled(allowed, rules)
        return {name: tool for name, tool in allowed.items() if name not in denied}, denied

    async def mcp_tools() -> Offer:
        return offered(await runtime.mcp.tools(catalog.config))

    tools, denied = offered(
        _with_subagents(for_model(runtime.tools, choice.model_id), load_agents(catalog.config), rules)
    )
    plan = RunPlan(
        session_id=user.sessionID,
        user_message_id=user.id,
        directory=directory,
        agent=agent,
        model=choice,
        provider=runtime.provider(choice),
        tools=tools,
        system=user.system,
        variant=user.model.variant,
        output_format=user.format if isinstance(user.format, OutputFormatJsonSchema) else None,
        compaction=CompactionSettings.of(catalog.config.section("compaction")),
        instructions=_instructions(catalog.config),
        denied=denied,
        more_tools=mcp_tools,
        subtasks=subtasks or [],
    )

    def child_run(child: Session, child_body: PromptBody) -> RunRequest:
        return build_run(
            runtime, child, directory, child_body, kind=subagent.KIND, permission_timeout=permission_timeout
        )

    subagents = subagent.Subagents(runtime, child_run, directory, choice)
    return _loop(runtime, plan, catalog.config, permission_timeout, subagents)


def resume_run(
    runtime: Runtime, session: Session, run: RunRecord, user: UserMessage, first_step: int
) -> RunRequest:
    """The run of the stored prompt `run` (or command), rebuilt from its claim and its stored user
    message to go on after its first `first_step` stored steps (run/takeover.py). Refused like a
    new prompt if its agent or model no longer resolves."""
    plan = run.plan
    directory = Path(plan.get("directory") or session.directory)
    catalog = runtime.catalog(directory)
    agent = resolve_agent(catalog.config, user.agent)
    choice = catalog.resolve(user.model.providerID, user.model.modelID, fallback=agent.model)
    timeout = plan.get("permissionTimeout") or runtime.config.permission_timeout
    executor = PreparedRun(
        runtime, session, choice, lambda rules: _agent_loop(runtime, rules, directory, catalog, agent, choice, user, timeout)
    )
    executor.first_step = first_step
    executor.no_reply = bool(plan.get("noReply"))
    return RunRequest(
        session_id=session.id,
        message_id=run.message_id,
        kind=run.kind,
        body_hash=run.body_hash,
        user_message=user.wire(),
        user_parts=[],
        executor=executor,
        deadline=plan.get("deadline"),
        plan=plan,
        callback=run.callback,
    )


def _model_ref(ref: str | None) -> PromptModel | None:
    if not ref:
        return None
    if "/" not in ref:
        raise InvalidRequestError("model must look like provider/model", field="model")
    provider_id, model_id = ref.split("/", 1)
    return PromptModel(providerID=provider_id, modelID=model_id)


def command_prompt(command: Command, body: CommandBody, config: ProjectConfig) -> PromptBody:
    """The prompt a command runs: its template expanded with the arguments, plus any files. A
    command marked `subtask`, or whose agent is a subagent (unless marked `subtask: false`), runs
    as a subtask part instead: its agent in a child session, on the command's model if it names one."""
    text = command.expand(body.arguments)
    agent = resolve_agent(config, body.agent or command.agent)
    if command.subtask or (command.subtask is None and agent.mode == "subagent"):
        own = _model_ref(command.model)
        task = SubtaskPartInput(
            type="subtask",
            prompt=text,
            description=command.description or "",
            agent=agent.name,
            model=SubtaskModel(providerID=own.providerID, modelID=own.modelID) if own else None,
            command=command.name,
        )
        return PromptBody(
            messageID=body.messageID,
            agent=body.agent,
            model=_model_ref(body.model),
            variant=body.variant,
            parts=[task],
        )
    parts: list[Any] = [TextPartInput(type="text", text=text)]
    parts.extend(body.parts or [])
    return PromptBody(
        messageID=body.messageID,
        agent=body.agent or command.agent,
        model=_model_ref(body.model or command.model),
        variant=body.variant,
        parts=parts,
    )


def build_summarize_run(
    runtime: Runtime, session: Session, directory: Path, body: SummarizeBody, *, deadline: float | None = None
) -> RunRequest:
    """`POST /session/{id}/summarize`: a compaction request (a user message with a `compaction`
    part) whose run stores the summary of the session's history with the given model."""
    catalog = runtime.catalog(directory)
    agent = resolve_agent(catalog.config, None)
    choice = catalog.resolve(body.providerID, body.modelID)
    message_id = ids.message_id()
    user = UserMessage(
        id=message_id,
        sessionID=session.id,
        time=UserTime(created=now_ms()),
        agent=agent.name,
        model=ModelRef(providerID=choice.provider.id, modelID=choice.model_id),
    )
    part = CompactionPart(id=ids.part_id(), sessionID=session.id, messageID=message_id, auto=bool(body.auto))

    def summarize(rules: SessionRules) -> AgentLoop:
        del rules  # a summary runs no tools
        plan = RunPlan(
            session_id=user.sessionID,
            user_message_id=message_id,
            directory=directory,
            agent=agent,
            model=choice,
            provider=runtime.provider(choice),
            tools={},
            compaction=CompactionSettings.of(catalog.config.section("compaction")),
            compact_only=True,
        )
        return _loop(runtime, plan, catalog.config)

    return RunRequest(
        session_id=session.id,
        message_id=message_id,
        kind="summarize",
        body_hash=body_hash(session.id, "summarize", body),
        user_message=user.wire(),
        user_parts=[part.wire()],
        executor=PreparedRun(runtime, session, choice, summarize),
        deadline=deadline if deadline is not None else runtime.config.run_deadline,
    )
