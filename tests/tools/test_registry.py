"""The built-in tool set: names, read-only flags, and exactly the schemas the model sees."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from wakeful.tools.registry import ALL_TOOLS, builtin_tools, register


def test_names_and_read_only() -> None:
    tools = builtin_tools()
    assert set(tools) == {
        "bash",
        "read",
        "write",
        "edit",
        "glob",
        "grep",
        "list",
        "todowrite",
        "todoread",
        "task",
        "webfetch",
        "apply_patch",
    }
    assert {name for name, tool in tools.items() if tool.read_only} == {
        "read",
        "glob",
        "grep",
        "list",
        "todoread",
        "task",
        "webfetch",
    }
    tools.pop("bash")
    assert "bash" in builtin_tools()  # each call gets its own mapping


def test_a_name_is_registered_once() -> None:
    tools = builtin_tools()
    with pytest.raises(ValueError, match="'read' is already registered"):
        register(tools, tools["read"])


def test_schemas_are_strict_objects() -> None:
    for tool in ALL_TOOLS:
        schema = tool.definition.parameters
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert set(schema.get("required", [])) <= set(schema["properties"])
        assert len(tool.definition.description) > 80, tool.definition.name


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _object(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


EXPECTED: dict[str, dict[str, Any]] = {
    "bash": _object(
        {
            "command": _string("The command to execute"),
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Optional timeout in milliseconds",
            },
            "workdir": _string("Directory to run in, absolute or relative to the project directory"),
            "description": _string("Clear, concise description of what this command does in 5-10 words"),
        },
        "command",
    ),
    "read": _object(
        {
            "filePath": _string("The path to the file to read", minLength=1),
            "offset": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "The line number to start from (0-based)",
            },
            "limit": {"type": "integer", "minimum": 1, "description": "The number of lines to read"},
        },
        "filePath",
    ),
    "write": _object(
        {
            "filePath": _string("The path to the file to write", minLength=1),
            "content": _string("The content to write to the file"),
        },
        "filePath",
        "content",
    ),
    "edit": _object(
        {
            "filePath": _string("The path to the file to modify", minLength=1),
            "oldString": _string("The text to replace"),
            "newString": _string("The text to replace it with"),
            "replaceAll": {
                "type": "boolean",
                "default": False,
                "description": "Replace all occurrences of oldString (default false)",
            },
        },
        "filePath",
        "oldString",
        "newString",
    ),
    "glob": _object(
        {
            "pattern": _string("The glob pattern to match files against"),
            "path": _string("The directory to search in"),
        },
        "pattern",
    ),
    "grep": _object(
        {
            "pattern": _string("The regex pattern to search for", minLength=1),
            "path": _string("The directory (or file) to search in"),
            "include": _string("File pattern to include, e.g. '*.py'"),
        },
        "pattern",
    ),
    "list": _object(
        {
            "path": _string("The directory to list"),
            "ignore": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Glob patterns to ignore",
            },
        }
    ),
    "todowrite": _object(
        {
            "todos": {
                "type": "array",
                "description": "The updated todo list",
                "items": _object(
                    {
                        "content": _string("Brief description of the task"),
                        "status": _string(
                            "Current status of the task",
                            enum=["pending", "in_progress", "completed", "cancelled"],
                        ),
                        "priority": _string("Priority of the task", enum=["high", "medium", "low"]),
                        "id": _string("Unique identifier for the todo item"),
                    },
                    "content",
                    "status",
                    "priority",
                ),
            }
        },
        "todos",
    ),
    "todoread": _object({}),
    "task": _object(
        {
            "description": _string("What the task is about, in three to five words"),
            "prompt": _string(
                "Everything the subagent needs to know to do the task, and what to report back"
            ),
            "subagent_type": _string("The agent that does the task: one of those listed"),
            "task_id": _string(
                "Only to continue an earlier task: the task_id its result gave. The subagent then goes on "
                "in the same session, with what it did before, instead of starting afresh"
            ),
            "command": _string("The command that started this task, if one did"),
        },
        "description",
        "prompt",
        "subagent_type",
    ),
    "webfetch": _object(
        {
            "url": _string("The http:// or https:// URL to fetch"),
            "format": _string(
                "How to give the content: markdown (the default), text or html",
                enum=["markdown", "text", "html"],
                default="markdown",
            ),
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Seconds to wait at most (default 30, at most 120)",
            },
        },
        "url",
    ),
    "apply_patch": _object(
        {
            "patchText": _string(
                "The whole patch, from the line '*** Begin Patch' to the line '*** End Patch'"
            )
        },
        "patchText",
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_generated_schema(name: str) -> None:
    assert builtin_tools()[name].definition.parameters == EXPECTED[name]
