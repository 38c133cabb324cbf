"""A scripted LLM on loopback: OpenAI chat completions and Anthropic Messages, both as SSE streams.

It speaks wakeful's script language (`wakeful.providers.scripted.language`: REPLY, REASON, TOOL,
TOOLS_PARALLEL, DELAY, DRIP, HOLD, HOLD_BEFORE, ERROR, OVERFLOW, RETRY_AFTER, BREAK, TRUNCATE, SILENT,
USAGE, FINISH) over HTTP, where the wire-level directives mean:

    DELAY <s>               sleep before the response headers
    HOLD <key>              after the headers and the first content chunk, wait for release(key)
    HOLD_BEFORE <key>       wait for release(key) before the headers
    ERROR <status> [count]  an HTTP error answer with the wire's error body
    OVERFLOW [count]        the wire's context-overflow answer (400, OpenAI's or Anthropic's body)
    BREAK <n> [count]       send n SSE events, then cut the connection (no [DONE] / message_stop)
    TRUNCATE <n>            send n SSE events, then end the body cleanly (no finish, no [DONE])
    SILENT                  headers, then nothing until release("silent")
    FINISH <raw>            the wire's finish/stop reason to send (e.g. length, max_tokens)

Control: `POST /_control/release/<key>`, `POST /_control/reset`, `GET /_control/requests`,
`GET /_control/counts`, `GET /_control/wait_for_hold/<key>?timeout=s`, or the methods of `FakeLLM`
(inside the loop) / `FakeLLMThread` (from any thread). Run alone: `python -m tests.support.fakellm`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.loopthread import LoopThread
from wakeful.providers.scripted.language import (
    OVERFLOW_BODIES,
    OVERFLOW_STATUS,
    Conversation,
    Plan,
    Said,
    Script,
    error_message,
    make_plan,
    parse_script,
    read_conversation,
)


@dataclass
class FakeRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    time: float
    script: str
    step: int


def _text_of(content: Any) -> str | None:
    """The text of a message's content (a string or a list of parts); None if it has no text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(texts) if texts else None
    return None


def _conversation(wire: str, body: dict[str, Any]) -> Conversation:
    """The script, step and latest tool result of a request."""
    said: list[Said] = []
    for m in body.get("messages") or []:
        role, content = m.get("role"), m.get("content")
        if role == "assistant":
            said.append(Said("assistant"))
        elif role == "tool" and wire == "openai":
            said.append(Said("tool", _text_of(content) or ""))
        elif role == "user" and wire == "anthropic" and isinstance(content, list):
            parts = [p for p in content if isinstance(p, dict)]
            # results first: a result sharing the prompt's turn is not "after" the prompt
            said += [
                Said("tool", _text_of(p.get("content")) or "")
                for p in parts
                if p.get("type") == "tool_result"
            ]
            said.append(Said("user", _text_of([p for p in parts if p.get("type") == "text"])))
        elif role == "user":
            said.append(Said("user", _text_of(content)))
    return read_conversation(said)


# --- wire formats: a response is a list of (SSE bytes, kind); kind "meta" carries no content -------


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def openai_events(plan: Plan, model: str, finish: str | None, with_usage: bool) -> list[tuple[bytes, str]]:
    cid = f"chatcmpl-{hashlib.sha1(str(time.time()).encode()).hexdigest()[:12]}"

    def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": reason}
        data = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        return _sse({**data, "choices": [choice]})

    out = [(chunk({"role": "assistant", "content": ""}), "meta")]
    out += [(chunk({"reasoning_content": r}), "reason") for r in plan.reasoning]
    out += [(chunk({"content": t}), "text") for t in plan.text]
    for k, (call_id, name, pieces) in enumerate(plan.calls):
        start = {"index": k, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        out.append((chunk({"tool_calls": [start]}), "tool"))
        out += [(chunk({"tool_calls": [{"index": k, "function": {"arguments": p}}]}), "tool") for p in pieces]
    out.append((chunk({}, finish or ("tool_calls" if plan.calls else "stop")), "meta"))
    if with_usage:
        uncached, output, cached, reasoning = plan.usage
        usage = {
            "prompt_tokens": uncached + cached,
            "completion_tokens": output,
            "total_tokens": uncached + cached + output,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }
        data = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        out.append((_sse({**data, "choices": [], "usage": usage}), "meta"))
    out.append((b"data: [DONE]\n\n", "meta"))
    return out


def anthropic_events(plan: Plan, model: str, finish: str | None) -> list[tuple[bytes, str]]:
    uncached, output, cached, _ = plan.usage
    message: dict[str, Any] = {
        "id": f"msg_{hashlib.sha1(str(time.time()).encode()).hexdigest()[:20]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": uncached,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached,
            "output_tokens": 1,
        },
    }
    out = [(_sse({"type": "message_start", "message": message}, "message_start"), "meta")]
    index = 0

    def block(start: dict[str, Any], deltas: list[dict[str, Any]], kind: str) -> None:
        nonlocal index
        out.append(
            (
                _sse(
                    {"type": "content_block_start", "index": index, "content_block": start},
                    "content_block_start",
                ),
                "meta",
            )
        )
        for d in deltas:
            out.append(
                (
                    _sse({"type": "content_block_delta", "index": index, "delta": d}, "content_block_delta"),
                    kind,
                )
            )
        out.append((_sse({"type": "content_block_stop", "index": index}, "content_block_stop"), "meta"))
        index += 1

    if plan.reasoning:
        block(
            {"type": "thinking", "thinking": "", "signature": ""},
            [{"type": "thinking_delta", "thinking": r} for r in plan.reasoning],
            "reason",
        )
    if plan.text:
        block({"type": "text", "text": ""}, [{"type": "text_delta", "text": t} for t in plan.text], "text")
    for call_id, name, pieces in plan.calls:
        block(
            {"type": "tool_use", "id": call_id, "name": name, "input": {}},
            [{"type": "input_json_delta", "partial_json": p} for p in pieces],
            "tool",
        )
    stop = finish or ("tool_use" if plan.calls else "end_turn")
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": output},
    }
    out.append((_sse(delta, "message_delta"), "meta"))
    out.append((_sse({"type": "message_stop"}, "message_stop"), "meta"))
    return out


