"""The route class of every router: request bodies decoded as strict JSON, answers serialised the way
`Wire.wire()` serialises, and an optional fast path per route.

A fast path (`fast_path`) answers a route's ordinary requests without FastAPI's request handling,
whose dependency solving re-inspects every declared parameter on every request: a third of what a
call costs before its headers, and a burst of a thousand calls pays it a thousand times at once. It
returns None for anything it does not validate exactly as FastAPI would (a bad value, an unusual
content type), and FastAPI's handler then answers that request as it always did, errors included:
the route's signature stays the one source of its documentation and of its error bodies.

Fast paths are taken by `FastRoutes`, a middleware just inside the user middlewares (the host
check, the body limit, auth and CORS all still apply), not by the route: a held call keeps every
frame it was answered from for as long as it is held, and the router, the exception middleware and
FastAPI's request handling (two exit stacks, its own Request) cost a kilobyte or more per held call
(docs/benchmarks.md, issue 18). A fast path's refusal is answered by `errors.handled_response`, as the
exception middleware would have answered it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pydantic_core
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wakeful.server.errors import handled_response

# A `\uD800`-`\uDFFF` escape: half of a surrogate pair, or a lone surrogate that no UTF-8 can carry.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# More brackets than this, and the body may nest deeper than pydantic answers (255 levels).
_BRACKETS = 200


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise json.JSONDecodeError(f"number out of range: {literal[:40]}", literal, 0)
    return value


def _not_a_number(literal: str) -> Any:
    raise json.JSONDecodeError(f"{literal} is not a JSON number", literal, 0)


def decode_json(body: bytes) -> Any:
    """`body` as JSON as RFC 8259 defines it, so that whatever it holds can be stored and sent again:
    UTF-8 text without lone surrogates (`"\\ud800"`), finite numbers only (no `NaN`, `Infinity`
    or `1e400`), and arrays and objects at most about 200 levels deep (pydantic answers at most
    255). Raises `json.JSONDecodeError`, or `UnicodeDecodeError` for a body that is not UTF-8."""
    text = body.decode("utf-8")
    data = json.loads(text, parse_float=_finite, parse_constant=_not_a_number)
    # Both checks scan the bytes at C speed, and only a body that fails one is parsed again.
    if _SURROGATE_ESCAPE.search(body) or body.count(b"[") + body.count(b"{") > _BRACKETS:
        try:
            # pydantic's parser refuses a lone surrogate (a pair is one character) and nesting past
            # about 200 levels.
            pydantic_core.from_json(text)
        except ValueError as exc:
            raise json.JSONDecodeError(str(exc), text, 0) from None
    return data


class WireRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode_json(await self.body())
        return self._json

    def decoded(self) -> Any:
        """The JSON body if the route has decoded it (before its dependencies run), else None."""
        return getattr(self, "_json", None)


FastPath = Callable[["WireRequest"], Awaitable[Response | None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
_FAST_PATHS: dict[Callable[..., Any], FastPath] = {}


def fast_path(make: Callable[[Any], FastPath]) -> Callable[[Endpoint], Endpoint]:
    """Give the decorated endpoint the fast path `make(endpoint)` (the module docstring says when it
    answers). Put it under the router's decorator, which builds the route when it sees the endpoint."""

    def register(endpoint: Endpoint) -> Endpoint:
        _FAST_PATHS[endpoint] = make(endpoint)
        return endpoint

    return register


def is_json(request: Request) -> bool:
    """The body is declared JSON, as FastAPI reads it without question (anything else is FastAPI's
    to decide)."""
    content_type = request.headers.get("content-type", "")
    return content_type.partition(";")[0].strip().lower() == "application/json"


class WireRoute(APIRoute):
    """A route whose JSON body is read by `decode_json`, and whose response model is dumped without
    the fields that are None (and, FastAPI's default, by alias), like every wire model, so that no
    route repeats `response_model_exclude_none`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["response_model_exclude_none"] = True
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(WireRequest(request.scope, request.receive))

        return handle


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` as if the body a fast path read had not been read yet."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def fast_routes(router: APIRouter) -> list[APIRoute]:
    """The routes of `router` that have a fast path."""
    return [r for r in router.routes if isinstance(r, APIRoute) and r.endpoint in _FAST_PATHS]


class FastRoutes:
    """ASGI middleware: a request for one of `routes` goes to the route's fast path; what that does
    not answer goes on to FastAPI, its body replayed. `routes` is the app's list, which grows as
    routers load after start (server/gate.py); they must be included without a prefix."""

    def __init__(self, app: ASGIApp, routes: list[APIRoute]) -> None:
        self.app = app
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            for route in self._routes:
                match, child = route.matches(scope)
                if match is not Match.FULL:
                    continue
                fast = _FAST_PATHS.get(route.endpoint)
                if fast is not None:
                    scope.update(child)  # as the router would: `route` names it in logs and metrics
                    await self._fast(fast, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _fast(self, fast: FastPath, scope: Scope, receive: Receive, send: Send) -> None:
        response, body = await self._answer(fast, scope, receive)
        if response is not None:
            await response(scope, receive, send)
        else:
            await self.app(scope, receive if body is None else _replay(body, receive), send)

    @staticmethod
    async def _answer(
        fast: FastPath, scope: Scope, receive: Receive
    ) -> tuple[Response | None, bytes | None]:
        """The fast path's response, or else the body it read. Apart from `_fast`: the request
        (its body, the decoded JSON) is not kept by a response that may be held for an hour."""
        request = WireRequest(scope, receive)
        try:
            response = await fast(request)
        except Exception as exc:
            response = handled_response(exc)
            if response is None:
                raise
        return response, None if response is not None else getattr(request, "_body", None)
