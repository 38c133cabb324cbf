"""OpenTelemetry traces of a prompt: set up as the `OTEL_*` variables set it up (with the SDK's
in-memory exporter in place of OTLP), the HTTP call continues the client's `traceparent`, the run,
each model call and each tool call are its descendants, and the model call's trace context goes on
to the provider's HTTP request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.support.fakellm import FakeLLM
from tests.support.http import prompt_body, tool
from tests.support.inproc import InProcess, create_session, messages, ok, running, server_config
from tests.support.server import write_project_config
from tests.support.warm import warm_process
from wakeful.telemetry import tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
ENVIRON = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SERVICE_NAME": "wakeful-under-test"}


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_process()


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.setup(ENVIRON, exporter=exporter)
    yield exporter
    tracing.shutdown()


async def finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The spans of the client's trace, once everything buffered is exported (by the processor's
    thread, which the shutdown joins: off the loop)."""
    await asyncio.to_thread(tracing.shutdown)
    return [
        s
        for s in exporter.get_finished_spans()
        if s.context is not None and f"{s.context.trace_id:032x}" == TRACE_ID
    ]


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


async def test_a_prompt_with_one_tool_call_is_a_span_tree_under_the_clients_span(
    wakeful: InProcess, exported: InMemorySpanExporter
) -> None:
    client = wakeful.client
    notes = wakeful.project / "notes.txt"
    notes.write_text("hello\n")
    sid = await create_session(client)
    script = f"{tool('read', filePath=str(notes))}\nUSAGE 40 3\nREPLY done"
    reply = ok(
        await client.post(
            f"/session/{sid}/message", json=prompt_body(script), headers={"traceparent": TRACEPARENT}
        )
    )
    stored = await messages(client, sid)
    [tool_part] = [p for m in stored for p in m["parts"] if p["type"] == "tool"]
    spans = await finished(exported)

    [http] = [s for s in spans if s.parent is not None and s.parent.span_id == int(CLIENT_SPAN, 16)]
    assert http.parent is not None and http.parent.is_remote
    assert http.name == "POST /session/{sessionID}/message"
    assert http.kind == SpanKind.SERVER
    assert http.attributes is not None
    assert http.attributes["http.route"] == "/session/{sessionID}/message"
    assert http.attributes["http.response.status_code"] == 200
    assert http.attributes["wakeful.message.id"] == reply["info"]["parentID"]
    assert http.resource.attributes["service.name"] == "wakeful-under-test"

    [agent] = children(spans, http)
    assert agent.name == "invoke_agent build"
    assert agent.attributes is not None and agent.attributes["gen_ai.conversation.id"] == sid

    steps = sorted(children(spans, agent), key=lambda s: s.start_time or 0)
    assert [s.name for s in steps] == ["chat mock-model", "execute_tool read", "chat mock-model"]
    first_chat, read, last_chat = steps
    assert first_chat.kind == SpanKind.CLIENT
    assert first_chat.attributes is not None and last_chat.attributes is not None
    assert first_chat.attributes["gen_ai.response.finish_reasons"] == ("tool-calls",)
    assert last_chat.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert last_chat.attributes["gen_ai.usage.input_tokens"] == 40
    assert last_chat.attributes["gen_ai.usage.output_tokens"] == 3
    assert read.attributes is not None
    assert read.attributes["gen_ai.tool.call.id"] == tool_part["callID"]
    assert read.attributes["gen_ai.tool.name"] == "read"
    # the whole trace: nothing else, nothing detached
    assert len(spans) == 5


async def test_a_failing_tool_call_marks_its_span(wakeful: InProcess, exported: InMemorySpanExporter) -> None:
    sid = await create_session(wakeful.client)
    script = f"{tool('read', filePath='missing.txt')}\nREPLY done"
    ok(
        await wakeful.client.post(
            f"/session/{sid}/message", json=prompt_body(script), headers={"traceparent": TRACEPARENT}
        )
    )
    [read] = [s for s in await finished(exported) if s.name == "execute_tool read"]
    assert read.attributes is not None and read.attributes["error.type"] == "error"
    assert not read.status.is_ok


async def test_the_model_call_sends_its_trace_context_to_the_provider(
    tmp_path: Path, fake_llm: FakeLLM, exported: InMemorySpanExporter
) -> None:
    project = tmp_path / "over-http"
    project.mkdir()
    write_project_config(project, fake_llm.url)
    async with running(server_config(tmp_path / "data", project)) as app:
        sid = await create_session(app.client)
        ok(
            await app.client.post(
                f"/session/{sid}/message", json=prompt_body("REPLY hi"), headers={"traceparent": TRACEPARENT}
            )
        )
    [request] = fake_llm.requests
    sent = {k.lower(): v for k, v in request.headers.items()}["traceparent"]
    [chat] = [s for s in await finished(exported) if s.name == "chat mock-model"]
    assert chat.context is not None
    assert sent == f"00-{TRACE_ID}-{chat.context.span_id:016x}-01"


async def test_without_otel_variables_nothing_is_traced_or_sent(tmp_path: Path, fake_llm: FakeLLM) -> None:
    assert not tracing.setup({"PATH": "/usr/bin"})
    assert not tracing.enabled()
    project = tmp_path / "untraced"
    project.mkdir()
    write_project_config(project, fake_llm.url)
    async with running(server_config(tmp_path / "data", project)) as app:
        sid = await create_session(app.client)
        response = await app.client.post(
            f"/session/{sid}/message", json=prompt_body("REPLY hi"), headers={"traceparent": TRACEPARENT}
        )
        assert isinstance(response, httpx.Response) and response.status_code == 200
    [request] = fake_llm.requests
    assert "traceparent" not in {k.lower() for k in request.headers}
