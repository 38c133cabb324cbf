"""OpenTelemetry tracing: off until the standard `OTEL_*` variables turn it on.

`setup(environ)` reads the variables of the environment it is given (the server passes
`ServerConfig.environ`, never os.environ) and, only if they ask for traces, imports the SDK and the
OTLP exporter and starts one `TracerProvider` for the process; `shutdown()` flushes and stops it.
It is not registered as OpenTelemetry's global provider: wakeful's spans go through the helpers
below, and tests can set tracing up and tear it down again in one process.

The helpers are what the other layers call, and cost a function call and a `None` check while
tracing is off: `span()` hands back a shared do-nothing span, `inject()` adds nothing. Spans follow
the W3C trace context: `incoming()` continues the trace of a request's `traceparent`, `inject()`
sends the current one on (to the model providers, MCP servers, fetched URLs).

Tracing is on when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`), or when it is unset
and an OTLP endpoint is (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); never
with `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. docs/observability.md lists the
variables read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

from wakeful.errors import StartupError
from wakeful.version import __version__

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.propagators.textmap import TextMapPropagator
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.trace import Span as OTelSpan
    from opentelemetry.trace import Tracer

Kind = Literal["internal", "server", "client"]
Attributes = Mapping[str, str | bool | int | float | list[str]]

# The trace-context headers a request may carry; only these are read from it.
CONTEXT_HEADERS = (b"traceparent", b"tracestate", b"baggage")


class Span:
    """A span as the other layers see it. This base is the span of tracing off: it records nothing,
    and `recording` lets a caller skip building attributes no one will read."""

    @property
    def recording(self) -> bool:
        return False

    def set(self, key: str, value: str | bool | int | float | list[str]) -> None:
        pass

    def update(self, attributes: Attributes) -> None:
        pass

    def rename(self, name: str) -> None:
        pass

    def fail(self, error_type: str, description: str | None = None) -> None:
        """Mark the span failed: `error.type` and an error status."""


class _Recording(Span):
    def __init__(self, span: OTelSpan) -> None:
        self._span = span

    @property
    def recording(self) -> bool:
        return self._span.is_recording()  # False for a span the sampler dropped

    def set(self, key: str, value: str | bool | int | float | list[str]) -> None:
        self._span.set_attribute(key, value)

    def update(self, attributes: Attributes) -> None:
        self._span.set_attributes(attributes)

    def rename(self, name: str) -> None:
        self._span.update_name(name)

    def fail(self, error_type: str, description: str | None = None) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._span.set_attribute("error.type", error_type)
        self._span.set_status(Status(StatusCode.ERROR, description))


_OFF: AbstractContextManager[Span] = nullcontext(Span())


@dataclass(frozen=True)
class _Tracing:
    provider: TracerProvider
    tracer: Tracer
    propagator: TextMapPropagator
    kinds: Mapping[Kind, Any]  # ours -> opentelemetry.trace.SpanKind


_on: _Tracing | None = None


def enabled() -> bool:
    return _on is not None


def span(
    name: str, *, kind: Kind = "internal", parent: Context | None = None
) -> AbstractContextManager[Span]:
    """A span, current inside the `with` block: a child of `parent` if given, else of the current
    span. An exception that escapes the block marks it failed (cancellation does not)."""
    if _on is None:
        return _OFF
    return _active(_on, name, kind, parent)


@contextmanager
def _active(on: _Tracing, name: str, kind: Kind, parent: Context | None) -> Iterator[Span]:
    with on.tracer.start_as_current_span(name, context=parent, kind=on.kinds[kind]) as s:
        yield _Recording(s)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context (`traceparent`, `tracestate`, `baggage`) to outgoing headers."""
    if _on is not None:
        _on.propagator.inject(headers)


def incoming(headers: Iterable[tuple[bytes, bytes]]) -> Context | None:
    """The trace context an ASGI request's headers carry (None while tracing is off)."""
    if _on is None:
        return None
    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k in CONTEXT_HEADERS}
    return _on.propagator.extract(carrier)


def current_ids() -> tuple[str, str] | None:
    """The current span's trace id and span id in hex, for log lines; None without one."""
    if _on is None:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


# --- set-up -----------------------------------------------------------------------------------------


