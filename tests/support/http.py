"""Helpers for agent-run tests: bodies, messages and what the model was sent, for any test; and
sessions, prompts and the event stream over real HTTP, for tests against a server process (their
in-process counterparts are in tests/support/inproc.py)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import httpx

from tests.support.fakellm import FakeRequest
from tests.support.schemas import validate
from wakeful.providers.scripted.provider import Received

Json = dict[str, Any]


def new_session(http: httpx.Client, **body: Any) -> str:
    response = http.post("/session", json=body)
    assert response.status_code == 200, response.text
    sid: str = response.json()["id"]
    return sid


def prompt_body(text: str, **extra: Any) -> Json:
    return {"parts": [{"type": "text", "text": text}], **extra}


def prompt(http: httpx.Client, sid: str, text: str, **extra: Any) -> Json:
    """POST /session/{sid}/message and return the reply (`{info, parts}`)."""
    response = http.post(f"/session/{sid}/message", json=prompt_body(text, **extra))
    assert response.status_code == 200, response.text
    reply: Json = response.json()
    return reply


def messages(http: httpx.Client, sid: str) -> list[Json]:
    response = http.get(f"/session/{sid}/message")
    assert response.status_code == 200, response.text
    out: list[Json] = response.json()
    return out


def wait_idle(http: httpx.Client, sid: str) -> None:
    response = http.get(f"/session/{sid}/wait")
    assert response.status_code == 200, response.text


def validate_message(message: Json) -> None:
    """Every message and part validates against the reference's own schemas."""
    info = message["info"]
    validate("UserMessage" if info["role"] == "user" else "AssistantMessage", info)
    validate("Message", info)
    for part in message["parts"]:
        validate("Part", part)


def validate_all(stored: list[Json]) -> None:
    for message in stored:
        validate_message(message)


def tool_parts(message: Json) -> list[Json]:
    return [p for p in message["parts"] if p["type"] == "tool"]


def text_of(message: Json) -> str:
    return "".join(p["text"] for p in message["parts"] if p["type"] == "text")


class Recorded(Protocol):
    @property
    def script(self) -> str: ...


class Model(Protocol):
    """The fake LLM (in a thread or on the test's loop) or the scripted model: what they were asked."""

    @property
    def requests(self) -> Sequence[Recorded]: ...


def requests_for(llm: Model, script: str) -> list[Any]:
    return [r for r in llm.requests if r.script == script]


def request_text(request: FakeRequest | Received) -> str:
    """Every string the model was sent in one request, one per line: the fake LLM's request body,
    or the scripted model's ChatRequest."""
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(request.body if isinstance(request, FakeRequest) else dataclasses.asdict(request.request))
    return "\n".join(out)


def tool(name: str, **args: Any) -> str:
    """A `TOOL name json` directive line."""
    return f"TOOL {name} {json.dumps(args)}"


class Background:
    """Run a blocking call in a thread; `.result()` joins it and re-raises its exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self, timeout: float = 15.0) -> Any:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("background call did not finish")
        if self._error is not None:
            raise self._error
        return self._value


class EventLog:
    """A `GET /event` subscriber in a thread: collects every event, lets the test wait for one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[Json] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> EventLog:
        self._thread.start()
        if not self._connected.wait(10):
            raise TimeoutError("no server.connected event")
        return self

    def _run(self) -> None:
        with (
            httpx.Client(base_url=self.url, timeout=httpx.Timeout(10.0)) as client,
            client.stream("GET", "/event") as response,
        ):
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                if event["type"] == "server.connected":
                    self._connected.set()
                with self._cond:
                    self.events.append(event)
                    self._cond.notify_all()

    def stop(self) -> None:
        self._stop.set()  # the heartbeat (0.5 s in tests) wakes the reader
        self._thread.join(5)

    def of(self, type_: str, session_id: str | None = None) -> list[Json]:
        with self._cond:
            return [
                e
                for e in self.events
                if e["type"] == type_
                and (session_id is None or e["properties"].get("sessionID") == session_id)
            ]

    def wait(self, predicate: Callable[[Json], bool], timeout: float = 10.0) -> Json:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("event not seen")
                self._cond.wait(left)

    def wait_type(self, type_: str, session_id: str, timeout: float = 10.0) -> Json:
        return self.wait(
            lambda e: e["type"] == type_ and e["properties"].get("sessionID") == session_id, timeout
        )

    def wait_tool(self, session_id: str, tool_name: str, status: str, timeout: float = 10.0) -> Json:
        def match(e: Json) -> bool:
            if e["type"] != "message.part.updated":
                return False
            part = e["properties"]["part"]
            return bool(
                part["sessionID"] == session_id
                and part["type"] == "tool"
                and part["tool"] == tool_name
                and part["state"]["status"] == status
            )

        return self.wait(match, timeout)["properties"]["part"]  # type: ignore[no-any-return]


@contextmanager
def event_log(url: str) -> Iterator[EventLog]:
    log = EventLog(url).start()
    try:
        yield log
    finally:
        log.stop()
