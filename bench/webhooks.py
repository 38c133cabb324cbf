"""Webhook delivery: how long after a run ends its `run.finished` reaches the receiver.

A wakeful server subprocess (SQLite, the scripted model in-process: every prompt `REPLY ok` answers at
once) and, in this process, an aiohttp receiver on loopback. `--runs` prompts go in with
`POST /session/{id}/prompt_async?callback=...`, spread over `--sessions` sessions, all submitted at
once. With `--fail-first`, the receiver answers 500 to the first attempt of every delivery, so each is
delivered by its first retry (`--retry-base`, production default 2 s).

Reported: delivery latency (the receipt of the accepted attempt minus the event's `time`, when the
delivery was stored at the run's end) p50 / p90 / p99 / max; the time from the first submission to
the last delivery; deliveries per second over that; attempts per delivery; duplicates (a delivery
accepted more than once: must be 0) and deliveries missing at the end (must be 0).

    .venv/bin/python bench/webhooks.py                      # 500 runs over 50 sessions
    .venv/bin/python bench/webhooks.py --fail-first
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.server import SCRIPTED, WakefulProcess, write_project_config  # noqa: E402


class Receiver:
    def __init__(self, runs: int, fail_first: bool) -> None:
        self.runs = runs
        self.fail_first = fail_first
        self.attempts: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.all_in = asyncio.Event()
        self.last = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        delivery = request.headers["X-Wakeful-Delivery"]
        self.attempts[delivery] += 1
        if self.fail_first and self.attempts[delivery] == 1:
            return web.Response(status=500)
        now = time.time()
        self.accepted[delivery] += 1
        if self.accepted[delivery] == 1:
            self.latencies.append(now - json.loads(body)["time"] / 1000)
            self.last = time.perf_counter()
            if len(self.latencies) == self.runs:
                self.all_in.set()
        return web.Response(status=200)


async def bench(args: argparse.Namespace, url: str) -> None:
    receiver = Receiver(args.runs, args.fail_first)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    callback = f"http://127.0.0.1:{port}/hook"
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        sids = [(await client.post("/session", json={})).json()["id"] for _ in range(args.sessions)]
        started = time.perf_counter()

        async def submit(n: int) -> None:
            response = await client.post(
                f"/session/{sids[n % len(sids)]}/prompt_async",
                params={"callback": callback},
                json={"parts": [{"type": "text", "text": "REPLY ok"}]},
            )
            response.raise_for_status()

        await asyncio.gather(*(submit(n) for n in range(args.runs)))
        try:
            await asyncio.wait_for(receiver.all_in.wait(), args.patience)
        except TimeoutError:
            pass
    await runner.cleanup()
    lat = sorted(receiver.latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

    elapsed = receiver.last - started
    duplicates = sum(n - 1 for n in receiver.accepted.values() if n > 1)
    print(
        "| runs | sessions | first attempt | latency p50 / p90 / p99 / max | first submit to last delivery "
        "| deliveries/s | attempts per delivery | duplicates | missing |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.runs} | {args.sessions} | {'500' if args.fail_first else '200'} "
        f"| {statistics.median(lat) * 1000:.0f} / {pct(0.9):.0f} / {pct(0.99):.0f} / {lat[-1] * 1000:.0f} ms "
        f"| {elapsed:.2f} s | {len(lat) / elapsed:.0f} "
        f"| {sum(receiver.attempts.values()) / max(len(receiver.attempts), 1):.2f} "
        f"| {duplicates} | {args.runs - len(lat)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--fail-first", action="store_true")
    parser.add_argument("--retry-base", default="2")
    parser.add_argument("--patience", type=float, default=300.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        write_project_config(project, SCRIPTED)
        env: dict[str, str | None] = {
            "WAKEFUL_KEEPALIVE_INTERVAL": "2",
            "WAKEFUL_PART_FLUSH_INTERVAL": "0.5",
            "WAKEFUL_WEBHOOK_RETRY_BASE": args.retry_base,
        }
        server = WakefulProcess(Path(tmp) / "data", project, env=env).start(timeout=120)
        try:
            asyncio.run(bench(args, server.url))
        finally:
            server.stop()
            Path("/tmp/server.log").write_text("".join(server.output))


if __name__ == "__main__":
    main()
