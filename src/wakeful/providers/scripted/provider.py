"""The scripted provider: a model that plays the script of the prompt in-process, without a network.

What the HTTP-only directives mean here:

- DELAY, DRIP: asyncio.sleep.
- ERROR: the error an HTTP adapter raises for that status (`error_for_status`), RETRY_AFTER included.
- OVERFLOW: the ContextOverflowError an adapter raises for OpenAI's context-overflow answer.
- BREAK n, TRUNCATE n: n stream events (text, reasoning and tool-call events), then the retryable
  "stream cut" APIError an adapter raises for a stream that ends without a finish.
- SILENT: nothing until the provider's silence limit, then ProviderSilenceError (or, if `silent`
  is released first, the answer).
- HOLD, HOLD_BEFORE: wait until the key is released with `release(key)`; `await held(key)`
  returns once a stream is waiting there, so tests wait on events, never on clocks.

Every stream is recorded in `requests`; `count(script)` says how many carried a script (the
ERROR and BREAK counts are per script, as in the fake LLM of the test suite). A request made for a
compaction summary (`ChatRequest.purpose`) is answered with `summary_text` of the conversation
before the request's own instruction. Without USAGE, the input tokens reported are a quarter of the
characters of everything the request carries (system, messages, tool calls, tool definitions).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from wakeful.errors import APIError, ContextOverflowError, ProviderAuthError, ProviderSilenceError
from wakeful.providers.base import (
    ChatMessage,
    ChatRequest,
    Finish,
    Provider,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)
from wakeful.providers.http import (
    ANTHROPIC_STOP,
    OPENAI_FINISH,
    error_for_status,
    incomplete_stream,
)
from wakeful.providers.scripted.language import (
    OVERFLOW_BODIES,
    OVERFLOW_STATUS,
    Plan,
    Said,
    Script,
    error_message,
    make_plan,
    parse_script,
    read_conversation,
    summary_text,
)

FINISH_REASONS = {"stop", "tool-calls", "length", "content-filter", "other"}


@dataclass(frozen=True)
class Received:
    """One stream the provider was asked for."""

    request: ChatRequest
    script: str
    step: int


class ScriptedProvider(Provider):
    """A model that plays scripts. Counts, gates and the request log belong to the instance: the
    server keeps one per provider configuration, as it does an HTTP client."""

    def __init__(self, provider_id: str, *, silence_timeout: float) -> None:
        self.id = provider_id
        self._silence = silence_timeout
        self._url = f"scripted://{provider_id}"
        self._requests: list[Received] = []
        self._counts: Counter[str] = Counter()
        self._released: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._hits: Counter[str] = Counter()
        self._arrived = asyncio.Condition()

    # --- control -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        return list(self._requests)

    def count(self, script: str) -> int:
        """How many streams carried this script text."""
        return self._counts[script]

    def release(self, key: str) -> None:
        """Let every stream waiting on `key` go on; later ones pass through until reset()."""
        self._released[key].set()

    async def held(self, key: str, count: int = 1) -> None:
        """Return once `count` streams have reached the HOLD / HOLD_BEFORE / SILENT point `key`."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: self._hits[key] >= count)

    def reset(self) -> None:
        self._requests.clear()
        self._counts.clear()
        self._hits.clear()
        for gate in self._released.values():
            gate.clear()  # not dropped: a stream waiting on it must still see a later release

    async def aclose(self) -> None:
        """Nothing to release: a stream waiting on a key ends when its consumer is cancelled."""

    # --- the model ---------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        said = [_said(m) for m in request.messages]
        summarising = request.purpose == "summary"
        turn = read_conversation(said[:-1] if summarising else said)
        script = parse_script(turn.script)
        self._counts[turn.script] += 1
        nth = self._counts[turn.script]
        self._requests.append(Received(request, turn.script, turn.step))
        if script.hold_before:
            await self._park(script.hold_before)
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.errs(nth):
            raise self._error(script)
        if script.overflows(nth):
            body = json.dumps(OVERFLOW_BODIES["openai"])
            raise error_for_status(self.id, OVERFLOW_STATUS, body, [], self._url)
        if script.silent:
            try:
                async with asyncio.timeout(self._silence):
                    await self._park("silent")
            except TimeoutError:
                raise ProviderSilenceError(self._silence, metadata={"url": self._url}) from None
        if summarising:
            answer = Script(text=turn.script, reply=summary_text(turn))
            plan = make_plan(answer, 0, "", request_chars(request))
        else:
            plan = make_plan(script, turn.step, turn.tool_result, request_chars(request))
        cut = script.truncate
        if script.cut and script.cuts(nth):
            cut = script.cut[0] if cut is None else min(cut, script.cut[0])
        sent = 0
        for event in _content(plan):
            if sent == cut:
                raise incomplete_stream(self._url)
            if script.drip and isinstance(event, TextDelta) and sent > len(plan.reasoning):
                await asyncio.sleep(script.drip[1])
            yield event
            sent += 1
            if script.hold and sent == 1:
                await self._park(script.hold)
        if cut is not None:
            raise incomplete_stream(self._url)
        uncached, output, cached, reasoning = plan.usage
        yield Usage(input=uncached, output=output, reasoning=reasoning, cache_read=cached)
        yield Finish(_finish(script, plan))

    def _error(self, script: Script) -> APIError | ProviderAuthError | ContextOverflowError:
        assert script.error is not None
        status = script.error[0]
        body = json.dumps({"error": {"message": error_message(status)}})
        headers = [("retry-after", script.retry_after)] if script.retry_after else []
        return error_for_status(self.id, status, body, headers, self._url)

    async def _park(self, key: str) -> None:
        async with self._arrived:
            self._hits[key] += 1
            self._arrived.notify_all()
        await self._released[key].wait()


def _said(m: ChatMessage) -> Said:
    if m.role == "tool":
        return Said("tool", m.text)
    return Said(m.role, m.text or None)


def request_chars(request: ChatRequest) -> int:
    """The characters of everything a request carries, as a tokenizer would see them."""
    chars = sum(len(s) for s in request.system)
    for m in request.messages:
        chars += len(m.text) + len(m.reasoning)
        chars += sum(len(c.name) + len(c.arguments) for c in m.tool_calls)
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description) + len(json.dumps(tool.parameters))
    return chars


def _content(plan: Plan) -> list[StreamEvent]:
    events: list[StreamEvent] = [ReasoningDelta(r) for r in plan.reasoning]
    events += [TextDelta(t) for t in plan.text]
    events += [ToolCallEvent(ToolCall(cid, name, "".join(pieces))) for cid, name, pieces in plan.calls]
    return events


def _finish(script: Script, plan: Plan) -> str:
    if script.finish is None:
        return "tool-calls" if plan.calls else "stop"
    if script.finish in FINISH_REASONS:
        return script.finish
    return OPENAI_FINISH.get(script.finish) or ANTHROPIC_STOP.get(script.finish) or "other"
