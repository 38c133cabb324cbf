"""Every API call, defined once: `Calls` is the base of `Client` and `AsyncClient`, and each of its
calls is a plan (see `core`): the request it sends, whether it may be repeated, and how its answer
is read. A `Call` makes the plan a blocking method of `Client` and a coroutine method of
`AsyncClient`, with the plan's name, parameters and docstring."""

from __future__ import annotations

import inspect
import time
import typing
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import httpx

from wakeful import ids
from wakeful.client import core
from wakeful.client.core import (
    KEEPALIVE_HEADER,
    Answer,
    KeepAliveCallback,
    Plan,
    Send,
    Settings,
    exchange,
    http_options,
)
from wakeful.client.models import Reply
from wakeful.wire.sessions import Session

if TYPE_CHECKING:
    from wakeful.client.aio import AsyncClient
    from wakeful.client.sync import Client

Parts = list[dict[str, Any]]
P = ParamSpec("P")
T = TypeVar("T")
HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)
TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)
Build: typing.TypeAlias = Callable[Concatenate["Calls[Any, Any]", P], Plan[T]]


def model_ref(model: str | None) -> dict[str, str] | None:
    """`provider/model` (the first `/` separates them) as the prompt body's `model`."""
    if model is None:
        return None
    provider, slash, model_id = model.partition("/")
    if not slash or not provider or not model_id:
        raise ValueError(f"model must look like provider/model, not {model!r}")
    return {"providerID": provider, "modelID": model_id}


def prompt_parts(text: str | None, parts: Parts | None) -> Parts:
    out: Parts = [{"type": "text", "text": text}] if text is not None else []
    out += parts or []
    if not out:
        raise ValueError("a prompt needs text or parts")
    return out


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _run_body(*, message_id: str | None, **fields: Any) -> dict[str, Any]:
    """The body of a call that starts a run. Its messageID (the caller's, or a fresh one) names the
    run, so that sending the body again attaches to that run instead of starting another."""
    return _clean({"messageID": message_id or ids.message_id(), **fields})


def _prompt_body(
    text: str | None, parts: Parts | None, *, model: str | None, **fields: Any
) -> dict[str, Any]:
    return _run_body(parts=prompt_parts(text, parts), model=model_ref(model), **fields)


def _run_deadline(run_deadline: float | None) -> dict[str, Any] | None:
    return _clean({"deadline": run_deadline}) or None


class Call(Generic[P, T]):
    """A method of both clients made from one plan builder: on a `Client` it blocks and returns
    what the plan returns; on an `AsyncClient` it is a coroutine function. Each client class
    makes the method (`_method`); the overloads tell the type checker what each one returns."""

    def __init__(self, build: Build[P, T]) -> None:
        self._build = build
        self._methods: dict[type[Calls[Any, Any]], Callable[..., Any]] = {}

    @overload
    def __get__(self, client: None, owner: type[Client]) -> Callable[Concatenate[Client, P], T]: ...
    @overload
    def __get__(
        self, client: None, owner: type[AsyncClient]
    ) -> Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, client: Client, owner: type[Client]) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, client: AsyncClient, owner: type[AsyncClient]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, client: Calls[Any, Any] | None, owner: type[Calls[Any, Any]]) -> Any:
        if owner is Calls:  # the base runs no plans: no method to make
            return self
        method = self._methods.get(owner) or self._make(owner)
        return method if client is None else method.__get__(client, owner)

    def _make(self, owner: type[Calls[Any, Any]]) -> Callable[..., Any]:
        method = self._methods[owner] = owner._method(self._build)
        # `functools.wraps` gave it the plan's name, docstring and parameters; it returns (or its
        # coroutine returns) what the plan returns.
        result = typing.get_args(typing.get_type_hints(self._build)["return"])[-1]
        signature = inspect.signature(self._build).replace(return_annotation=result)
        method.__signature__ = signature  # type: ignore[attr-defined]
        method.__annotations__ = {**self._build.__annotations__, "return": result}
        method.__qualname__ = f"{owner.__qualname__}.{self._build.__name__}"
        return method


