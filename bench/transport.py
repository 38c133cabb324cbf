"""Event-loop lag while N streaming calls wait on a slow LLM: aiohttp vs httpx under OpenAIProvider.

A 10 ms ticker records how late each tick wakes up; a late tick is a keep-alive or a heartbeat that a
server holding these calls would send late. The fake LLM runs in its own process so its work does not
count against our loop.

    .venv/bin/python bench/transport.py --n 1000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.fakellm import spawn  # noqa: E402

from wakeful.providers.base import ChatMessage, ChatRequest, Endpoint, TextDelta, Transport  # noqa: E402  # noqa: E402
from wakeful.providers.openai import OpenAIProvider  # noqa: E402

TICK = 0.010


@dataclass
class Result:
    n: int
    transport: str
    wall: float
    max_lag: float
    max_lag_at: float  # seconds after the start: the launch burst, the wait, or the answers
    p99_lag: float
    failures: int


async def ticker(lags: list[tuple[float, float]], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    origin = loop.time()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(TICK)
        lags.append((max(0.0, loop.time() - start - TICK), start - origin))


async def one_call(provider: OpenAIProvider, i: int, delay: float) -> bool:
    request = ChatRequest(
        model="mock", system=[], messages=[ChatMessage(role="user", text=f"DELAY {delay}\nREPLY ok {i}")]
    )
    text = "".join([e.text async for e in provider.stream(request) if isinstance(e, TextDelta)])
    return text == f"ok {i}"


async def run(url: str, n: int, transport: Transport, delay: float) -> Result:
    provider = OpenAIProvider(
        "bench",
        Endpoint(base_url=url, api_key="k", silence_timeout=120, max_connections=n, transport=transport),
    )
    lags: list[tuple[float, float]] = []
    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(lags, stop))
    await asyncio.sleep(0)  # the ticker's first tick starts before the burst of calls
    start = time.monotonic()
    outcomes = await asyncio.gather(*(one_call(provider, i, delay) for i in range(n)), return_exceptions=True)
    wall = time.monotonic() - start
    stop.set()
    await tick
    await provider.aclose()
    failures = [o for o in outcomes if o is not True]
    if failures:
        print(f"  {transport}: first failure: {failures[0]!r}", file=sys.stderr)
    lags.sort()
    worst = lags[-1] if lags else (0.0, 0.0)
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))][0] if lags else 0.0
    return Result(n, transport, wall, worst[0], worst[1], p99, len(failures))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, nargs="+", default=[1000], help="concurrent calls (several allowed)")
    parser.add_argument("--transports", default="aiohttp,httpx")
    parser.add_argument("--delay", type=float, default=3.0, help="seconds the fake waits before answering")
    opts = parser.parse_args()
    # every call holds a socket here and one in the fake; the default soft limit is often 1,024
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results: list[Result] = []
    for n in opts.n:
        for transport in opts.transports.split(","):
            # a fresh fake per run, so one run's leftover sockets cannot slow the next
            proc, url = spawn()
            try:
                results.append(asyncio.run(run(url, n, cast(Transport, transport), opts.delay)))
            finally:
                proc.terminate()
                proc.wait(10)
            r = results[-1]
            print(f"  done: n={n} {transport} wall={r.wall:.2f}s", file=sys.stderr)
    print(
        f"{'N':>6}  {'transport':<9}  {'wall s':>7}  {'max lag s':>9}  {'at s':>5}  {'p99 lag s':>9}  "
        f"{'failures':>8}"
    )
    for r in results:
        print(
            f"{r.n:>6}  {r.transport:<9}  {r.wall:>7.2f}  {r.max_lag:>9.3f}  {r.max_lag_at:>5.1f}  "
            f"{r.p99_lag:>9.3f}  {r.failures:>8}"
        )
    print(f"(each call waits {opts.delay:g} s for the fake's headers: that is the ideal wall time)")


if __name__ == "__main__":
    main()
