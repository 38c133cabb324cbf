"""`GET /doc` documents every answer: each JSON 200 has its schema, each error status its body model,
and the bodies the error models render match what the document says (and the reference's schemas)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support.schemas import validate
from wakeful.config import ServerConfig
from wakeful.errors import (
    ConflictError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    RequestError,
    ServiceUnavailableError,
    SessionBusyError,
    UnauthorizedError,
    UnknownError,
)
from wakeful.server.app import create_app
from wakeful.server.openapi import ERRORS

SAMPLES: list[RequestError] = [
    InvalidRequestError("limit must be a non-negative integer", field="limit"),
    InvalidRequestError("Invalid request"),
    UnauthorizedError("Authentication required"),
    NotFoundError("Session not found: ses_1"),
    MethodNotAllowedError("Method Not Allowed"),
    SessionBusyError("ses_1"),
    ConflictError("messageID msg_1 was already used", resource="msg_1"),
    ConflictError("conflict"),
    ServiceUnavailableError("The server is shutting down"),
    UnknownError("boom"),
]
# The reference's schema for each body, where its document has one.
REFERENCE_SCHEMA = {
    InvalidRequestError: "InvalidRequestError",
    UnauthorizedError: "UnauthorizedError",
    NotFoundError: "NotFoundError",
    SessionBusyError: "SessionBusyError",
    ConflictError: "ConflictError",
    ServiceUnavailableError: "ServiceUnavailableError",
    UnknownError: "UnknownError1",
}


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    return create_app(ServerConfig.build(env={}, data_dir=data_dir)).openapi()


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield path, f"{method.upper()} {path}", op


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _schema_of(response: dict[str, Any], media: str = "application/json") -> Any:
    return response.get("content", {}).get(media, {}).get("schema")


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"components": doc["components"], **schema})


def test_every_json_answer_has_a_schema(doc: dict[str, Any]) -> None:
    documented = 0
    for _, name, op in _operations(doc):
        ok = op["responses"].get("200")
        if ok is None:
            assert set(op["responses"]) & {"204"}, f"{name} documents no success at all"
            continue
        if "text/event-stream" in ok.get("content", {}):
            continue
        schema = _schema_of(ok)
        assert schema, f"{name}: its JSON 200 has no schema"
        assert "$ref" in schema or "type" in schema or "anyOf" in schema, (name, schema)
        documented += 1
    assert documented >= 20


def test_the_long_calls_and_the_event_stream_document_their_bodies(doc: dict[str, Any]) -> None:
    def ok(method: str, path: str) -> dict[str, Any]:
        response: dict[str, Any] = doc["paths"][path][method]["responses"]["200"]
        return response

    for path in (
        "/session/{sessionID}/message",
        "/session/{sessionID}/command",
        "/session/{sessionID}/shell",
    ):
        held = ok("post", path)
        assert _schema_of(held) == {"$ref": "#/components/schemas/MessageWithParts"}, path
        assert "X-Keepalive-Interval" in held["headers"]
        assert "keep-alive" in held["description"]
    reply = ok("get", "/session/{sessionID}/message/{messageID}/reply")
    assert _schema_of(reply) == {"$ref": "#/components/schemas/MessageWithParts"}
    assert _schema_of(ok("get", "/session/{sessionID}/wait")) == {"$ref": "#/components/schemas/Session"}
    events = _schema_of(ok("get", "/event"), "text/event-stream")
    assert events == {"$ref": "#/components/schemas/Event"}
    assert doc["components"]["schemas"]["Event"]["required"] == ["id", "type", "properties"]


def test_read_routes_document_the_reference_shapes(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    status = _schema_of(doc["paths"]["/session/status"]["get"]["responses"]["200"])
    busy = {"ses_1": {"type": "busy"}, "ses_2": {"type": "retry", "attempt": 1, "message": "m", "next": 5}}
    _validator(doc, status).validate(busy)
    assert not _validator(doc, status).is_valid({"ses_1": {"type": "asleep"}})
    assert schemas["Config"]["type"] == "object"
    assert set(schemas["Agent"]["required"]) >= {"name", "mode", "permission", "options"}
    assert set(schemas["Todo"]["required"]) == {"content", "status", "priority"}
    assert set(schemas["ProviderList"]["required"]) == {"all", "default", "connected"}
    assert set(schemas["ConfigProviders"]["required"]) == {"providers", "default"}


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    prefix = "#/components/schemas/"
    missing = {ref for ref in _refs(doc) if ref.removeprefix(prefix) not in schemas}
    assert not missing


def test_error_responses_reference_the_error_models(doc: dict[str, Any]) -> None:
    def ref(error: type[RequestError]) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{error.__name__}"}

    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, name, op in _operations(doc):
        responses = op["responses"]
        assert "422" not in responses, name
        assert _schema_of(responses["400"]) == ref(InvalidRequestError), name
        if "{sessionID}" in path:
            assert _schema_of(responses["404"]) == ref(NotFoundError), name
        if "409" in responses:
            conflict = _schema_of(responses["409"])
            assert conflict == {"anyOf": [ref(SessionBusyError), ref(ConflictError)]}, name
        if "503" in responses:
            assert _schema_of(responses["503"]) == ref(ServiceUnavailableError), name
    ops = {op["operationId"]: op["responses"] for _, _, op in _operations(doc)}
    assert "409" in ops["session.prompt"] and "409" in ops["session.deleteMessage"]
    assert "503" in ops["session.prompt"] and "503" in ops["session.create"]


def test_every_request_error_is_documented() -> None:
    assert set(ERRORS) == set(RequestError.__subclasses__())


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: f"{type(e).__name__}-{e.message[:12]}")
def test_rendered_error_bodies_match_their_documented_schema(
    doc: dict[str, Any], error: RequestError
) -> None:
    body = json.loads(error.body().render())
    documented = _validator(doc, {"$ref": f"#/components/schemas/{type(error).__name__}"})
    documented.validate(body)
    assert not documented.is_valid({**body, "unexpected": 1})
    assert None not in body.values()  # an unset optional field is left out, not sent as null
    if type(error) in REFERENCE_SCHEMA:
        validate(REFERENCE_SCHEMA[type(error)], body)


def test_error_bodies_keep_their_wire_shape() -> None:
    assert InvalidRequestError("bad", field="limit").body().render() == (
        b'{"_tag":"InvalidRequestError","message":"bad","field":"limit"}'
    )
    assert NotFoundError("gone").body().render() == b'{"name":"NotFoundError","data":{"message":"gone"}}'
    assert SessionBusyError("ses_1").body().render() == (
        b'{"_tag":"SessionBusyError","sessionID":"ses_1","message":"Session ses_1 is busy"}'
    )
    assert ServiceUnavailableError("draining").body().render() == (
        b'{"_tag":"ServiceUnavailableError","message":"draining","service":"wakeful"}'
    )
