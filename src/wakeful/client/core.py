"""What the sync and the async client share: settings, retries, timeouts, and answer parsing.

A call is a *plan*: a generator that yields `Send` (do this HTTP request, send me the `Answer`) and
`Sleep` steps and returns the result. The plan decides everything (what to retry, how long to back
off, what an answer means); `Walk` steps through it, and `Client` and `AsyncClient` only perform each
step, with blocking or awaiting I/O. So the retry and idempotency rules exist once, and the two
clients cannot drift apart.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeAlias, TypeVar
from urllib.parse import quote

import httpx

from wakeful.client.errors import (
    ConnectionLost,
    DeadlineExceeded,
    RunFailed,
    ServerError,
    ServiceUnavailable,
    refused,
)
from wakeful.client.models import Reply
from wakeful.version import __version__
from wakeful.wire.sessions import Session

T = TypeVar("T")
KEEPALIVE_HEADER = "X-Keepalive-Interval"
MESSAGE_HEADER = "X-Wakeful-Message-ID"
# The silence limit is this many keep-alive intervals: one late byte is not a dead connection.
SILENCE_FACTOR = 3.0
KeepAliveCallback = Callable[[], object]


@dataclass(frozen=True)
class Settings:
    connect_timeout: float = 10.0
    # Until the response headers arrive (the server validates and accepts the call first), and the
    # per-read limit of short calls. Not a cap on a long call, whose body is governed by the silence.
    response_timeout: float = 60.0
    keepalive_interval: float | None = None  # ask the server for this interval; None: its default
    events_silence: float = 60.0  # /event sends a heartbeat every 10 s by default
    retries: int = 6
    backoff: float = 0.25
    max_backoff: float = 10.0

    def delay(self, failures: int) -> float:
        """Exponential backoff with jitter, so that many clients cut at once do not return at once."""
        base = min(self.max_backoff, self.backoff * 2.0 ** (failures - 1))
        return base * random.uniform(0.5, 1.0)


class TruncatedBody(Exception):
    """A long call's body ended without its JSON document: as good as a broken connection."""


# Errors after which the request may or may not have been processed: retried only when repeating
# the request is harmless (GET, or a call that carries its own messageID).
BROKEN = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, TruncatedBody)
# Errors that prove the request never left: always safe to retry.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass
class Send:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    long: bool = False  # a keep-alive route: stream the body, read timeout = the silence limit
    idempotent: bool = True
    on_keepalive: KeepAliveCallback | None = None
    deadline: float | None = None  # time.monotonic() after which the caller gives up
    message_id: str | None = None
    read_timeout: float | None = None  # the per-read limit; None: the settings' response_timeout
    keepalives: int = 0  # keep-alive bytes seen by the current attempt

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def overdue(self) -> DeadlineExceeded | None:
        """The error to raise when the caller's deadline has passed (None while it has not)."""
        left = self.remaining()
        if left is None or left > 0:
            return None
        return DeadlineExceeded(f"{self.method} {self.path}: deadline passed", self.message_id)

    def check_deadline(self) -> None:
        if (overdue := self.overdue()) is not None:
            raise overdue

    def cap(self, seconds: float) -> float:
        left = self.remaining()
        return seconds if left is None else max(0.001, min(seconds, left))

    def timeout(self, settings: Settings) -> httpx.Timeout:
        read = self.cap(settings.response_timeout if self.read_timeout is None else self.read_timeout)
        return httpx.Timeout(
            connect=self.cap(settings.connect_timeout),
            read=read,
            write=self.cap(settings.response_timeout),
            pool=self.cap(settings.connect_timeout),
        )

    def keepalive(self) -> object:
        """Count one keep-alive byte and call `on_keepalive`; its result (an awaitable, when the
        callback is a coroutine function) is for an async client to await."""
        self.keepalives += 1
        return None if self.on_keepalive is None else self.on_keepalive()


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes

    @classmethod
    def of(cls, response: httpx.Response, body: bytes) -> Answer:
        return cls(response.status_code, response.headers, body)


Step: TypeAlias = Send | Sleep
Plan: TypeAlias = Generator[Step, Any, T]


