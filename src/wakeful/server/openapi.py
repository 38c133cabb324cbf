"""Our own OpenAPI document (`GET /doc`): FastAPI's, corrected to what the server really answers.

FastAPI documents 422 validation errors; wakeful answers 400 `InvalidRequestError`, 404
`NotFoundError` (`PermissionNotFoundError` for a request id, `McpServerNotFoundError` for an MCP
server's name), 409 and 503 in the reference's shapes, so those replace it; a route with a body may
answer 413 with the `InvalidRequestError` body. The error schemas are
those of the body models in `wakeful.errors` (the models that render the bodies), each named after
its error class; 401, 405 and 500 can answer any route and are documented as schemas only. `/event`
is documented as the SSE stream it is, its schema the `Event` envelope of each `data:` line.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from wakeful.errors import (
    ConflictError,
    InvalidRequestError,
    McpServerNotFoundError,
    MethodNotAllowedError,
    NotFoundError,
    PermissionNotFoundError,
    RequestError,
    ServiceUnavailableError,
    SessionBusyError,
    UnauthorizedError,
    UnknownError,
)

ERRORS: tuple[type[RequestError], ...] = (
    InvalidRequestError,
    UnauthorizedError,
    NotFoundError,
    PermissionNotFoundError,
    McpServerNotFoundError,
    MethodNotAllowedError,
    SessionBusyError,
    ConflictError,
    ServiceUnavailableError,
    UnknownError,
)
REF = "#/components/schemas/{model}"

CONFLICT_ROUTES = {
    "session.prompt",
    "session.prompt_async",
    "session.command",
    "session.shell",
    "session.deleteMessage",
}
# The routes that answer 503 while the server drains (readiness also when the store does not answer).
UNAVAILABLE_ROUTES = {
    "session.prompt",
    "session.prompt_async",
    "session.command",
    "session.shell",
    "session.create",
    "global.ready",
}


def error_schemas() -> dict[str, Any]:
    """Each error's body schema under the error's name, plus the models those schemas refer to."""
    schemas: dict[str, Any] = {}
    for error in ERRORS:
        schema = error.body_model.model_json_schema(mode="serialization", ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[error.__name__] = {**schema, "title": error.__name__}
    return schemas


def _ref(error: type[RequestError]) -> dict[str, str]:
    return {"$ref": REF.format(model=error.__name__)}


def _json(error: type[RequestError], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(error)}}}


def build(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(error_schemas())
    for path, operations in doc.get("paths", {}).items():
        for op in operations.values():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            for callback in op.get("callbacks", {}).values():  # requests wakeful makes: no refusals
                for item in callback.values():
                    for request in item.values():
                        request["responses"].pop("422", None)
            for content in responses.get("200", {}).get("content", {}).values():
                # A non-JSON body (the event stream) documented by a model: FastAPI also calls it
                # a string, which no event would match.
                if "$ref" in content.get("schema", {}):
                    content["schema"].pop("type", None)
            responses["400"] = _json(InvalidRequestError, "Bad request: nothing was changed")
            if "requestBody" in op:
                responses["413"] = _json(InvalidRequestError, "The body is over the server's size limit")
            if "{sessionID}" in path:
                responses["404"] = _json(NotFoundError, "Unknown session, message or permission request")
            elif "{requestID}" in path:
                responses["404"] = _json(PermissionNotFoundError, "No pending request with this id")
            elif path.startswith("/mcp/{name}"):
                responses["404"] = _json(McpServerNotFoundError, "The project has no MCP server of this name")
            elif op.get("operationId") == "session.create":
                responses["404"] = _json(NotFoundError, "Unknown parent session")
            if op.get("operationId") in CONFLICT_ROUTES:
                responses["409"] = {
                    "description": "Session busy (shell, message deletion) or messageID conflict",
                    "content": {
                        "application/json": {
                            "schema": {"anyOf": [_ref(SessionBusyError), _ref(ConflictError)]}
                        }
                    },
                }
            if op.get("operationId") in UNAVAILABLE_ROUTES:
                responses["503"] = _json(ServiceUnavailableError, "Draining for shutdown (or not ready); retry after Retry-After")
    app.openapi_schema = doc
    return doc


def install(app: FastAPI) -> None:
    """`app.openapi()` builds the document once; `GET /doc` serves it. The first request builds it
    in a thread (0.3 to 0.8 s: on the loop it would stall every held call), so a server that is
    never asked for it neither spends the time at start-up nor keeps the document in memory."""
    app.openapi = lambda: build(app)  # type: ignore[method-assign]

    async def doc(request: Request) -> JSONResponse:
        return JSONResponse(app.openapi_schema or await asyncio.to_thread(app.openapi))

    app.add_route("/doc", doc, include_in_schema=False)
