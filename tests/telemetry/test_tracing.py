"""Tracing set-up from the `OTEL_*` variables of a given environment: off unless they ask, the SDK
imported only then, the helpers doing nothing while off, and a real OTLP/HTTP export (to a receiver
in this process) carrying the configured endpoint, headers, resource and sampler."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from wakeful.errors import StartupError
from wakeful.telemetry import tracing


@pytest.fixture(autouse=True)
def _stopped() -> Iterator[None]:
    yield
    tracing.shutdown()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, []),
        ({"PATH": "/usr/bin", "OTEL_SERVICE_NAME": "x"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
    ],
)
def test_tracing_is_off_until_the_environment_asks(environ: dict[str, str], expected: list[str]) -> None:
    assert tracing.exporters_named(environ) == expected


def test_while_off_the_helpers_do_nothing() -> None:
    assert not tracing.setup({"HOME": "/root"})
    assert not tracing.enabled()
    with tracing.span("anything", kind="server") as span:
        assert not span.recording
        span.update({"a": 1})
        span.fail("error")
    headers: dict[str, str] = {}
    tracing.inject(headers)
    assert headers == {}
    assert (
        tracing.incoming([(b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")])
        is None
    )
    assert tracing.current_ids() is None


def test_the_sdk_is_imported_only_when_tracing_is_set_up() -> None:
    script = (
        "import sys; import wakeful.server.app; from wakeful.telemetry import tracing\n"
        "tracing.setup({'PATH': '/usr/bin'})\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('opentelemetry.') "
        "and m.split('.')[1] in ('sdk', 'exporter')}))\n"
        "tracing.setup({'OTEL_TRACES_EXPORTER': 'console'})\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('opentelemetry.') "
        "and m.split('.')[1] in ('sdk', 'exporter')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "['sdk']"]


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER='zipkin'"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "(4318)"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": "sometimes"},
            "OTEL_TRACES_SAMPLER='sometimes'",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_BSP_SCHEDULE_DELAY": "soon"},
            "OTEL_BSP_SCHEDULE_DELAY='soon'",
        ),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_COMPRESSION": "zip"}, "COMPRESSION='zip'"),
    ],
)
def test_a_value_the_sdk_cannot_use_stops_start_up(environ: dict[str, str], complaint: str) -> None:
    with pytest.raises(StartupError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        tracing.setup(environ)
    assert not tracing.enabled()


class Receiver:
    """An OTLP/HTTP trace receiver on loopback: what each export request carried."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], ExportTraceServiceRequest]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                message = ExportTraceServiceRequest()
                message.ParseFromString(body)
                receiver.requests.append(
                    (self.path, {k.lower(): v for k, v in self.headers.items()}, message)
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_spans_are_exported_over_otlp_http_as_the_variables_say(receiver: Receiver) -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=s3cret,x-team=platform%20ops",
        "OTEL_SERVICE_NAME": "wakeful-ci",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci,service.name=overridden",
    }
    assert tracing.setup(environ)
    assert tracing.describe(environ) == f"otlp http/protobuf to {receiver.url}/v1/traces"
    with tracing.span("outer") as outer:
        outer.set("k", "v")
        with tracing.span("inner", kind="client"):
            assert tracing.current_ids() is not None
            sent: dict[str, str] = {}
            tracing.inject(sent)
    tracing.shutdown()  # exports what is buffered

    [(path, headers, message)] = receiver.requests
    assert path == "/v1/traces"
    assert headers["x-api-key"] == "s3cret" and headers["x-team"] == "platform ops"
    [resource_spans] = message.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "wakeful-ci"
    assert resource["deployment.environment"] == "ci"
    spans = {s.name: s for scope in resource_spans.scope_spans for s in scope.spans}
    assert set(spans) == {"outer", "inner"}
    assert spans["inner"].parent_span_id == spans["outer"].span_id
    version, trace_id, span_id, flags = sent["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", spans["inner"].trace_id.hex(), spans["inner"].span_id.hex())
    assert int(flags, 16) & 1  # sampled


def test_the_sampler_comes_from_the_environment() -> None:
    assert tracing.setup({"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "always_off"})
    with tracing.span("dropped") as span:
        assert not span.recording
    assert tracing.setup(
        {
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0",
        }
    )
    sampled = tracing.incoming([(b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")])
    with tracing.span("root") as root:
        assert not root.recording  # a ratio of 0 samples no new trace
    with tracing.span("continued", parent=sampled) as child:
        assert child.recording  # but follows a sampled parent