def error_body(wire: str, status: int) -> str:
    message = error_message(status)
    if wire == "openai":
        kind = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        return json.dumps({"error": {"message": message, "type": kind, "code": status}})
    kind = {
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        529: "overloaded_error",
    }.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}})


class _Stopped(Exception):
    pass


class FakeLLM:
    """The server; all methods run on the loop that called `start`."""

    def __init__(self) -> None:
        self._requests: list[FakeRequest] = []
        self._counts: Counter[str] = Counter()
        self._hits: Counter[str] = Counter()
        self._released: set[str] = set()
        self._changed = asyncio.Event()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self.url = ""
        # A test's own hold: the key to park a request on before anything else (None: none), for
        # holds the script language cannot say, such as "only at step 1".
        self.park_on: Callable[[FakeRequest], str | None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0, backlog: int = 4096) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/_control/release/{key}", self._http_release)
        app.router.add_post("/_control/reset", self._http_reset)
        app.router.add_get("/_control/requests", self._http_requests)
        app.router.add_get("/_control/counts", self._http_counts)
        app.router.add_get("/_control/wait_for_hold/{key}", self._http_wait)
        # handler_cancellation: a client that goes away must not leave a parked handler behind
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=backlog)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{host}:{bound[1]}/v1"
        return self.url

    async def stop(self) -> None:
        self._stopping = True
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLLM:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- control -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[FakeRequest]:
        return list(self._requests)

    def count(self, script: str) -> int:
        """How many requests carried this script text."""
        return self._counts[script]

    def release(self, key: str) -> None:
        """Let every request parked on `key` go on; later ones pass through until reset()."""
        self._released.add(key)
        self._notify()

    def reset(self) -> None:
        self._requests.clear()
        self._counts.clear()
        self._hits.clear()
        self._released.clear()
        self._notify()

    async def wait_for_hold(self, key: str, timeout: float = 5.0, count: int = 1) -> None:
        """Return once `count` requests have reached the HOLD / HOLD_BEFORE / SILENT point `key`."""
        await self._until(lambda: self._hits[key] >= count, timeout)

    def _notify(self) -> None:
        # a broadcast: wake every waiter, who then re-checks its own condition
        self._changed.set()
        self._changed = asyncio.Event()

    async def _until(self, done: Callable[[], bool], timeout: float | None) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                await self._changed.wait()

    async def _park(self, key: str) -> None:
        self._hits[key] += 1
        self._notify()
        await self._until(lambda: key in self._released or self._stopping, None)
        if self._stopping:
            raise _Stopped

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await self._until(lambda: self._stopping, seconds)
        if self._stopping:
            raise _Stopped

    # --- the two wire APIs -------------------------------------------------------------------

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "openai")

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "anthropic")

    async def _serve(self, request: web.Request, wire: str) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw or b"{}")
        turn = _conversation(wire, body)
        prompt, step = turn.script, turn.step
        script = parse_script(prompt)
        self._counts[prompt] += 1
        nth = self._counts[prompt]
        received = FakeRequest(request.path, dict(request.headers), body, time.time(), prompt, step)
        self._requests.append(received)
        self._notify()
        try:
            if self.park_on is not None and (key := self.park_on(received)) is not None:
                await self._park(key)
            if script.hold_before:
                await self._park(script.hold_before)
            if script.delay:
                await self._sleep(script.delay)
            if script.error and script.errs(nth):
                headers = {"retry-after": script.retry_after} if script.retry_after else None
                return web.Response(
                    status=script.error[0],
                    text=error_body(wire, script.error[0]),
                    content_type="application/json",
                    headers=headers,
                )
            if script.overflows(nth):
                return web.json_response(OVERFLOW_BODIES[wire], status=OVERFLOW_STATUS)
            plan = make_plan(script, step, turn.tool_result, len(raw))
            model = str(body.get("model", "mock-model"))
            if wire == "openai":
                with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                events = openai_events(plan, model, script.finish, with_usage)
            else:
                events = anthropic_events(plan, model, script.finish)
            if script.truncate is not None:
                events = events[: script.truncate]
            cut_at = None
            if script.cut and script.cuts(nth):
                cut_at = min(script.cut[0], len(events) - 1)
            return await self._stream(request, script, events, cut_at)
        except _Stopped:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=503)

    async def _stream(
        self, request: web.Request, script: Script, events: list[tuple[bytes, str]], cut_at: int | None
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        if script.silent:
            await self._park("silent")
        held = False
        texts = 0
        for i, (data, kind) in enumerate(events):
            if i == cut_at:
                # FIN mid-body, not RST: an RST could discard the chunks already sent
                assert request.transport is not None
                request.transport.close()
                return resp
            if kind == "text" and script.drip and texts:
                await self._sleep(script.drip[1])
            texts += kind == "text"
            await resp.write(data)
            if script.hold and kind != "meta" and not held:
                held = True
                await self._park(script.hold)
        await resp.write_eof()
        return resp

    # --- control over HTTP -------------------------------------------------------------------

    async def _http_release(self, request: web.Request) -> web.Response:
        self.release(request.match_info["key"])
        return web.json_response({"released": request.match_info["key"]})

    async def _http_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})

    async def _http_requests(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(r) for r in self._requests])

    async def _http_counts(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self._counts))

    async def _http_wait(self, request: web.Request) -> web.Response:
        timeout = float(request.query.get("timeout", "5"))
        try:
            await self.wait_for_hold(request.match_info["key"], timeout, int(request.query.get("count", "1")))
        except TimeoutError:
            return web.json_response({"held": False}, status=408)
        return web.json_response({"held": True})


