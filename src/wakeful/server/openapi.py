"""Our own OpenAPI document (`GET /doc`): FastAPI's, corrected to what the server really answers.

FastAPI documents 422 validation errors; wakeful answers 400 `InvalidRequestError`, 404
`NotFoundError`, 409 and 503 in the reference's shapes, so those replace it. `/event` is documented as
the SSE stream it is, with the events wakeful adds (`server.heartbeat`, `server.gap`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_TAGGED = {
    "type": "object",
    "required": ["_tag", "message"],
    "properties": {"_tag": {"type": "string"}, "message": {"type": "string"}},
}

SCHEMAS: dict[str, Any] = {
    "InvalidRequestError": {
        "type": "object",
        "required": ["_tag", "message"],
        "properties": {
            "_tag": {"type": "string", "enum": ["InvalidRequestError"]},
            "message": {"type": "string"},
            "field": {"type": "string"},
        },
    },
    "NotFoundError": {
        "type": "object",
        "required": ["name", "data"],
        "properties": {
            "name": {"type": "string", "enum": ["NotFoundError"]},
            "data": {
                "type": "object",
                "required": ["message"],
                "properties": {"message": {"type": "string"}},
            },
        },
    },
    "SessionBusyError": {
        "type": "object",
        "required": ["_tag", "sessionID", "message"],
        "properties": {
            "_tag": {"type": "string", "enum": ["SessionBusyError"]},
            "sessionID": {"type": "string"},
            "message": {"type": "string"},
        },
    },
    "ConflictError": {
        "description": "wakeful's addition: a messageID reused with a different request",
        "type": "object",
        "required": ["_tag", "message"],
        "properties": {
            "_tag": {"type": "string", "enum": ["ConflictError"]},
            "message": {"type": "string"},
            "resource": {"type": "string"},
        },
    },
    "UnauthorizedError": {**_TAGGED, "description": "HTTP Basic auth failed (only when a password is set)"},
    "ServiceUnavailableError": {
        **_TAGGED,
        "description": "the server is draining for shutdown; see Retry-After",
    },
    "Event": {
        "type": "object",
        "required": ["id", "type", "properties"],
        "description": (
            "One SSE `data:` frame. Replayable events also carry an SSE `id:` line (their `evt_` id); "
            "reconnect with `Last-Event-ID` to receive what was missed. Types: server.connected, "
            "server.heartbeat, server.gap (wakeful: replay impossible, properties {reason: "
            "'unknown-id'|'overflow', lastEventID}), session.created|updated|deleted|status|idle|error, "
            "message.updated|removed, message.part.updated|removed|delta, todo.updated."
        ),
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "properties": {"type": "object"},
        },
    },
}

CONFLICT_ROUTES = {
    "session.prompt",
    "session.prompt_async",
    "session.command",
    "session.shell",
    "session.deleteMessage",
}
RUN_ROUTES = {"session.prompt", "session.prompt_async", "session.command", "session.shell", "session.create"}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def build(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(SCHEMAS)
    for path, operations in doc.get("paths", {}).items():
        for op in operations.values():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            responses["400"] = _json("InvalidRequestError", "Bad request: nothing was changed")
            if "{sessionID}" in path:
                responses["404"] = _json("NotFoundError", "Unknown session or message")
            if op.get("operationId") in CONFLICT_ROUTES:
                responses["409"] = {
                    "description": "Session busy (shell, message deletion) or messageID conflict",
                    "content": {
                        "application/json": {
                            "schema": {
                                "anyOf": [
                                    {"$ref": "#/components/schemas/SessionBusyError"},
                                    {"$ref": "#/components/schemas/ConflictError"},
                                ]
                            }
                        }
                    },
                }
            if op.get("operationId") in RUN_ROUTES:
                responses["503"] = _json("ServiceUnavailableError", "Shutting down; retry after Retry-After")
            if op.get("operationId") == "event.subscribe":
                responses["200"] = {
                    "description": "Server-sent events",
                    "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/Event"}}},
                }
    app.openapi_schema = doc
    return doc


def install(app: FastAPI) -> None:
    app.openapi = lambda: build(app)  # type: ignore[method-assign]
