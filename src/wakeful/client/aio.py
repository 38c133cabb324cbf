"""`wakeful.AsyncClient`: the asyncio client; the same plans as `Client`, run with `await`."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import aclosing
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from wakeful.client import core
from wakeful.client.calls import Build, Calls
from wakeful.client.core import Answer, KeepAliveBody, Plan, Send, Sleep, Walk
from wakeful.client.sse import RECONNECT, Event, Gap, Subscription

P = ParamSpec("P")
T = TypeVar("T")


class AsyncClient(Calls[httpx.AsyncClient, httpx.AsyncBaseTransport]):
    """An asyncio client for a wakeful (or opencode) server; what its calls guarantee is said on
    `Calls`. `on_keepalive` may be a coroutine function."""

    def _open(self, transport: httpx.AsyncBaseTransport | None, options: dict[str, Any]) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transport, **options)

    @staticmethod
    def _method(build: Build[P, T]) -> Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]:
        @functools.wraps(build)
        async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return await self._run(build(self, *args, **kwargs))

        return method

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
        walk = Walk(plan)
        for step in walk:
            with walk.outcome():
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                else:
                    walk.answer = await self._send(step)
        return walk.result

    async def _send(self, send: Send) -> Answer:
        async with aclosing(await self._http.send(self._request(send), stream=True)) as response:
            if not core.keeps_alive(response, send, self.settings):
                return Answer.of(response, await response.aread())
            body = KeepAliveBody()
            async for chunk in response.aiter_bytes():
                for _ in range(body.feed(chunk)):
                    if inspect.isawaitable(result := send.keepalive()):
                        await result
                send.check_deadline()
            return Answer.of(response, body.body)

    # --- events -------------------------------------------------------------------------------

    async def events(
        self, last_event_id: str | None = None, *, control: bool = False
    ) -> AsyncIterator[Event | Gap]:
        """Every event of the server, forever (see `Calls`)."""
        subscription = Subscription(self.settings, last_event_id, control=control)
        while True:
            try:
                request = self._request(subscription.connect())
                async with aclosing(await self._http.send(request, stream=True)) as response:
                    if response.status_code != 200:
                        core.checked(Answer.of(response, await response.aread()))
                    async for line in response.aiter_lines():
                        if (item := subscription.feed(line)) is not None:
                            yield item
            except RECONNECT as exc:
                subscription.broke(exc)
            await asyncio.sleep(subscription.pause())