class FakeLLMThread:
    """A FakeLLM on its own event loop in a daemon thread, for sync fixtures; methods are thread-safe."""

    def __init__(self) -> None:
        self.fake = FakeLLM()
        self.url = ""
        self._thread = LoopThread("fakellm")

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self.url = self._thread.start(self.fake.start(host, port))
        return self.url

    def stop(self) -> None:
        self._thread.stop(self.fake.stop(), timeout=10)

    def __enter__(self) -> FakeLLMThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def requests(self) -> list[FakeRequest]:
        return self._thread.run(lambda: self.fake.requests)

    def count(self, script: str) -> int:
        return self._thread.run(lambda: self.fake.count(script))

    def release(self, key: str) -> None:
        self._thread.run(lambda: self.fake.release(key))

    def reset(self) -> None:
        self._thread.run(self.fake.reset)

    def wait_for_hold(self, key: str, timeout: float = 5.0, count: int = 1) -> None:
        """Blocks the calling thread; raises TimeoutError."""
        self._thread.call(self.fake.wait_for_hold(key, timeout, count))

    async def wait_for_hold_async(self, key: str, timeout: float = 5.0, count: int = 1) -> None:
        """For async tests: waits without blocking the caller's loop."""
        await self._thread.wait(self.fake.wait_for_hold(key, timeout, count))


def spawn(*entry: str, **popen: Any) -> tuple[subprocess.Popen[str], str]:
    """Start a fake as its own process and return it with its base URL.

    `entry` follows the interpreter: this module unless it names another script that calls `main`.
    """
    args = list(entry) or ["-m", "tests.support.fakellm"]
    proc = subprocess.Popen(
        [sys.executable, *args, "--port", "0"],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
        **popen,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"the fake LLM did not start: {url!r}")
    return proc, url


async def _serve(fake: FakeLLM, host: str, port: int) -> None:
    print(await fake.start(host, port), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main(factory: Callable[[], FakeLLM] = FakeLLM, description: str = "Run the scripted fake LLM") -> None:
    """Run a fake as its own process (benchmarks); prints its URL when ready."""
    import resource

    # a benchmark holds thousands of sockets; the default soft limit is often 1,024
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    opts = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(factory(), opts.host, opts.port))


if __name__ == "__main__":
    main()
