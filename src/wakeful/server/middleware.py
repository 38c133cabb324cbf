"""Pure ASGI middleware (BaseHTTPMiddleware would buffer streams and hide disconnects): Basic auth,
the Host allow-list, and `send_error` for the refusals they answer before the app runs."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Awaitable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from wakeful.errors import InvalidRequestError, RequestError, UnauthorizedError


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of the request header `name` (lower case), if it was sent."""
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


async def send_error(send: Send, error: RequestError, *, close: bool = False) -> None:
    """Answer `error` as `wakeful.server.errors` would; `close` ends the connection after it."""
    body = error.body().render()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers().items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BasicAuth:
    """HTTP Basic auth, compared in constant time. `OPTIONS` passes so that CORS preflights work."""

    def __init__(self, app: ASGIApp, username: str, password: str) -> None:
        self.app = app
        self._expected = f"{username}:{password}".encode()

    def _authorized(self, scope: Scope) -> bool:
        value = header(scope, b"authorization")
        if value is None:
            return False
        scheme, _, token = value.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, self._expected)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine, as AllowedHosts: a held call keeps no frame of this middleware.
        if scope["type"] != "http" or scope.get("method") == "OPTIONS" or self._authorized(scope):
            return self.app(scope, receive, send)
        return send_error(send, UnauthorizedError("Authentication required"))


def host_name(host: str) -> str:
    """The name in a Host header, without its port or IPv6 brackets, lower case, no trailing dot."""
    if host.startswith("["):
        name = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        name = host.partition(":")[0]
    else:
        name = host
    return name.rstrip(".").lower()


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class AllowedHosts:
    """Refuses (400) a request whose `Host` names another server than this one.

    A web page on another site can make a browser send requests to a loopback server under a name
    that its attacker resolves to 127.0.0.1 (DNS rebinding); the page's own name is then in `Host`.
    Accepted: `localhost`, loopback addresses, the address the request came in on, the address the
    server was told to bind, and `names`; any port. A request without `Host` (HTTP/1.0) comes from
    no browser and passes. Installed only when no password is set: with one, a browser's rebound
    request carries no credentials."""

    def __init__(self, app: ASGIApp, names: Iterable[str], bound: str) -> None:
        self.app = app
        self.names = {"localhost", host_name(bound), *(host_name(n) for n in names)}

    def _allowed(self, scope: Scope) -> bool:
        raw = header(scope, b"host")
        if raw is None:
            return True
        name = host_name(raw.decode("latin-1"))
        server = scope.get("server")
        return name in self.names or _is_loopback(name) or (server is not None and name == server[0])

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: an allowed request goes on as the app's own call, so that no frame of
        # this middleware is kept for as long as a call is held (a thousand held calls, a
        # thousand frames).
        if scope["type"] != "http" or self._allowed(scope):
            return self.app(scope, receive, send)
        return self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        host = (header(scope, b"host") or b"").decode("latin-1")
        error = InvalidRequestError(
            f"Host {host!r} is not this server: it answers to localhost, its own addresses and the "
            "names given with --allowed-host (WAKEFUL_ALLOWED_HOSTS)",
            field="Host",
        )
        await send_error(send, error, close=True)
