"""`wakeful.Client`: the blocking client. Its calls are the plans of `calls`, run with blocking I/O."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from wakeful.client import core
from wakeful.client.calls import Build, Calls
from wakeful.client.core import Answer, KeepAliveBody, Plan, Send, Sleep, Walk
from wakeful.client.sse import RECONNECT, Event, Gap, Subscription

P = ParamSpec("P")
T = TypeVar("T")


class Client(Calls[httpx.Client, httpx.BaseTransport]):
    """A blocking client for a wakeful (or opencode) server; what its calls guarantee is said on `Calls`."""

    def _open(self, transport: httpx.BaseTransport | None, options: dict[str, Any]) -> httpx.Client:
        return httpx.Client(transport=transport, **options)

    @staticmethod
    def _method(build: Build[P, T]) -> Callable[Concatenate[Client, P], T]:
        @functools.wraps(build)
        def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return self._run(build(self, *args, **kwargs))

        return method

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the driver ---------------------------------------------------------------------------

    def _run(self, plan: Plan[T]) -> T:
        walk = Walk(plan)
        for step in walk:
            with walk.outcome():
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
                else:
                    walk.answer = self._send(step)
        return walk.result

    def _send(self, send: Send) -> Answer:
        with closing(self._http.send(self._request(send), stream=True)) as response:
            if not core.keeps_alive(response, send, self.settings):
                return Answer.of(response, response.read())
            body = KeepAliveBody()
            for chunk in response.iter_bytes():
                for _ in range(body.feed(chunk)):
                    send.keepalive()
                send.check_deadline()
            return Answer.of(response, body.body)

    # --- events -------------------------------------------------------------------------------

    def events(self, last_event_id: str | None = None, *, control: bool = False) -> Iterator[Event | Gap]:
        """Every event of the server, forever (see `Calls`)."""
        subscription = Subscription(self.settings, last_event_id, control=control)
        while True:
            try:
                with closing(self._http.send(self._request(subscription.connect()), stream=True)) as response:
                    if response.status_code != 200:
                        core.checked(Answer.of(response, response.read()))
                    for line in response.iter_lines():
                        if (item := subscription.feed(line)) is not None:
                            yield item
            except RECONNECT as exc:
                subscription.broke(exc)
            time.sleep(subscription.pause())
