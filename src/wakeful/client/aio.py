"""`wakeful.AsyncClient`: the asyncio client; the same plans as `Client`, driven with `await`."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from wakeful.client import core
from wakeful.client.calls import Calls, Parts
from wakeful.client.core import BROKEN, Answer, KeepAliveBody, KeepAliveCallback, Plan, Send, Settings, Sleep
from wakeful.client.errors import ServiceUnavailable
from wakeful.client.models import Reply
from wakeful.client.sse import Cursor, Decoder, Event, Gap
from wakeful.wire.sessions import Session

T = TypeVar("T")


class AsyncClient:
    """An asyncio client for a wakeful (or opencode) server. `on_keepalive` may be a coroutine function.

    Long calls (`prompt`, `command`, `shell`, `reply`, `wait`) have no time limit of their own: they
    last as long as the server keeps sending keep-alive bytes, and fail when it goes silent for 3
    keep-alive intervals, or when the caller's `deadline` (seconds) passes. A broken connection is
    retried with the same messageID, which never starts a second run.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:4096",
        *,
        password: str | None = None,
        username: str = "opencode",
        directory: str | None = None,
        connect_timeout: float = 10.0,
        response_timeout: float = 60.0,
        keepalive_interval: float | None = None,
        events_silence: float = 60.0,
        retries: int = 6,
        backoff: float = 0.25,
        max_backoff: float = 10.0,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
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
        self._calls = Calls(self.settings)
        options = core.http_options(
            base_url, password=password, username=username, directory=directory, headers=headers
        )
        self._http = httpx.AsyncClient(transport=transport, **options)

    # --- lifecycle ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- the driver ---------------------------------------------------------------------------

    async def _run(self, plan: Plan[T]) -> T:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = plan.throw(error) if error is not None else plan.send(value)
            except StopIteration as stop:
                result: T = stop.value
                return result
            value, error = None, None
            try:
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                else:
                    value = await self._send(step)
            except Exception as exc:  # the plan decides what a failure means
                error = exc

    async def _send(self, send: Send) -> Answer:
        request = self._http.build_request(
            send.method,
            send.path,
            params=send.params,
            json=send.json,
            headers=send.headers,
            timeout=send.timeout(self.settings),
        )
        response = await self._http.send(request, stream=True)
        try:
            if not (send.long and response.status_code == 200):
                return Answer(response.status_code, response.headers, await response.aread())
            core.silence_limit(response, send, self.settings)
            body = KeepAliveBody()
            async for chunk in response.aiter_bytes():
                for _ in range(body.feed(chunk)):
                    send.keepalives += 1
                    if send.on_keepalive is not None:
                        result = send.on_keepalive()
                        if inspect.isawaitable(result):
                            await result
                send.check_deadline()
            return Answer(response.status_code, response.headers, body.body)
        finally:
            await response.aclose()

    # --- sessions -----------------------------------------------------------------------------

    async def create_session(
        self,
        *,
        title: str | None = None,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Session:
        return await self._run(
            self._calls.create_session(title=title, parent_id=parent_id, metadata=metadata)
        )

    async def list_sessions(
        self, *, limit: int | None = None, search: str | None = None, roots: bool | None = None
    ) -> list[Session]:
        return await self._run(self._calls.list_sessions(limit=limit, search=search, roots=roots))

    async def get_session(self, session_id: str) -> Session:
        return await self._run(self._calls.get_session(session_id))

    async def update_session(
        self, session_id: str, *, title: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Session:
        return await self._run(self._calls.update_session(session_id, title=title, metadata=metadata))

    async def delete_session(self, session_id: str) -> bool:
        return await self._run(self._calls.delete_session(session_id))

    async def messages(self, session_id: str, *, limit: int | None = None) -> list[Reply]:
        return await self._run(self._calls.messages(session_id, limit=limit))

    async def message(self, session_id: str, message_id: str) -> Reply:
        return await self._run(self._calls.message(session_id, message_id))

    # --- runs ---------------------------------------------------------------------------------

    async def prompt(
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
    ) -> Reply:
        """Run the agent on a prompt and return its answer; raises RunFailed if the run failed."""
        body = Calls.prompt_body(
            text,
            parts=parts,
            message_id=message_id,
            agent=agent,
            model=model,
            system=system,
            tools=tools,
            no_reply=no_reply,
            variant=variant,
        )
        return await self._run(
            self._calls.prompt(
                session_id, body, on_keepalive=on_keepalive, deadline=deadline, run_deadline=run_deadline
            )
        )

    async def prompt_async(
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
    ) -> str:
        """Start a run and return its messageID at once (pick the answer up with `reply`)."""
        body = Calls.prompt_body(
            text,
            parts=parts,
            message_id=message_id,
            agent=agent,
            model=model,
            system=system,
            tools=tools,
            variant=variant,
        )
        return await self._run(self._calls.prompt_async(session_id, body, run_deadline=run_deadline))

    async def command(
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
    ) -> Reply:
        return await self._run(
            self._calls.command(
                session_id,
                command,
                arguments,
                message_id=message_id,
                agent=agent,
                model=model,
                parts=parts,
                on_keepalive=on_keepalive,
                deadline=deadline,
                run_deadline=run_deadline,
            )
        )

    async def shell(
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
    ) -> Reply:
        return await self._run(
            self._calls.shell(
                session_id,
                command,
                agent=agent,
                model=model,
                message_id=message_id,
                on_keepalive=on_keepalive,
                deadline=deadline,
                run_deadline=run_deadline,
            )
        )

    async def abort(self, session_id: str) -> bool:
        return await self._run(self._calls.abort(session_id))

    async def reply(
        self,
        session_id: str,
        message_id: str,
        *,
        on_keepalive: KeepAliveCallback | None = None,
        deadline: float | None = None,
    ) -> Reply:
        """The answer to the prompt `message_id`: waits for it if the run is still going."""
        return await self._run(
            self._calls.reply(session_id, message_id, on_keepalive=on_keepalive, deadline=deadline)
        )

    async def wait(
        self, session_id: str, *, on_keepalive: KeepAliveCallback | None = None, deadline: float | None = None
    ) -> Session:
        """Wait until nothing is running or queued in the session."""
        return await self._run(self._calls.wait(session_id, on_keepalive=on_keepalive, deadline=deadline))

    # --- events -------------------------------------------------------------------------------

    async def events(
        self, last_event_id: str | None = None, *, control: bool = False
    ) -> AsyncIterator[Event | Gap]:
        """Every event of the server, forever: reconnects with Last-Event-ID, never repeats one, and
        yields a `Gap` when the server could not replay what was missed. `control=True` also
        yields `server.connected` (after each connect) and `server.heartbeat`."""
        cursor = Cursor(last_event_id, control=control)
        failures = 0
        while True:
            cursor.progressed = False
            error: BaseException | None = None
            try:
                async with self._http.stream(
                    "GET",
                    "/event",
                    headers={"Accept": "text/event-stream", **cursor.headers()},
                    timeout=core.events_timeout(self.settings),
                ) as response:
                    if response.status_code != 200:
                        core.checked(Answer(response.status_code, response.headers, await response.aread()))
                    decoder = Decoder()
                    async for line in response.aiter_lines():
                        message = decoder.feed(line)
                        if message is not None and (item := cursor.accept(message)) is not None:
                            yield item
            except (*BROKEN, ServiceUnavailable) as exc:
                error = exc
            failures = 1 if cursor.progressed else failures + 1
            await asyncio.sleep(core.event_failure(self.settings, failures, error))
