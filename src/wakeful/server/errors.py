"""The one place that turns errors into HTTP responses, in the reference's body for each status.

404 `{"name":"NotFoundError","data":{...}}`; 400 `{"_tag":"InvalidRequestError",...}`; 409
`{"_tag":"SessionBusyError"|"ConflictError",...}`; statuses the reference never sends (401, 503, 500)
use the `_tag` form too.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from wakeful.errors import InvalidRequestError, NotFoundError, RequestError

log = logging.getLogger("wakeful.server")


def error_response(exc: RequestError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


def _validation_error(exc: RequestValidationError) -> InvalidRequestError:
    errors: list[Any] = list(exc.errors())
    if not errors:
        return InvalidRequestError("Invalid request")
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(loc) or None
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "json_invalid":
        message = "Request body is not valid JSON"
    elif first.get("type") == "extra_forbidden":
        message = f"Unknown field: {field}"
    elif field:
        message = f"{field}: {message}"
    return InvalidRequestError(message, field=field)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def _request_error(_: Request, exc: RequestError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(
                NotFoundError(str(exc.detail) if exc.detail != "Not Found" else "Not found")
            )
        tag = {405: "MethodNotAllowedError"}.get(
            exc.status_code, "BadRequest" if exc.status_code < 500 else "UnknownError"
        )
        body = {"_tag": tag, "message": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            {"_tag": "UnknownError", "message": str(exc) or type(exc).__name__}, status_code=500
        )
