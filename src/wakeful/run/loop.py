"""The agent loop: one prompt's run, stored as the reference stores it.

Persisted user message (done at submission) -> one assistant message per `subtask` part of the
prompt, holding the task tool call that ran it -> one assistant message per LLM call (`parentID` =
the user message), each framed by `step-start` and `step-finish`, with text, reasoning and tool parts
in between; repeat while the model calls tools. Streaming text goes out as `message.part.delta`
events and is saved at most every `part_flush_interval` seconds and when it ends. Retryable provider
errors are retried with exponential backoff and jitter, each announced as a `retry` session status.
Whatever ends the run (success, provider error, abort, deadline, crash of a tool) the run ends with
a stored assistant message, so every waiting caller gets `{info, parts}`.

The run's context: its system prompt (`wakeful.run.system`) is built once; what the model sees of
the session (`history.Conversation`) is loaded once and extended step by step; before each step the
request is estimated (`wakeful.run.tokens`) and, when it would not fit the usable window, the older
history is compacted first (`wakeful.run.compaction`). A provider's context-overflow error gets one
compaction and one retry of the step; a second overflow ends the run with ContextOverflowError. A
`json_schema` prompt ends when the model hands over a valid answer (`wakeful.run.structured`). Each
step offers the plan's tools plus what `RunPlan.more_tools` gives then (the project's MCP tools).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wakeful import ids
from wakeful.config import ServerConfig
from wakeful.errors import (
    APIError,
    ContextOverflowError,
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
from wakeful.run.compaction import CompactionSettings, Compactor, prunable, split
from wakeful.run.history import Conversation, Entry
from wakeful.run.manager import Executor, Reply, RunHandle, RunManager
from wakeful.run.options import CallOptions
from wakeful.run.retry import Retries
from wakeful.run.structured import NAME as STRUCTURED_OUTPUT
from wakeful.run.structured import StructuredOutput
from wakeful.run.system import SystemPrompts
from wakeful.run.tokens import fixed_tokens, message_tokens
from wakeful.run.toolcalls import ToolCalls
from wakeful.session.messages import MessageLog
from wakeful.telemetry.calls import AgentRun, ModelCall
from wakeful.tools.base import (
    PermissionGate,
    SubagentRunner,
    TodoStore,
    Tool,
    ToolContext,
    WebClients,
)
from wakeful.tools.output import KeptOutputs
from wakeful.tools.pool import ToolPool
from wakeful.tools.task import Subtask
from wakeful.wire.bodies import SubtaskPartInput
from wakeful.wire.messages import PART_ADAPTER, AssistantMessage, MessageWithParts, OutputFormatJsonSchema
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


Offer = tuple[dict[str, Tool], dict[str, PermissionRule]]  # tools to offer, tools a rule denies


@dataclass
class RunPlan:
    """Everything resolved before the run was accepted; `more_tools` gives, at each step, the tools
    to offer besides `tools` (an MCP server's, which may come and go during the run)."""

    session_id: str
    user_message_id: str
    directory: Path
    agent: Agent
    model: ModelChoice
    provider: Provider
    tools: dict[str, Tool]
    system: str | None = None  # the prompt's own system text
    variant: str | None = None
    output_format: OutputFormatJsonSchema | None = None
    compaction: CompactionSettings = field(default_factory=CompactionSettings)
    instructions: list[str] = field(default_factory=list)  # `instructions` of opencode.json
    compact_only: bool = False  # POST /summarize: the user message is a compaction request
    denied: dict[str, PermissionRule] = field(default_factory=dict)  # tools no call may use
    more_tools: Callable[[], Awaitable[Offer]] | None = None
    subtasks: list[SubtaskPartInput] = field(default_factory=list)  # run before the model is called


@dataclass(eq=False)
class _ProcessGroups:
    """The tool process groups a run has open, stored for crash recovery. Not a method of the loop:
    the tools' context holds it and the loop holds the context, and that cycle would keep every
    finished run's loop until the collector's next full pass."""

    runs: RunManager
    message_id: str
    pgids: set[int] = field(default_factory=set)

    async def __call__(self, pgid: int | None) -> None:
        if pgid is None:
            self.pgids.clear()
        else:
            self.pgids.add(pgid)
        await self.runs.record_processes(self.message_id, sorted(self.pgids))


class AgentLoop(Executor):
    def __init__(
        self,
        plan: RunPlan,
        log: MessageLog,
        runs: RunManager,
        todos: TodoStore,
        config: ServerConfig,
        child_env: dict[str, str],
        prompts: SystemPrompts,
        *,
        gate: PermissionGate | None,
        pool: ToolPool,
        outputs: KeptOutputs | None = None,
        web: WebClients | None = None,
        subagent: SubagentRunner | None = None,
    ):
        self.plan = plan
        self.log = log
        self.runs = runs
        self.config = config
        self.prompts = prompts
        self.assistant: AssistantMessage | None = None
        self.no_reply = False
        self.first_step = 0  # steps already stored: a run taken over from a stopped server goes on
        context = ToolContext(
            session_id=plan.session_id,
            message_id=plan.user_message_id,
            call_id="",
            directory=plan.directory,
            config=config,
            todos=todos,
            on_process=_ProcessGroups(runs, plan.user_message_id),
            env=child_env,
            gate=gate,
            pool=pool,
            outputs=outputs,
            web=web,
            subagent=subagent,
        )
        self.tools = dict(plan.tools)
        self.structured: StructuredOutput | None = None
        if plan.output_format is not None:
            self.structured = StructuredOutput(plan.output_format)
            self.tools[STRUCTURED_OUTPUT] = self.structured
        self.tool_calls = ToolCalls(log, self.tools, plan.agent.name, context, runs.metrics, plan.denied)
        self._own: Offer = (dict(self.tools), dict(plan.denied))  # offered whatever `more_tools` gives
        self._streaming: list[TextPart | ReasoningPart] = []  # parts of the attempt in flight
        # What the model sees, read from storage once per run and then extended step by step:
        # nothing else writes to a session while it runs, and a long run in a long session must not
        # re-read the whole session at every step.
        self.conversation: Conversation | None = None
        self._files: history.Files = {}  # the file:// parts of the conversation, read once
        self.system: list[str] = []
        self._fixed = 0  # estimated tokens of the system texts and tool definitions
        self._calibration = 1.0  # provider-counted / estimated prompt tokens, at least 1
        self._estimate = 0  # the uncalibrated estimate of the request in flight
        self._stepped: Entry | None = None  # the last step's message, as stored when it ended
        self.call_options = CallOptions.of(
            plan.model, plan.agent, plan.variant, plan.session_id, plan.compaction.reserved
        )
        self.window = self.call_options.window  # learns the size of an unknown window from an overflow

    # --- messages ---------------------------------------------------------------------------------

    def _answering(self) -> AssistantMessage:
        """A new assistant message of the run, not stored yet."""
        plan = self.plan
        message = AssistantMessage.answering(
            plan.session_id,
            plan.user_message_id,
            plan.model.provider.id,
            plan.model.model_id,
            plan.agent.name,
            str(plan.directory),
        )
        message.variant = plan.variant
        return message

    async def _new_assistant(self) -> AssistantMessage:
        message = self._answering()
        await self.log.put_message(message)
        self.assistant = message
        return message

    async def _reply(self, message: AssistantMessage, stored: Entry | None = None) -> Reply:
        """The answer `message` makes; `stored`: the message as read when its step ended, if
        nothing was written to it since (spares a read)."""
        if stored is not None and stored["info"]["id"] == message.id:
            return MessageWithParts.model_validate(stored).wire()
        return (await self.log.get(message.sessionID, message.id)).wire()

    async def fail(self, handle: RunHandle, error: RunError) -> Reply:
        message = self.assistant or await self._new_assistant()
        message.error = error.to_info()
        message.time.completed = now_ms()
        await self.log.put_message(message)
        return await self._reply(message)

    # --- the loop ---------------------------------------------------------------------------------

    async def run(self, handle: RunHandle) -> Reply:
        plan = self.plan
        with AgentRun(
            plan.agent.name, plan.session_id, plan.user_message_id, plan.model.provider.id, plan.model.model_id
        ) as traced:
            reply = await self._run(handle)
            traced.answered(reply["info"].get("error"))
            return reply

    async def _run(self, handle: RunHandle) -> Reply:
        if self.no_reply:
            return (await self.log.get(self.plan.session_id, self.plan.user_message_id)).wire()
        try:
            for task in self.plan.subtasks:
                await self._subtask(task)
            await self._prepare()
            if self.plan.compact_only:
                return await self._summarize()
            return await self._steps()
        except asyncio.CancelledError:
            if handle.lost:
                raise  # another server runs it now: nothing more is written from here
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

    async def _prepare(self) -> None:
        plan = self.plan
        view = await history.load(self.log, plan.session_id, plan.user_message_id)
        if view.reads_files:
            self._files = await history.read_files(view.entries, self.tool_calls.context)
        recent = self.log.recent
        self.conversation = view.conversation(
            self._files, lambda entry, make: recent.derived(plan.session_id, entry, make)
        )
        self.system = await self.prompts.build(
            directory=plan.directory,
            agent=plan.agent,
            api_model=plan.model.api_model,
            instructions=plan.instructions,
            structured=self.structured is not None,
            user_system=plan.system,
        )
        self._fixed = fixed_tokens(self.system, [t.definition for t in self.tools.values()])

    async def _steps(self) -> Reply:
        plan = self.plan
        step = self.first_step
        overflowed = False
        while True:
            step += 1
            await self._offer_more()
            await self._compact_to_fit()
            message = self._answering()
            try:
                finish, calls = await self._call(message, self._request(), stored=False)
            except ContextOverflowError:
                if overflowed or not plan.compaction.auto:
                    raise
                overflowed = True
                # The provider counts more than we estimated: believe it from now on.
                self._calibration *= 1.25
                self.window = self.window.learned(self._needed())
                await self._discard(message)
                await self._compact(auto=True, overflow=True)
                step -= 1
                continue
            overflowed = False
            if self.structured is not None:
                if await self._structured_answer(message, finish, calls):
                    await self._prune()
                    return await self._reply(message)
            if finish == "tool-calls" and calls and (plan.agent.steps is None or step < plan.agent.steps):
                continue
            if self.structured is not None:
                raise self.structured.give_up("The step limit was reached before a structured answer")
            await self._prune()  # writes older messages only, never this one
            return await self._reply(message, self._stepped)

    async def _structured_answer(self, message: AssistantMessage, finish: str, calls: list[ToolCall]) -> bool:
        """Whether the run has its structured answer (then stored in `message`); raises
        StructuredOutputError when it will not get one."""
        structured = self.structured
        assert structured is not None
        if not structured.answered and not calls:
            assert self.conversation is not None
            entry = self.conversation.entries[-1]  # `message`, as stored when its step ended
            text = "".join(p["text"] for p in entry["parts"] if p["type"] == "text")
            if not structured.from_text(text):
                raise structured.give_up("The model answered without calling StructuredOutput")
        if structured.answered:
            message.structured = structured.value
            await self.log.put_message(message)
            return True
        if structured.failures > structured.retries:
            raise structured.give_up("The structured answer never matched the schema")
        return False

    async def _offer_more(self) -> None:
        """Offer the next step the run's own tools and what `more_tools` gives now (an own tool
        keeps its name). In place: the run's ToolCalls holds these very mappings."""
        if self.plan.more_tools is None:
            return
        more, denied = await self.plan.more_tools()
        own, own_denied = self._own
        tools = {**more, **own}
        if tools != self.tools:
            self.tools.clear()
            self.tools.update(tools)
            self._fixed = fixed_tokens(self.system, [t.definition for t in self.tools.values()])
        self.plan.denied.clear()
        self.plan.denied.update({**denied, **own_denied})

    # --- the context window -----------------------------------------------------------------------

    def _needed(self) -> int:
        """The calibrated estimate of the next request's prompt tokens."""
        assert self.conversation is not None
        return math.ceil((self._fixed + self.conversation.tokens) * self._calibration)

    def _fits(self) -> bool:
        return not self.window.known or not self.plan.compaction.auto or self._needed() <= self.window.usable

    def _request(self) -> ChatRequest:
        assert self.conversation is not None
        plan = self.plan
        self._estimate = self._fixed + self.conversation.tokens
        return ChatRequest(
            model=plan.model.api_model,
            system=self.system,
            messages=self.conversation.chat(),
            tools=[t.definition for t in self.tools.values()],
            max_tokens=self.window.answer_room(self._needed(), self.call_options.thinking),
            temperature=self.call_options.temperature,
            top_p=self.call_options.top_p,
            options=self.call_options.options,
            tool_choice="required" if self.structured is not None else None,
        )

    async def _compact_to_fit(self) -> None:
        """Compact until the next request fits; ContextOverflowError once compacting stops helping."""
        while not self._fits():
            before = self._needed()
            await self._compact(auto=True, overflow=False)
            if self._needed() >= before:
                raise ContextOverflowError(
                    f"The request needs about {self._needed()} tokens, more than the {self.window.usable} "
                    "usable in the model's context window, even after compaction"
                )

    def _compactor(self) -> Compactor:
        plan = self.plan
        return Compactor(
            log=self.log,
            session_id=plan.session_id,
            directory=plan.directory,
            model=plan.model,
            agent=plan.agent.name,
            variant=plan.variant,
            window=self.window,
            options=self.call_options.summary_options,
            call=self._summary_call,
            files=self._files,
        )

    async def _summary_call(self, message: AssistantMessage, request: ChatRequest) -> str:
        self.assistant = message
        finish, _ = await self._call(message, request)
        return finish

    async def _compact(self, *, auto: bool, overflow: bool, request: Entry | None = None) -> Entry:
        """Summarise the conversation's older part; answers the summary message. `request` is the
        compaction request when one is already stored (POST /summarize)."""
        conversation = self.conversation
        assert conversation is not None
        plan = self.plan
        kept = [
            (e, size)
            for e, size in zip(conversation.entries, conversation.sizes, strict=True)
            if e is not request
        ]
        prompt = None  # the run's own prompt, shown again after the summary if it goes into it
        if request is None:
            prompt = next((e for e, _ in kept if e["info"]["id"] == plan.user_message_id), None)
        # What the view holds besides the tail and the summary, in uncalibrated tokens.
        fixed = self._fixed + (sum(message_tokens(m) for m in history.entry_chat(prompt, self._files)) if prompt else 0)
        head, tail = split(kept, plan.compaction, self.window, fixed, self._calibration)
        tail_id = tail[0]["info"]["id"] if tail else None
        compactor = self._compactor()
        if request is None:
            request = await compactor.request(auto=auto, overflow=overflow, tail_start_id=tail_id)
        else:
            part = history.compaction_part(request)
            if part is not None and tail_id is not None:
                # A copy: the stored entries are shared with the log's recent messages.
                changed = {**part, "tail_start_id": tail_id}
                request = {**request, "parts": [changed if p is part else p for p in request["parts"]]}
                await self.log.put_part(PART_ADAPTER.validate_python(changed))
        summary = await compactor.summarise(request, head)
        self.assistant = None  # a later failure is not the summary's
        conversation.replace(history.with_prompt([request, summary, *tail], prompt))
        return summary

    async def _summarize(self) -> Reply:
        assert self.conversation is not None
        request = next(e for e in self.conversation.entries if e["info"]["id"] == self.plan.user_message_id)
        summary = await self._compact(auto=False, overflow=False, request=request)
        return (await self.log.get(self.plan.session_id, summary["info"]["id"])).wire()

    async def _prune(self) -> None:
        if not self.plan.compaction.prune or self.conversation is None:
            return
        for part in prunable(self.conversation.entries, self.conversation.tokens):
            # A copy: the stored entries are shared with the log's recent messages.
            state = part["state"]
            pruned = {**state, "time": {**(state.get("time") or {}), "compacted": now_ms()}}
            await self.log.put_part(PART_ADAPTER.validate_python({**part, "state": pruned}))

    async def _discard(self, message: AssistantMessage) -> None:
        """Forget a step the provider refused before answering."""
        await self.log.delete(message.sessionID, message.id)
        self.assistant = None

    # --- one model call -----------------------------------------------------------------------------

    async def _call(
        self, message: AssistantMessage, request: ChatRequest, *, stored: bool = True
    ) -> tuple[str, list[ToolCall]]:
        """One model call as one step of `message` (stored with its step-start unless `stored`):
        step-start, the streamed answer, the tool calls it asks for, step-finish with its tokens and
        cost; the conversation gains the message. The streamed parts are closed before the tools
        run, else together with step-finish and the message's completion (one write)."""
        start = StepStartPart(id=ids.part_id(), sessionID=message.sessionID, messageID=message.id)
        started: dict[str, Any] | None = None  # the step-start as written with the message
        if stored:
            await self.log.put_part(start)
        else:
            started = (await self.log.put_all(message, start))[1]
            self.assistant = message
        finish, calls, usage = await self._stream_with_retries(message, request)
        step = request.purpose == "step"
        if step:
            if calls:
                await self._close_parts(self._streaming)
            await self.tool_calls.run(message.sessionID, message.id, calls)
        tokens = step_tokens(usage)
        if step and self._estimate:
            prompt = usage.input + usage.cache_read + usage.cache_write
            self._calibration = max(1.0, prompt / self._estimate) if prompt else self._calibration
        cost = self._cost(usage)
        ended = self._ending(self._streaming)
        finished = StepFinishPart(
            id=ids.part_id(),
            sessionID=message.sessionID,
            messageID=message.id,
            reason=finish,
            cost=cost,
            tokens=tokens,
        )
        message.tokens, message.cost, message.finish = tokens, cost, finish
        message.time.completed = now_ms()
        *_, ending, info = await self.log.put_all(*ended, finished, message)
        if step:
            if started is None or calls:
                done = await self.log.get_raw(message.sessionID, message.id)
            else:  # nobody else writes to a step without tools: the message is what this wrote
                done = {"info": info, "parts": [started, *(p.wire() for p in self._streaming), ending]}
            self._stepped = done
            if done is not None and self.conversation is not None:
                self.conversation.append(done)
        return finish, calls

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
            call = ModelCall(
                self.runs.metrics,
                self.plan.model.provider.id,
                self.plan.model.model_id,
                self.plan.session_id,
                request.temperature,
            )
            try:
                with call:
                    return await self._stream(message, request, streamed, call)
            except APIError as exc:
                await self._close_parts(streamed)
                delay = retries.next_delay(exc)
                if delay is None:
                    raise
                call.retried()
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
        self,
        message: AssistantMessage,
        request: ChatRequest,
        streamed: list[TextPart | ReasoningPart],
        call: ModelCall,
    ) -> tuple[str, list[ToolCall], Usage]:
        finish, calls, usage = "stop", [], Usage()
        current: TextPart | ReasoningPart | None = None
        last_flush = time.monotonic()
        async for event in self.plan.provider.stream(request):
            if not isinstance(event, Usage | Finish):
                call.streamed()
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
        if calls and finish == "stop":
            finish = "tool-calls"
        call.finished(finish, usage.input, usage.output, usage.cache_read, usage.cache_write)
        return finish, calls, usage

    async def _close_parts(self, parts: list[TextPart | ReasoningPart]) -> None:
        if ended := self._ending(parts):
            await self.log.put_all(*ended)

    @staticmethod
    def _ending(parts: list[TextPart | ReasoningPart]) -> list[TextPart | ReasoningPart]:
        """The parts still open, given their end time now (to be written)."""
        ended: list[TextPart | ReasoningPart] = []
        for part in parts:
            if part.time is not None and part.time.end is None:
                part.time.end = now_ms()
                ended.append(part)
        return ended

