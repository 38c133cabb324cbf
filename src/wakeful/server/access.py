"""Every HTTP request as an operator sees it: a request id, an access-log line, a span, two metrics.

A pure ASGI middleware (BaseHTTPMiddleware would buffer streams), outermost so that it also sees the
requests that auth refuses. The request id is the client's `X-Request-ID` when it sends a safe one,
else a new one; it is echoed in the response's `X-Request-ID` and set for the log lines of the
request and of the run it submits. The span continues the trace of the request's `traceparent`.
The access-log line, the span's end and the metrics wait for the response's last byte, so a held
call is logged when its answer has gone out, with its whole duration and its `X-Wakeful-Message-ID`.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wakeful.telemetry import logs, tracing
from wakeful.telemetry.metrics import HTTP_METHODS, Metrics

HEADER = "X-Request-ID"
_REQUEST_ID = HEADER.lower().encode()
_MESSAGE_ID = b"x-wakeful-message-id"


class RequestTelemetry:
    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = scope["headers"]
        rid = logs.request_id(next((v for k, v in headers if k == _REQUEST_ID), None))
        echo = (_REQUEST_ID, rid.encode())
        status = 500  # unless a response starts: an exception escaped
        message_id: str | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, message_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", ()):
                    if key == _MESSAGE_ID:
                        message_id = value.decode("latin-1")
                message = {**message, "headers": [*message.get("headers", ()), echo]}
            await send(message)

        token = logs.REQUEST_ID.set(rid)
        try:
            with tracing.span(scope["method"], kind="server", parent=tracing.incoming(headers)) as span:
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    if span.recording:
                        self._describe(span, scope, status, rid, message_id)
        finally:
            self._record(scope, status, time.perf_counter() - started, message_id)
            logs.REQUEST_ID.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float, message_id: str | None) -> None:
        method: str = scope["method"]
        label = method if method in HTTP_METHODS else "other"
        route = _route(scope) or "unmatched"
        self.metrics.http_requests.labels(label, route, str(status)).inc()
        self.metrics.http_duration.labels(label, route).observe(seconds)
        if self.access_log:
            client = scope.get("client")
            logs.access(method, scope["path"], status, seconds, message_id, client[0] if client else None)

    @staticmethod
    def _describe(span: tracing.Span, scope: Scope, status: int, rid: str, message_id: str | None) -> None:
        """The span's name and attributes, by the HTTP semantic conventions."""
        method = scope["method"]
        route = _route(scope)
        span.rename(f"{method} {route}" if route else method)
        span.update(
            {
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
                "http.response.status_code": status,
                "wakeful.request.id": rid,
            }
        )
        if route:
            span.set("http.route", route)
        if message_id:
            span.set("wakeful.message.id", message_id)
        client = scope.get("client")
        if client:
            span.set("client.address", client[0])
        for key, value in scope["headers"]:
            if key == b"user-agent":
                span.set("user_agent.original", value.decode("latin-1"))
        if status >= 500:
            span.fail(str(status))


def _route(scope: Scope) -> str | None:
    """The template of the route that answered (`/session/{sessionID}`), once routing has run."""
    path: str | None = getattr(scope.get("route"), "path", None)
    return path
