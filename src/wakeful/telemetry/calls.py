"""An agent run, a model call and a tool call as the telemetry records them: one span each, named
and described as OpenTelemetry's GenAI semantic conventions say (`invoke_agent {agent}`,
`chat {model}`, `execute_tool {tool}`), and the metrics of the calls, recorded when they end.

The run layer wraps each in a `with` block. Inside it the span is the current one, so what the call
does (the provider's HTTP request, a tool's) is its child and carries its trace context. With
tracing off only the metrics are recorded, and no span attributes are built.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Literal, Self

from wakeful.telemetry import tracing
from wakeful.telemetry.metrics import Metrics

ToolOutcome = Literal["success", "error", "invalid", "denied", "aborted"]


class _Call:
    """A span around a `with` block, current inside it."""

    span: tracing.Span = tracing.Span()
    _scope: AbstractContextManager[tracing.Span]
    _started: float

    def __init__(self, name: str, kind: tracing.Kind = "internal") -> None:
        self._name = name
        self._kind: tracing.Kind = kind

    def _attributes(self) -> tracing.Attributes:
        raise NotImplementedError

    def _ended(self, exc: BaseException | None) -> None:
        pass

    def __enter__(self) -> Self:
        self._started = time.perf_counter()
        self._scope = tracing.span(self._name, kind=self._kind)
        self.span = self._scope.__enter__()
        if self.span.recording:
            self.span.update(self._attributes())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._ended(exc)
        finally:
            self._scope.__exit__(kind, exc, tb)


class AgentRun(_Call):
    """One prompt's run by an agent: the parent of its model calls and tool calls."""

    def __init__(self, agent: str, session_id: str, message_id: str, provider: str, model: str) -> None:
        super().__init__(f"invoke_agent {agent}")
        self._facts = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent,
            "gen_ai.conversation.id": session_id,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "wakeful.message.id": message_id,
        }

    def _attributes(self) -> tracing.Attributes:
        return self._facts

    def answered(self, error: dict[str, object] | None) -> None:
        """The run's answer is stored; `error` is its `info.error`, if it ended with one."""
        if error is not None:
            data = error.get("data")
            message = data.get("message") if isinstance(data, dict) else None
            self.span.fail(str(error.get("name")), str(message) if message else None)


class ModelCall(_Call):
    """One request to a model (one attempt: a retry is another call)."""

    def __init__(
        self, metrics: Metrics, provider: str, model: str, session_id: str, temperature: float | None = None
    ) -> None:
        super().__init__(f"chat {model}", "client")
        self._metrics = metrics
        self._labels = (provider, model)
        self._session_id = session_id
        self._temperature = temperature
        self._first_token = False

    def _attributes(self) -> tracing.Attributes:
        provider, model = self._labels
        facts: dict[str, str | float] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.conversation.id": self._session_id,
        }
        if self._temperature is not None:
            facts["gen_ai.request.temperature"] = self._temperature
        return facts

    def streamed(self) -> None:
        """Something arrived on the stream: the first time, that is the time to first token."""
        if not self._first_token:
            self._first_token = True
            self._metrics.llm_first_token.labels(*self._labels).observe(time.perf_counter() - self._started)

    def finished(self, reason: str, input: int, output: int, cache_read: int, cache_write: int) -> None:
        """The stream ended with `reason` and the provider's token counts (`input` uncached)."""
        for kind, count in (
            ("input", input),
            ("output", output),
            ("cache_read", cache_read),
            ("cache_write", cache_write),
        ):
            if count:
                self._metrics.llm_tokens.labels(*self._labels, kind).inc(count)
        if self.span.recording:
            self.span.update(
                {
                    "gen_ai.response.finish_reasons": [reason],
                    "gen_ai.usage.input_tokens": input + cache_read + cache_write,
                    "gen_ai.usage.output_tokens": output,
                }
            )

    def retried(self) -> None:
        """The call failed and will be made again."""
        self._metrics.llm_retries.labels(*self._labels).inc()

    def _ended(self, exc: BaseException | None) -> None:
        self._metrics.llm_duration.labels(*self._labels).observe(time.perf_counter() - self._started)
        if exc is None:
            outcome = "success"
        elif isinstance(exc, asyncio.CancelledError):
            outcome = "aborted"
        else:
            outcome = type(exc).__name__
            self.span.set("error.type", outcome)
        self._metrics.llm_requests.labels(*self._labels, outcome).inc()


class ToolExecution(_Call):
    """One tool call of a model, from its arguments to its stored result. The caller sets `outcome`
    (and `error`) before the block ends; cancellation makes it "aborted"."""

    def __init__(self, metrics: Metrics, tool: str, call_id: str, known: bool) -> None:
        super().__init__(f"execute_tool {tool}")
        self._metrics = metrics
        self._tool = tool
        # A model may name any tool: only the agent's own tools become label values.
        self._label = tool if known else "unknown"
        self._call_id = call_id
        self.outcome: ToolOutcome = "success"
        self.error: str | None = None

    def _attributes(self) -> tracing.Attributes:
        return {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": self._tool,
            "gen_ai.tool.call.id": self._call_id,
            "gen_ai.tool.type": "function",
        }

    def _ended(self, exc: BaseException | None) -> None:
        if isinstance(exc, asyncio.CancelledError):
            self.outcome = "aborted"
        elif exc is not None:
            self.outcome = "error"
        elapsed = time.perf_counter() - self._started
        self._metrics.tool_duration.labels(self._label, self.outcome).observe(elapsed)
        if self.outcome in ("error", "invalid"):
            self.span.fail(self.outcome, self.error)
