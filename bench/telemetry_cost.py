"""Telemetry cost per prompt: the observability work of one prompt, replayed alone, in CPU time.

One prompt's telemetry is: the request middleware around a `POST /session/{id}/message` (request id,
span, two HTTP metrics, the access-log line), the held call's gauge, the run's metrics and its two
log lines, one `invoke_agent` span, one model call (`chat`: time to first token, duration, outcome,
tokens) and, with `--tools N`, N tool calls. This script runs exactly those code paths (the real
middleware around an ASGI app that answers at once, the real span and metric classes, logging
through the real queue and writer thread into /dev/null) `--prompts` times, and reports the CPU time
of the whole process (every thread: the log writer and the span exporter included) per prompt:

- `metrics + logs`: tracing off, the default;
- `+ tracing`: spans exported over OTLP/HTTP to a receiver in this process (the receiver's own CPU
  is measured apart and subtracted).

Compare with the server CPU per prompt of bench/prompt_overhead.py for the share of a real prompt.

    .venv/bin/python bench/telemetry_cost.py                 # a prompt like the benchmark's `REPLY ok`
    .venv/bin/python bench/telemetry_cost.py --tools 1       # plus one tool call and its model call
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from starlette.types import Receive, Scope, Send  # noqa: E402

from wakeful.server.access import RequestTelemetry  # noqa: E402
from wakeful.telemetry import logs, tracing  # noqa: E402
from wakeful.telemetry.calls import AgentRun, ModelCall, ToolExecution  # noqa: E402
from wakeful.telemetry.metrics import Metrics  # noqa: E402

run_log = logging.getLogger("wakeful.runs")


class Receiver:
    """Accepts OTLP/HTTP exports; counts the CPU its handler threads spend."""

    def __init__(self) -> None:
        self.cpu = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                started = time.thread_time()
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.cpu += time.thread_time() - started

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def prompt_app(metrics: Metrics, tools: int) -> RequestTelemetry:
    """The middleware around an app that does a prompt's telemetry (and nothing else) and answers."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        metrics.held_calls.inc()
        run_log.info("run %s started: %s in session %s", "msg_bench", "prompt", "ses_bench")
        with AgentRun("build", "ses_bench", "msg_bench", "mock", "mock-model") as run:
            for _ in range(tools + 1):
                with ModelCall(metrics, "mock", "mock-model", "ses_bench") as call:
                    call.streamed()
                    call.streamed()
                    call.finished("stop", 1200, 40, 800, 0)
            for n in range(tools):
                with ToolExecution(metrics, "read", f"call_{n}", known=True) as tool:
                    tool.outcome = "success"
            run.answered(None)
        metrics.runs.labels("prompt", "success").inc()
        metrics.run_duration.labels("prompt", "success").observe(0.05)
        metrics.run_queue_wait.labels("prompt").observe(0.001)
        run_log.info("run %s ended: %s after %.3f s", "msg_bench", "success", 0.05)
        metrics.held_calls.dec()
        headers = [(b"content-type", b"application/json"), (b"x-wakeful-message-id", b"msg_bench")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})

    return RequestTelemetry(app, metrics, access_log=True)


async def prompts(app: RequestTelemetry, count: int) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/session/ses_bench/message",
        "scheme": "http",
        "headers": [(b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")],
        "client": ("127.0.0.1", 5000),
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        pass

    for _ in range(count):
        await app(dict(scope), receive, send)


def measure(count: int, tools: int, receiver: Receiver | None) -> float:
    """CPU seconds of this process for `count` prompts, the log writer's and (tracing to
    `receiver`) the exporter's included, the receiver's excluded."""
    app = prompt_app(Metrics(), tools)
    stop_logging = logs.configure("text")
    if receiver is not None:
        tracing.setup({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "200"})
    asyncio.run(prompts(app, 50))  # warm-up
    received = receiver.cpu if receiver is not None else 0.0
    started = time.process_time()
    asyncio.run(prompts(app, count))
    stop_logging()  # writes what is queued
    tracing.shutdown()  # exports what is buffered
    elapsed = time.process_time() - started
    return elapsed - ((receiver.cpu - received) if receiver is not None else 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=3000)
    parser.add_argument(
        "--tools",
        type=int,
        default=0,
        help="tool calls per prompt, each with its model call (0: as `REPLY ok`)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()

    receiver = Receiver()
    off: list[float] = []
    on: list[float] = []
    with open(os.devnull, "w") as devnull:
        sys.stderr, saved = devnull, sys.stderr
        try:
            for _ in range(opts.rounds):
                off.append(measure(opts.prompts, opts.tools, None))
                on.append(measure(opts.prompts, opts.tools, receiver))
        finally:
            receiver.close()
            sys.stderr = saved
    print(
        f"telemetry cost per prompt ({opts.tools} tool call(s), {opts.prompts} prompts x {opts.rounds} rounds): "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    for name, values in (("metrics + logs", off), ("metrics + logs + tracing", on)):
        per = sorted(v / opts.prompts * 1e6 for v in values)
        print(
            f"  {name:24} median {per[len(per) // 2]:7.1f} µs CPU/prompt   (rounds: {', '.join(f'{p:.1f}' for p in per)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
