"""wakeful's Prometheus metrics: every metric defined once, here, with its help text.

Each `Runtime` owns one `Metrics`, and with it its own `CollectorRegistry` rather than
prometheus_client's process-wide default: two servers in one process (the tests, an embedder) never
add to each other's numbers, a test reads exactly its own runtime's values, and `GET /metrics`
shows wakeful's metrics plus the process collector, nothing another library registered.

Gauges of things the run manager or the event bus already count (runs running, queued runs,
subscribers, draining) are callbacks that those owners bind, read at scrape time: keeping them costs
nothing per run. docs/observability.md lists every name and label; a test keeps that list true.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector

from wakeful.version import OPENCODE_VERSION, __version__

# Bucket bounds, in seconds, for what each histogram times: most HTTP answers take milliseconds but
# a held call lasts as long as its run; a tool call or a model call may take minutes, a run an hour;
# a keep-alive byte should be late by milliseconds at most.
HTTP = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)
MODEL = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
TOOL = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
RUN = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
LATENESS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# The methods an HTTP metric names; any other is counted as "other" so that a client cannot grow
# the label set.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The metrics of one runtime, on its own registry."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=registry)  # process_cpu_seconds_total, resident memory, open fds
        self.build = Info(
            "wakeful_build", "wakeful's version and the opencode API version it speaks", registry=registry
        )
        self.build.info({"version": __version__, "opencode_version": OPENCODE_VERSION})

        # --- HTTP ---------------------------------------------------------------------------------
        self.http_requests = Counter(
            "wakeful_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "wakeful_http_request_duration_seconds",
            "From the request to the end of its response (a held call: until its answer)",
            ["method", "route"],
            buckets=HTTP,
            registry=registry,
        )
        self.held_calls = Gauge(
            "wakeful_held_calls", "Keep-alive responses open, waiting for their answer", registry=registry
        )
        self.keepalive_lateness = Histogram(
            "wakeful_keepalive_lateness_seconds",
            "How late each keep-alive byte left after its interval (a busy or stalled event loop)",
            buckets=LATENESS,
            registry=registry,
        )
        self.draining = Gauge(
            "wakeful_draining",
            "1 while the server drains for shutdown (it takes no new runs)",
            registry=registry,
        )

        # --- runs ---------------------------------------------------------------------------------
        self.runs_running = Gauge("wakeful_runs_running", "Runs executing now", registry=registry)
        self.run_queue_depth = Gauge(
            "wakeful_run_queue_depth",
            "Runs accepted and waiting behind their session's current run",
            registry=registry,
        )
        self.runs = Counter(
            "wakeful_runs",
            "Runs finished, by kind (prompt, command, shell) and outcome (success, error, aborted)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.run_duration = Histogram(
            "wakeful_run_duration_seconds",
            "From a run's start to its stored answer, by kind and outcome",
            ["kind", "outcome"],
            buckets=RUN,
            registry=registry,
        )
        self.run_queue_wait = Histogram(
            "wakeful_run_queue_wait_seconds",
            "From a run's acceptance to its start, by kind",
            ["kind"],
            buckets=RUN,
            registry=registry,
        )

        # --- model calls --------------------------------------------------------------------------
        self.llm_duration = Histogram(
            "wakeful_llm_request_duration_seconds",
            "One model call (one attempt), from the request to the end of its stream",
            ["provider", "model"],
            buckets=MODEL,
            registry=registry,
        )
        self.llm_first_token = Histogram(
            "wakeful_llm_time_to_first_token_seconds",
            "From a model call's request to its first streamed text, reasoning or tool call",
            ["provider", "model"],
            buckets=MODEL,
            registry=registry,
        )
        self.llm_requests = Counter(
            "wakeful_llm_requests",
            "Model calls (attempts) by outcome: success, or the error's name",
            ["provider", "model", "outcome"],
            registry=registry,
        )
        self.llm_tokens = Counter(
            "wakeful_llm_tokens",
            "Tokens the providers reported, by type: input (uncached), cache_read, cache_write, output",
            ["provider", "model", "type"],
            registry=registry,
        )
        self.llm_retries = Counter(
            "wakeful_llm_retries",
            "Model calls retried after a retryable error",
            ["provider", "model"],
            registry=registry,
        )

        # --- tools --------------------------------------------------------------------------------
        self.tool_duration = Histogram(
            "wakeful_tool_call_duration_seconds",
            "Tool calls by tool and outcome (success, error, invalid, aborted)",
            ["tool", "outcome"],
            buckets=TOOL,
            registry=registry,
        )

        # --- the event stream ---------------------------------------------------------------------
        self.event_subscribers = Gauge(
            "wakeful_event_subscribers", "Open GET /event streams", registry=registry
        )
        self.event_gaps = Counter(
            "wakeful_event_gaps",
            "server.gap events sent: a Last-Event-ID no longer replayable, or a subscriber too far behind",
            ["reason"],
            registry=registry,
        )
