"""The one place that turns errors into HTTP responses, in the reference's body for each status.

404 `{"name":"NotFoundError","data":{...}}`; 400 `{"_tag":"InvalidRequestError",...}`; 409
`{"_tag":"SessionBusyError"|"ConflictError",...}`; statuses the reference never sends (401, 405, 503,
500) use the `_tag` form too. Refusals by the framework itself (an unknown path, a method the path does
not have, a body it cannot parse) go through the same hierarchy, so every error body is one of the
models in `wakeful.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from wakeful.errors import (
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    RequestError,
    UnknownError,
)

log = logging.getLogger("wakeful.server")


def error_response(
    exc: RequestError, status: int | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """`exc`'s body; `status` and `headers` carry what the framework decided, when it decided."""
    return Response(
        exc.body().render(),
        status_code=status or exc.status,
        headers={**(headers or {}), **exc.headers()},
        media_type="application/json",
    )


def _validation_error(exc: RequestValidationError) -> InvalidRequestError:
    errors: list[Any] = list(exc.errors())
    if not errors:
        return InvalidRequestError("Invalid request")
    first = errors[0]
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error")
        return InvalidRequestError("Request body is not valid JSON" + (f": {reason}" if reason else ""))
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(loc) or None
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "extra_forbidden":
        message = f"Unknown field: {field}"
    elif field:
        message = f"{field}: {message}"
    return InvalidRequestError(message, field=field)


def _framework_error(exc: StarletteHTTPException) -> RequestError:
    """A refusal by Starlette or FastAPI, as the error of ours that means the same."""
    detail = str(exc.detail)
    if exc.status_code == 404:
        return NotFoundError("Not found" if detail == "Not Found" else detail)
    if exc.status_code == 405:
        return MethodNotAllowedError(detail)
    if exc.status_code == 413:
        return PayloadTooLargeError(detail, field="body")
    if exc.status_code < 500:
        return InvalidRequestError(detail)
    return UnknownError(detail)


def handled_response(exc: Exception) -> Response | None:
    """The answer to an error a request's handling raised, or None for one nobody expected (the
    server error middleware answers those, with a 500 and a log line). FastAPI's exception
    handlers and the fast paths (server/routing.py) both answer through here."""
    if isinstance(exc, RequestError):
        return error_response(exc)
    if isinstance(exc, RequestValidationError):
        return error_response(_validation_error(exc))
    if isinstance(exc, StarletteHTTPException):
        # The framework's status stands (a 405 keeps its `Allow` header, a 413 stays a 413).
        return error_response(_framework_error(exc), exc.status_code, exc.headers)
    return None


def install(app: FastAPI) -> None:
    async def _handled(_: Request, exc: Exception) -> Response:
        response = handled_response(exc)
        assert response is not None, "registered for the handled errors only"
        return response

    for handled in (RequestError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(handled, _handled)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(UnknownError(str(exc) or type(exc).__name__))
