"""Validation against the reference's own OpenAPI document (opencode 1.18.33, copied in tests/data)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

DATA = Path(__file__).resolve().parents[1] / "data"
OPENAPI = DATA / "opencode-openapi-1.18.33.json"


@functools.cache
def document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(OPENAPI.read_text())
    return data


@functools.cache
def _validator(pointer: str) -> jsonschema.Draft202012Validator:
    doc = document()
    schema = {"components": doc["components"], "$ref": pointer}
    return jsonschema.Draft202012Validator(schema)


def validate(schema_name: str, value: Any) -> None:
    """Raise if `value` does not match `components.schemas.<schema_name>`."""
    _validator(f"#/components/schemas/{schema_name}").validate(value)


def validate_response(method: str, path: str, status: int, value: Any) -> None:
    """Raise if `value` does not match the reference's response schema for that route and status."""
    doc = document()
    op = doc["paths"][path][method.lower()]
    content = op["responses"][str(status)].get("content", {})
    schema = content["application/json"]["schema"]
    escaped = path.replace("~", "~0").replace("/", "~1")
    pointer = f"#/paths/{escaped}/{method.lower()}/responses/{status}/content/application~1json/schema"
    del schema
    validator = jsonschema.Draft202012Validator(
        {"components": doc["components"], "paths": doc["paths"], "$ref": pointer}
    )
    validator.validate(value)


def capture(name: str) -> Any:
    return json.loads((DATA / "captures" / name).read_text())
