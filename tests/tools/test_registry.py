"""The built-in tool set: names, read-only flags and well-formed schemas."""

from __future__ import annotations

import jsonschema

from wakeful.tools.registry import ALL_TOOLS, READ_ONLY, builtin_tools


def test_names_and_read_only() -> None:
    tools = builtin_tools()
    assert set(tools) == {"bash", "read", "write", "edit", "glob", "grep", "list", "todowrite", "todoread"}
    assert READ_ONLY == {"read", "glob", "grep", "list", "todoread"}
    tools.pop("bash")
    assert "bash" in builtin_tools()  # each call gets its own mapping


def test_schemas_are_strict_objects() -> None:
    for tool in ALL_TOOLS:
        schema = tool.definition.parameters
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert set(schema.get("required", [])) <= set(schema["properties"])
        assert len(tool.definition.description) > 80, tool.name