def exporters_named(environ: Mapping[str, str]) -> list[str]:
    """The trace exporters the environment asks for; empty means tracing stays off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if not named:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    chosen = [n.strip().lower() for n in named.split(",") if n.strip()]
    return [] if "none" in chosen else chosen


def setup(environ: Mapping[str, str], *, exporter: SpanExporter | None = None) -> bool:
    """The tracing `environ` asks for, in place of any set up before; True if it is on. `exporter`
    replaces the exporters the environment names (tests pass an in-memory one), but the environment
    still decides whether tracing is on. Raises StartupError for a value the SDK cannot use."""
    global _on
    names = exporters_named(environ)
    if not names:
        shutdown()
        return False
    from opentelemetry import trace
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    exporters = [exporter] if exporter is not None else [_exporter(n, environ) for n in names]
    provider = TracerProvider(resource=Resource(_resource(environ)), sampler=_sampler(environ))
    for chosen in exporters:
        provider.add_span_processor(BatchSpanProcessor(chosen, **_batch_options(environ)))
    shutdown()
    _on = _Tracing(
        provider=provider,
        tracer=provider.get_tracer("wakeful", __version__),
        propagator=CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()]),
        kinds={
            "internal": trace.SpanKind.INTERNAL,
            "server": trace.SpanKind.SERVER,
            "client": trace.SpanKind.CLIENT,
        },
    )
    return True


def shutdown() -> None:
    """Export what is buffered and stop tracing (the helpers are no-ops again)."""
    global _on
    on, _on = _on, None
    if on is not None:
        on.provider.shutdown()


def describe(environ: Mapping[str, str]) -> str:
    """Where spans go, for the start-up log line."""
    parts = []
    for name in exporters_named(environ):
        if name == "otlp":
            parts.append(f"otlp http/protobuf to {_endpoint(environ)}")
        else:
            parts.append(name)
    return ", ".join(parts)


def _signal(environ: Mapping[str, str], key: str) -> str | None:
    """An OTLP exporter setting: the traces-specific variable, else the general one."""
    return environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{key}") or environ.get(f"OTEL_EXPORTER_OTLP_{key}") or None


def _endpoint(environ: Mapping[str, str]) -> str:
    specific = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if specific:
        return specific
    # The general endpoint is a base URL: the signal's path is appended to it.
    return (environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318").rstrip("/") + "/v1/traces"


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise StartupError(f"OTEL_TRACES_EXPORTER={name!r}: wakeful exports traces with otlp or console")
    protocol = _signal(environ, "PROTOCOL") or "http/protobuf"
    if protocol != "http/protobuf":
        raise StartupError(
            f"{_signal_name(environ, 'PROTOCOL')}={protocol!r}: wakeful exports OTLP over HTTP "
            "(http/protobuf); point the endpoint at the collector's HTTP port (4318)"
        )
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.util.re import parse_env_headers

    compression = _signal(environ, "COMPRESSION")
    try:
        return OTLPSpanExporter(
            endpoint=_endpoint(environ),
            certificate_file=_signal(environ, "CERTIFICATE"),
            headers=dict(parse_env_headers(_signal(environ, "HEADERS") or "", liberal=True)),
            timeout=_number(environ, _signal_name(environ, "TIMEOUT"), 10_000) / 1000,
            compression=Compression(compression) if compression else None,
        )
    except ValueError as exc:  # an unknown compression
        raise StartupError(f"{_signal_name(environ, 'COMPRESSION')}={compression!r}: {exc}") from None


def _signal_name(environ: Mapping[str, str], key: str) -> str:
    specific = f"OTEL_EXPORTER_OTLP_TRACES_{key}"
    return specific if environ.get(specific) else f"OTEL_EXPORTER_OTLP_{key}"


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise StartupError(f"{name}={raw!r}: not a number") from None


# The batch processor's settings, with the specification's defaults.
_BATCH = {
    "max_queue_size": ("OTEL_BSP_MAX_QUEUE_SIZE", 2048),
    "schedule_delay_millis": ("OTEL_BSP_SCHEDULE_DELAY", 5000),
    "max_export_batch_size": ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512),
    "export_timeout_millis": ("OTEL_BSP_EXPORT_TIMEOUT", 30000),
}


def _batch_options(environ: Mapping[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {k: _number(environ, name, default) for k, (name, default) in _BATCH.items()}
    options["max_queue_size"] = int(options["max_queue_size"])
    options["max_export_batch_size"] = int(options["max_export_batch_size"])
    return options


def _resource(environ: Mapping[str, str]) -> dict[str, str]:
    """`OTEL_RESOURCE_ATTRIBUTES` (`key=value,...`, values percent-encoded), then `OTEL_SERVICE_NAME`."""
    attributes = {"service.name": "wakeful", "service.version": __version__}
    for item in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = unquote(value.strip())
    if environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = environ["OTEL_SERVICE_NAME"]
    return attributes


_SAMPLERS = ("always_on", "always_off", "traceidratio")


def _sampler(environ: Mapping[str, str]) -> Sampler:
    """`OTEL_TRACES_SAMPLER` (default `parentbased_always_on`) and `OTEL_TRACES_SAMPLER_ARG`."""
    from opentelemetry.sdk.trace import sampling

    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() or "parentbased_always_on"
    base = name.removeprefix("parentbased_")
    if base not in _SAMPLERS:
        raise StartupError(f"OTEL_TRACES_SAMPLER={name!r}: not a sampler wakeful knows")
    root: Sampler
    if base == "traceidratio":
        root = sampling.TraceIdRatioBased(_number(environ, "OTEL_TRACES_SAMPLER_ARG", 1.0))
    else:
        root = sampling.ALWAYS_ON if base == "always_on" else sampling.ALWAYS_OFF
    return sampling.ParentBased(root) if base != name else root