class Calls(Generic[HttpT, TransportT]):
    """What `Client` and `AsyncClient` share: their options, and every call.

    Long calls (`prompt`, `command`, `shell`, `reply`, `wait`) have no time limit of their own: they
    last as long as the server keeps sending keep-alive bytes, and fail when it goes silent for 3
    keep-alive intervals, or when the caller's `deadline` (seconds) passes. A broken connection is
    retried with the same messageID, which never starts a second run.

    `events()` yields every event of the server, forever: it reconnects with Last-Event-ID, never
    repeats an event, and yields a `Gap` when the server could not replay what was missed.
    `control=True` also yields `server.connected` (after each connect) and `server.heartbeat`.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:4096",
        *,
        password: str | None = None,
        username: str = "opencode",
        directory: str | None = None,
        connect_timeout: float = Settings.connect_timeout,
        response_timeout: float = Settings.response_timeout,
        keepalive_interval: float | None = Settings.keepalive_interval,
        events_silence: float = Settings.events_silence,
        retries: int = Settings.retries,
        backoff: float = Settings.backoff,
        max_backoff: float = Settings.max_backoff,
        headers: dict[str, str] | None = None,
        transport: TransportT | None = None,
    ) -> None:
        self.settings = Settings(
            connect_timeout=connect_timeout,
            response_timeout=response_timeout,
            keepalive_interval=keepalive_interval,
            events_silence=events_silence,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
        )
        options = http_options(
            base_url, password=password, username=username, directory=directory, headers=headers
        )
        self._http: HttpT = self._open(transport, options)

    def _open(self, transport: TransportT | None, options: dict[str, Any]) -> HttpT:
        """The httpx client of this flavour."""
        raise NotImplementedError

    @staticmethod
    def _method(build: Build[P, T]) -> Callable[..., Any]:
        """The method of this flavour that runs the plans of `build`."""
        raise NotImplementedError

    def _request(self, send: Send) -> httpx.Request:
        return self._http.build_request(
            send.method,
            send.path,
            params=send.params,
            json=send.json,
            headers=send.headers,
            timeout=send.timeout(self.settings),
        )

    def _plan(self, send: Send, parse: Callable[[Answer], T]) -> Plan[T]:
        return exchange(self.settings, send, parse)

    def _long(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        message_id: str | None = None,
        on_keepalive: KeepAliveCallback | None,
        deadline: float | None,
        run_deadline: float | None = None,
    ) -> Send:
        headers = {}
        if self.settings.keepalive_interval is not None:
            headers[KEEPALIVE_HEADER] = f"{self.settings.keepalive_interval:g}"
        return Send(
            method,
            path,
            params=_run_deadline(run_deadline),
            json=body,
            headers=headers,
            long=True,
            idempotent=True,  # prompts carry their messageID; the waits change nothing
            on_keepalive=on_keepalive,
            deadline=None if deadline is None else time.monotonic() + deadline,
            message_id=message_id,
        )

    def _hold(
        self,
        path: str,
        body: dict[str, Any],
        *,
        on_keepalive: KeepAliveCallback | None,
        deadline: float | None,
        run_deadline: float | None,
    ) -> Plan[Reply]:
        """A call that starts a run and holds until its answer."""
        send = self._long(
            "POST",
            path,
            body=body,
            message_id=body["messageID"],
            on_keepalive=on_keepalive,
            deadline=deadline,
            run_deadline=run_deadline,
        )
        return self._plan(send, core.reply_of)

    # --- sessions -----------------------------------------------------------------------------

    @Call
    def create_session(
        self,
        *,
        title: str | None = None,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Plan[Session]:
        body = _clean({"title": title, "parentID": parent_id, "metadata": metadata})
        # Not idempotent: a broken answer may hide a session that was created; retried only when
        # the request provably never left.
        return self._plan(Send("POST", "/session", json=body, idempotent=False), core.session_of)

    @Call
    def list_sessions(
        self, *, limit: int | None = None, search: str | None = None, roots: bool | None = None
    ) -> Plan[list[Session]]:
        params = _clean(
            {"limit": limit, "search": search, "roots": None if roots is None else str(roots).lower()}
        )
        return self._plan(Send("GET", "/session", params=params), core.sessions_of)

    @Call
    def get_session(self, session_id: str) -> Plan[Session]:
        return self._plan(Send("GET", f"/session/{session_id}"), core.session_of)

    @Call
    def update_session(
        self, session_id: str, *, title: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Plan[Session]:
        body = _clean({"title": title, "metadata": metadata})
        return self._plan(Send("PATCH", f"/session/{session_id}", json=body), core.session_of)

    @Call
    def delete_session(self, session_id: str) -> Plan[bool]:
        send = Send("DELETE", f"/session/{session_id}", idempotent=False)  # a repeat would answer 404
        return self._plan(send, core.flag_of)

    # --- messages -----------------------------------------------------------------------------

    @Call
    def messages(self, session_id: str, *, limit: int | None = None) -> Plan[list[Reply]]:
        params = _clean({"limit": limit})
        return self._plan(Send("GET", f"/session/{session_id}/message", params=params), core.messages_of)

    @Call
    def message(self, session_id: str, message_id: str) -> Plan[Reply]:
        return self._plan(Send("GET", f"/session/{session_id}/message/{message_id}"), core.message_of)

    # --- runs ---------------------------------------------------------------------------------

    @Call
    def prompt(
        self,
        session_id: str,
        text: str | None = None,
        *,
        parts: Parts | None = None,
        message_id: str | None = None,
        agent: str | None = None,
        model: str | None = None,
        system: str | None = None,
        tools: dict[str, bool] | None = None,
        no_reply: bool | None = None,
        variant: str | None = None,
        on_keepalive: KeepAliveCallback | None = None,
        deadline: float | None = None,
        run_deadline: float | None = None,
    ) -> Plan[Reply]:
        """Run the agent on a prompt and return its answer; raises RunFailed if the run failed."""
        body = _prompt_body(
            text,
            parts,
            message_id=message_id,
            agent=agent,
            model=model,
            system=system,
            tools=tools,
            noReply=no_reply,
            variant=variant,
        )
        path = f"/session/{session_id}/message"
        return self._hold(path, body, on_keepalive=on_keepalive, deadline=deadline, run_deadline=run_deadline)

    @Call
    def prompt_async(
        self,
        session_id: str,
        text: str | None = None,
        *,
        parts: Parts | None = None,
        message_id: str | None = None,
        agent: str | None = None,
        model: str | None = None,
        system: str | None = None,
        tools: dict[str, bool] | None = None,
        variant: str | None = None,
        run_deadline: float | None = None,
    ) -> Plan[str]:
        """Start a run and return its messageID at once (pick the answer up with `reply`)."""
        body = _prompt_body(
            text,
            parts,
            message_id=message_id,
            agent=agent,
            model=model,
            system=system,
            tools=tools,
            variant=variant,
        )
        send = Send(
            "POST",
            f"/session/{session_id}/prompt_async",
            params=_run_deadline(run_deadline),
            json=body,
            message_id=body["messageID"],
        )
        return self._plan(send, core.message_id_of)

    @Call
    def command(
        self,
        session_id: str,
        command: str,
        arguments: str = "",
        *,
        message_id: str | None = None,
        agent: str | None = None,
        model: str | None = None,
        parts: Parts | None = None,
        on_keepalive: KeepAliveCallback | None = None,
        deadline: float | None = None,
        run_deadline: float | None = None,
    ) -> Plan[Reply]:
        model_ref(model)  # refuse a malformed model here, not after a round trip
        body = _run_body(
            message_id=message_id, command=command, arguments=arguments, agent=agent, model=model, parts=parts
        )
        path = f"/session/{session_id}/command"
        return self._hold(path, body, on_keepalive=on_keepalive, deadline=deadline, run_deadline=run_deadline)

    @Call
    def shell(
        self,
        session_id: str,
        command: str,
        *,
        agent: str = "build",
        model: str | None = None,
        message_id: str | None = None,
        on_keepalive: KeepAliveCallback | None = None,
        deadline: float | None = None,
        run_deadline: float | None = None,
    ) -> Plan[Reply]:
        body = _run_body(message_id=message_id, command=command, agent=agent, model=model_ref(model))
        path = f"/session/{session_id}/shell"
        return self._hold(path, body, on_keepalive=on_keepalive, deadline=deadline, run_deadline=run_deadline)

    @Call
    def abort(self, session_id: str) -> Plan[bool]:
        return self._plan(Send("POST", f"/session/{session_id}/abort"), core.flag_of)

    @Call
    def reply(
        self,
        session_id: str,
        message_id: str,
        *,
        on_keepalive: KeepAliveCallback | None = None,
        deadline: float | None = None,
    ) -> Plan[Reply]:
        """The answer to the prompt `message_id`: waits for it if the run is still going."""
        path = f"/session/{session_id}/message/{message_id}/reply"
        send = self._long("GET", path, message_id=message_id, on_keepalive=on_keepalive, deadline=deadline)
        return self._plan(send, core.reply_of)

    @Call
    def wait(
        self, session_id: str, *, on_keepalive: KeepAliveCallback | None = None, deadline: float | None = None
    ) -> Plan[Session]:
        """Wait until nothing is running or queued in the session."""
        send = self._long("GET", f"/session/{session_id}/wait", on_keepalive=on_keepalive, deadline=deadline)
        return self._plan(send, lambda answer: Session.model_validate(core.held(answer)))
