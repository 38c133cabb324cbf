"""Running the server: the data-directory lock, the socket, signals, and the graceful drain.

uvicorn waits for open connections before it runs lifespan shutdown, and with its own graceful
timeout it cancels response tasks mid-body. So the drain starts from the signal itself: the server
stops taking runs (503), ends its SSE streams, lets runs finish for `drain_timeout` seconds, aborts
the rest with a stored error, lets every held response write its final JSON, and only then tells
uvicorn to exit. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import socket
import sys
from types import FrameType

import uvicorn
from fastapi import FastAPI

from wakeful.config import ServerConfig
from wakeful.errors import StartupError
from wakeful.run.runtime import Runtime
from wakeful.server.app import create_app
from wakeful.server.lock import DataDirLock
from wakeful.server.protocol import http_protocol
from wakeful.telemetry import logs, tracing

log = logging.getLogger("wakeful")
BACKLOG = 16_384


def raise_open_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            pass
    return soft


def bind(config: ServerConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in config.hostname else socket.AF_INET
    # Named IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections accepted from a socket
    # that says it is TCP, and without it Nagle's algorithm holds a response's small writes (the
    # headers, a keep-alive newline, the answer) until the client acknowledges the previous one.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.hostname, config.port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {config.hostname}:{config.port}: {exc.strerror}") from None
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def tune_gc() -> None:
    """A full garbage collection scans every live object and stops the event loop meanwhile: with
    thousands of held calls that was seconds (bench/held_calls.py, docs/benchmarks.md). Objects
    alive after start-up (modules, SDK types) are frozen out of the collector's view, and full
    collections are made rarer. The CLI keeps the collector off until this turns it on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7_000, 20, 100)
    gc.enable()


def check_bind(config: ServerConfig) -> None:
    if not config.is_loopback and not config.password and not config.insecure:
        raise StartupError(
            f"refusing to listen on {config.hostname} without a password: set OPENCODE_SERVER_PASSWORD "
            "(or WAKEFUL_SERVER_PASSWORD), or pass --insecure"
        )


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, state: Runtime, url: str) -> None:
        super().__init__(config)
        self.app = app
        self.state = state
        self.url = url
        self._drain: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._settling: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        if self.started:
            # One write: `print` writes the line and its newline separately, and a log line from
            # the log thread (stderr is often the same pipe) could land between them.
            sys.stdout.write(f"wakeful listening on {self.url}\n")
            sys.stdout.flush()
            self._settling = asyncio.create_task(self._settle(), name="wakeful start-up settling")

    async def _settle(self) -> None:
        # Once the routes are built (in a thread, started by the lifespan), everything start-up
        # made exists and can be frozen: a pause of a tenth of a second, once, while still idle.
        await self.app.state.routes_built
        tune_gc()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain is not None or self._loop is None:
            super().handle_exit(sig, frame)  # second signal: uvicorn's own (forced) exit
            return
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        state = self.state
        log.info("draining: no new runs; waiting up to %g s for running ones", state.config.drain_timeout)
        state.runs.stop_accepting()
        # A run waiting for a person would hold the drain: its request is withdrawn now, so the
        # model can finish without the call within the drain time.
        await state.permissions.close("the server is shutting down")
        state.bus.close()
        try:
            await state.runs.drain(state.config.drain_timeout, "The server shut down before the run finished")
            # Held responses write their final JSON within one event-loop turn of their run ending.
            await asyncio.sleep(0.05)
        finally:
            if self._settling is not None:
                await self._settling  # a thread's build of the routes, under a second from the start
            log.info("drained; stopping")
            self.should_exit = True


def serve(config: ServerConfig) -> int:
    stop_logging = logs.configure(config.log_format)
    try:
        return _serve(config)
    finally:
        stop_logging()


def _serve(config: ServerConfig) -> int:
    try:
        check_bind(config)
        if tracing.setup(config.environ):
            log.info("tracing: %s", tracing.describe(config.environ))
        lock = DataDirLock(config.data_dir)
        lock.acquire()
    except StartupError as exc:
        tracing.shutdown()
        print(f"wakeful: {exc}", file=sys.stderr)
        return 2
    try:
        raise_open_file_limit()
        try:
            sock = bind(config)
        except StartupError as exc:
            print(f"wakeful: {exc}", file=sys.stderr)
            return 2
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{port}"
        lock.describe(pid=os.getpid(), url=url)
        state = Runtime.build(config)
        app = create_app(config, state, routes_at_start=False)
        uv_config = uvicorn.Config(
            app,
            log_level="warning",
            log_config=None,  # uvicorn's own lines go through wakeful's handler and format
            access_log=False,  # wakeful writes its own (wakeful.server.access)
            backlog=BACKLOG,
            http=http_protocol(config),
            ws="none",  # no route speaks WebSocket: an upgrade would only bypass the HTTP protocol's limits
            timeout_keep_alive=config.idle_timeout,  # type: ignore[arg-type]  # any number of seconds
            timeout_graceful_shutdown=None,
            lifespan="on",
            # asyncio's loop, not uvloop: libuv accepts one connection per loop iteration, so while
            # thousands of held calls keep the loop busy, new calls wait in the listen queue (and
            # once it is full, their handshakes are dropped and their connections reset). asyncio
            # accepts every queued connection each time the listening socket is ready.
            loop="asyncio",
        )
        server = DrainingServer(uv_config, app, state, url)
        server.run(sockets=[sock])
        log.info("stopped")
        return 0
    finally:
        tracing.shutdown()  # exports the spans still buffered
        lock.release()