class Walk(Generic[T]):
    """Steps through a plan. Iterating yields the steps to perform; the client performs each one
    inside `outcome()`, setting `answer` for a `Send`, and the plan gets that answer or the
    exception the step raised (the plan decides what a failure means). When the iteration ends,
    `result` is what the plan returned."""

    def __init__(self, plan: Plan[T]) -> None:
        self._plan = plan
        self.answer: Answer | None = None
        self._error: Exception | None = None

    def __iter__(self) -> Iterator[Step]:
        while True:
            try:
                if self._error is not None:
                    step = self._plan.throw(self._error)
                else:
                    step = self._plan.send(self.answer)
            except StopIteration as stop:
                self.result: T = stop.value
                return
            self.answer, self._error = None, None
            yield step

    @contextmanager
    def outcome(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # the plan decides what a failure means
            self._error = exc


def keeps_alive(response: httpx.Response, send: Send, settings: Settings) -> bool:
    """Whether the body of `response` is a keep-alive body (the 200 of a long call); if it is, its
    per-read timeout becomes 3 x the server's keep-alive interval.

    httpx has no public way to change a timeout mid-response; httpcore reads the request's
    `timeout` extension when it starts reading the body, so setting it here (after the headers,
    before the first body read) is what applies the limit to every read of the body.
    """
    if not (send.long and response.status_code == 200):
        return False
    raw = response.headers.get(KEEPALIVE_HEADER)
    try:
        silence = SILENCE_FACTOR * float(raw) if raw else settings.response_timeout
    except ValueError:
        silence = settings.response_timeout
    timeouts = response.request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        timeouts["read"] = send.cap(silence)
    return True


class KeepAliveBody:
    """Collects a keep-alive body: `"\\n"` bytes until the answer starts, then one JSON document."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def feed(self, chunk: bytes) -> int:
        """Store `chunk`; return how many keep-alive bytes it carried."""
        if self._chunks:
            self._chunks.append(chunk)
            return 0
        head = chunk.lstrip()
        if head:
            self._chunks.append(head)
        return chunk[: len(chunk) - len(head)].count(b"\n")

    @property
    def body(self) -> bytes:
        return b"".join(self._chunks)


# --- answers ----------------------------------------------------------------------------------


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body) if body.strip() else None
    except ValueError:
        return body.decode(errors="replace")


def checked(answer: Answer) -> Any:
    """The JSON of a 2xx answer; the mapped exception for anything else."""
    if not 200 <= answer.status < 300:
        raise refused(answer.status, _decode(answer.body), answer.headers.get("retry-after"))
    return _decode(answer.body)


def held(answer: Answer) -> Any:
    """The document of a keep-alive answer; an error object in it is a ServerError."""
    checked(answer)
    try:
        data = json.loads(answer.body)
    except ValueError:
        raise TruncatedBody(f"incomplete body ({len(answer.body)} bytes)") from None
    if isinstance(data, dict) and "info" not in data and "name" in data and "data" in data:
        raise ServerError(data)
    return data


def reply_of(answer: Answer) -> Reply:
    reply = Reply.model_validate(held(answer))
    if reply.error:
        raise RunFailed(reply)
    return reply


def session_of(answer: Answer) -> Session:
    return Session.model_validate(checked(answer))


def sessions_of(answer: Answer) -> list[Session]:
    return [Session.model_validate(s) for s in checked(answer)]


def messages_of(answer: Answer) -> list[Reply]:
    return [Reply.model_validate(m) for m in checked(answer)]


def message_of(answer: Answer) -> Reply:
    return Reply.model_validate(checked(answer))


def flag_of(answer: Answer) -> bool:
    return bool(checked(answer))


def message_id_of(answer: Answer) -> str:
    checked(answer)
    return str(answer.headers.get(MESSAGE_HEADER, ""))


# --- the retry rule ---------------------------------------------------------------------------


def exchange(settings: Settings, send: Send, parse: Callable[[Answer], T]) -> Plan[T]:
    """Send until an answer parses; retry what is safe to retry, with backoff.

    A broken long call is sent again as it was: the same messageID attaches to the running run or
    answers from storage, so the retry never runs the agent twice. The failure count resets when an
    attempt received keep-alive bytes, so a run that lasts hours survives any number of cuts that
    are spread out, and only a connection that keeps failing outright is declared lost.
    """
    failures = 0
    while True:
        send.check_deadline()
        send.keepalives = 0
        try:
            answer: Answer = yield send
            return parse(answer)
        except BROKEN as exc:
            if (overdue := send.overdue()) is not None:
                raise overdue from exc
            failures = 1 if send.keepalives else failures + 1
            if not (send.idempotent or isinstance(exc, NOT_SENT)) or failures > settings.retries:
                raise ConnectionLost(
                    f"{send.method} {send.path}: {type(exc).__name__}: {exc} (after {failures} attempts)",
                    send.message_id,
                ) from exc
            delay = settings.delay(failures)
        except ServiceUnavailable as exc:
            # Refused before anything was done (the server is draining): any call may come back.
            failures += 1
            if failures > settings.retries:
                raise
            delay = min(settings.max_backoff, exc.retry_after or settings.delay(failures))
        send.check_deadline()
        yield Sleep(send.cap(delay))


# --- what both clients configure the same way -------------------------------------------------


def http_options(
    base_url: str,
    *,
    password: str | None,
    username: str,
    directory: str | None,
    headers: dict[str, str] | None,
) -> dict[str, Any]:
    """Keyword arguments for `httpx.Client` / `httpx.AsyncClient`. The per-request timeouts come
    from each `Send`, so the httpx default (5 s for everything) never applies."""
    merged = {"User-Agent": f"wakeful-client/{__version__}", **(headers or {})}
    if directory is not None:
        # The server URL-decodes this header (it may carry any path).
        merged["x-opencode-directory"] = quote(directory, safe="/")
    return {
        "base_url": base_url.rstrip("/"),
        "auth": httpx.BasicAuth(username, password) if password else None,
        "headers": merged,
        "timeout": None,
    }
