"""Edge overhead: what validation and limits (issue 12) cost one prompt, piece by piece, in process.

A typical prompt body (a client-chosen messageID, two text parts, a system prompt; about 1 KB) goes
through each piece the edge added, timed over many rounds on this process's CPU:

- the Host allow-list and the body limit: two pure-ASGI layers around an app that reads the body
  and answers 204, against the bare app;
- strict JSON decoding (`decode_json`) against the `json.loads` that Starlette used before;
- the prompt's size check on the decoded JSON;
- the uvicorn protocol's request deadlines: arming and cancelling three timers.

The end-to-end effect on a prompt is measured by bench/prompt_overhead.py (before and after, in
docs/benchmarks.md); this shows where it comes from, with less noise.

    .venv/bin/python bench/edge_overhead.py
"""

from __future__ import annotations

import asyncio
import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from wakeful.config import ServerConfig
from wakeful.server.limits import BodyLimit, check_prompt_size
from wakeful.server.middleware import AllowedHosts
from wakeful.server.routing import decode_json

BODY = json.dumps(
    {
        "messageID": "msg_0123456789abCDEFghijklmnop",
        "system": "You are a careful operator. " * 4,
        "parts": [
            {"type": "text", "text": "Look at the failing pods in namespace payments and explain why. " * 6},
            {"type": "text", "text": "Then propose a fix.", "synthetic": False},
        ],
    }
).encode()
SCOPE: Scope = {
    "type": "http",
    "method": "POST",
    "path": "/session/ses_x/message",
    "headers": [
        (b"host", b"127.0.0.1:4096"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
    ],
    "server": ("127.0.0.1", 4096),
}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": BODY, "more_body": False}


async def send(message: dict[str, Any]) -> None:
    pass


def per_call_us(fn: Callable[[], Any], rounds: int) -> float:
    """The median of 7 timings of `rounds` calls, per call, in microseconds."""
    samples = []
    for _ in range(7):
        started = time.perf_counter()
        for _ in range(rounds):
            fn()
        samples.append((time.perf_counter() - started) / rounds * 1e6)
    return statistics.median(samples)


def asgi_us(asgi: Any, rounds: int) -> float:
    loop = asyncio.new_event_loop()

    async def many() -> None:
        for _ in range(rounds):
            await asgi(dict(SCOPE), receive, send)

    samples = []
    for _ in range(7):
        started = time.perf_counter()
        loop.run_until_complete(many())
        samples.append((time.perf_counter() - started) / rounds * 1e6)
    loop.close()
    return statistics.median(samples)


def timers_us(rounds: int) -> float:
    loop = asyncio.new_event_loop()

    def three() -> None:
        for _ in range(3):
            loop.call_later(10.0, print).cancel()

    result = per_call_us(three, rounds)
    loop.close()
    return result


def main() -> None:
    config = ServerConfig.build(env={}, data_dir="/tmp/wakeful-bench-edge")
    guarded = AllowedHosts(BodyLimit(app, config.body_max_bytes, config.body_timeout), (), "127.0.0.1")
    decoded = decode_json(BODY)
    rows = [
        ("ASGI: Host allow-list + body limit", asgi_us(guarded, 20_000) - asgi_us(app, 20_000)),
        (
            "JSON: decode_json minus json.loads",
            per_call_us(lambda: decode_json(BODY), 20_000) - per_call_us(lambda: json.loads(BODY), 20_000),
        ),
        ("prompt size check", per_call_us(lambda: check_prompt_size(decoded, config), 50_000)),
        ("protocol: three request deadlines", timers_us(50_000)),
    ]
    total = sum(us for _, us in rows)
    print(
        f"edge overhead per prompt ({len(BODY)} B body): {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}"
    )
    print("| piece | µs per prompt |\n|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.1f} |")
    print(f"| **total** | **{total:.1f}** |")


if __name__ == "__main__":
    main()
