"""Prompt overhead: what wakeful adds around an LLM that answers at once.

The scripted LLM (tests/support/fakellm.py) runs in its own process and answers every prompt
immediately with a short streamed reply; a wakeful server runs in another, with production timing
(keep-alive 2 s, part flush 0.5 s). Each prompt is one `POST /session/{id}/message` with the script
`REPLY ok`: the server stores the user message, calls the LLM, stores the assistant message and its
parts, publishes the events and answers. Two modes:

- sequential: one session, one client, one prompt after another;
- parallel: `--sessions` sessions (16), one client thread each, prompts spread over them.

Reported per mode: prompts/s, latency p50 / p90 / p99 / max as the client sees it, and the server's
CPU time per prompt (utime + stime from /proc, every thread). Every reply is checked (status 200, no
`error`, the expected text). A session's history grows with each prompt, so later prompts send
longer requests, as they would in real use.

Configurations (`--config`, repeatable) compare servers side by side: `default` (metrics and access
log on, tracing off), `tracing` (plus OpenTelemetry export over OTLP/HTTP to a receiver in this
process), `quiet` (no access log), `src=DIR` (another checkout's code, e.g. the commit before
observability). The configurations take turns `--rounds` times.

    .venv/bin/python bench/prompt_overhead.py                      # 200 prompts per mode
    .venv/bin/python bench/prompt_overhead.py --prompts 1000 --sessions 16
    .venv/bin/python bench/prompt_overhead.py --config src=/tmp/base/src --config default \\
        --config tracing --rounds 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.fakellm import spawn  # noqa: E402
from tests.support.procs import cpu_seconds  # noqa: E402
from tests.support.server import WakefulProcess, write_project_config  # noqa: E402

SCRIPT = "REPLY ok"
PRODUCTION_TIMING = {
    "WAKEFUL_KEEPALIVE_INTERVAL": "2",
    "WAKEFUL_PART_FLUSH_INTERVAL": "0.5",
    "WAKEFUL_SSE_HEARTBEAT": "10",
    "WAKEFUL_PROVIDER_SILENCE": "120",
    "WAKEFUL_CONFIG_FRESHNESS": "1",
}


@dataclass
class Result:
    mode: str
    prompts: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float
    failures: int

    def row(self) -> list[str]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

        return [
            self.mode,
            str(self.prompts),
            f"{self.seconds:.2f}",
            f"{self.prompts / self.seconds:.1f}",
            f"{statistics.median(lat) * 1000:.1f}",
            f"{pct(0.90):.1f}",
            f"{pct(0.99):.1f}",
            f"{lat[-1] * 1000:.1f}",
            f"{self.cpu_seconds / self.prompts * 1000:.2f}",
            str(self.failures),
        ]


def new_session(client: httpx.Client) -> str:
    response = client.post("/session", json={})
    response.raise_for_status()
    sid: str = response.json()["id"]
    return sid


def one_prompt(client: httpx.Client, sid: str) -> tuple[float, bool]:
    started = time.perf_counter()
    response = client.post(f"/session/{sid}/message", json={"parts": [{"type": "text", "text": SCRIPT}]})
    elapsed = time.perf_counter() - started
    ok = response.status_code == 200
    if ok:
        reply = response.json()
        texts = [p.get("text") for p in reply.get("parts", []) if p.get("type") == "text"]
        ok = "error" not in reply.get("info", {}) and texts == ["ok"]
    return elapsed, ok


def run_mode(server: WakefulProcess, mode: str, prompts: int, sessions: int) -> Result:
    assert server.proc is not None
    clients = [server.client(timeout=60.0) for _ in range(sessions)]
    sids = [new_session(c) for c in clients]
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    remaining = [prompts]

    def worker(client: httpx.Client, sid: str) -> None:
        nonlocal failures
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            elapsed, ok = one_prompt(client, sid)
            with lock:
                latencies.append(elapsed)
                failures += not ok

    cpu_before = cpu_seconds(server.proc.pid)
    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c, s)) for c, s in zip(clients, sids, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(server.proc.pid) - cpu_before
    for c in clients:
        c.close()
    return Result(mode, prompts, seconds, latencies, cpu, failures)


def table(results: list[Result]) -> str:
    head = [
        "mode",
        "prompts",
        "seconds",
        "prompts/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "server CPU ms/prompt",
        "failures",
    ]
    rows = [head, *(r.row() for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


class Receiver:
    """An OTLP/HTTP endpoint on loopback that accepts every export (and counts them), so that a
    traced server pays the whole export: encoding, the HTTP request, the processor's thread."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", 0))
                self.rfile.read(size)
                receiver.requests += 1
                receiver.bytes += size
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def config_env(name: str, receiver: Receiver) -> dict[str, str | None]:
    """The server environment of a configuration: `default` (metrics and access log on, tracing
    off), `tracing` (plus OTLP export to the local receiver), `quiet` (no access log), or
    `src=DIR` (default settings, the code of another checkout's src/ directory)."""
    if name == "default":
        return {}
    if name == "tracing":
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "wakeful-bench"}
    if name == "quiet":
        return {"WAKEFUL_ACCESS_LOG": "false"}
    if name.startswith("src="):
        return {"PYTHONPATH": str(Path(name[4:]).resolve())}
    raise SystemExit(f"unknown configuration {name!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=200, help="prompts per mode")
    parser.add_argument("--sessions", type=int, default=16, help="sessions in the parallel mode")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--transport", choices=["aiohttp", "httpx"], default=None)
    parser.add_argument(
        "--config",
        action="append",
        help="default | tracing | quiet | src=DIR (repeatable; each gets its own server, and the "
        "configurations take turns, --rounds times, so that they share the machine's moods)",
    )
    parser.add_argument("--rounds", type=int, default=1)
    opts = parser.parse_args()
    configs = opts.config or ["default"]

    fake, url = spawn()
    receiver = Receiver()
    servers: dict[str, WakefulProcess] = {}
    results: dict[str, list[Result]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory(prefix="wakeful-bench-") as tmp:
        try:
            for n, name in enumerate(configs):
                project, data = Path(tmp) / f"project{n}", Path(tmp) / f"data{n}"
                project.mkdir()
                data.mkdir()
                write_project_config(project, url)
                env: dict[str, str | None] = {**PRODUCTION_TIMING, **config_env(name, receiver)}
                if opts.transport:
                    env["WAKEFUL_LLM_TRANSPORT"] = opts.transport
                servers[name] = server = WakefulProcess(data, project, env=env).start()
                run_mode(server, "warm-up", opts.warmup, 1)
            for _ in range(opts.rounds):
                for name, server in servers.items():
                    results[name].append(run_mode(server, f"{name}: sequential, 1 session", opts.prompts, 1))
                    results[name].append(
                        run_mode(
                            server, f"{name}: parallel, {opts.sessions} sessions", opts.prompts, opts.sessions
                        )
                    )
        finally:
            for server in servers.values():
                server.stop()
            receiver.close()
            fake.terminate()
            fake.wait(10)
    print(
        f"wakeful prompt overhead: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}"
    )
    print(table([merge(r) for name in configs for r in by_mode(results[name])]))
    if "tracing" in servers:
        print(f"OTLP receiver: {receiver.requests} export requests, {receiver.bytes / 1024:.0f} KiB")
    return 1 if any(r.failures for rs in results.values() for r in rs) else 0


def by_mode(results: list[Result]) -> list[list[Result]]:
    modes: dict[str, list[Result]] = {}
    for r in results:
        modes.setdefault(r.mode, []).append(r)
    return list(modes.values())


def merge(runs: list[Result]) -> Result:
    """The rounds of one mode as one result: all prompts, latencies and CPU together."""
    return Result(
        runs[0].mode,
        sum(r.prompts for r in runs),
        sum(r.seconds for r in runs),
        [x for r in runs for x in r.latencies],
        sum(r.cpu_seconds for r in runs),
        sum(r.failures for r in runs),
    )


if __name__ == "__main__":
    sys.exit(main())
