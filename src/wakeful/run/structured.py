"""Structured output: a prompt with `format: {type: "json_schema", schema, retryCount}`.

As in the reference, the run offers the model one more tool, `StructuredOutput`, whose arguments
are the schema (a schema that does not describe an object is wrapped as `{"value": ...}`, since
tool arguments are objects), asks the provider to require a tool call, and adds an instruction to
the system prompt. Arguments that validate end the run: they are stored in the last assistant
message's `structured`. Arguments that do not validate fail the tool call with the validation
errors, which the model sees and may correct, `retryCount` times (default 2); after that, or if the
model ends its turn with text that is not itself valid JSON for the schema, the run ends with
`StructuredOutputError`.
"""

from __future__ import annotations

import json
from typing import Any

from wakeful.errors import InvalidRequestError, StructuredOutputError, ToolError
from wakeful.providers.base import ToolDefinition
from wakeful.tools.base import ToolContext, ToolResult
from wakeful.wire.messages import OutputFormatJsonSchema

NAME = "StructuredOutput"
DEFAULT_RETRIES = 2
DESCRIPTION = (
    "Give your final answer in the structured form the caller asked for. Call this once, at the "
    "end, after any other tool calls you need; its arguments are the answer and must follow the "
    "schema. Nothing else happens after this call."
)
_MISSING = object()


def _validator_class(schema: dict[str, Any]) -> Any:
    """The jsonschema validator of `schema`'s dialect (2020-12 unless it names another)."""
    # jsonschema loads with the first prompt that asks for structured output, not with the server.
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    return validator_for(schema, default=Draft202012Validator)


def check_schema(schema: dict[str, Any], field: str = "format.schema") -> None:
    """Refuse (400) a schema that is not a valid JSON Schema."""
    from jsonschema.exceptions import SchemaError

    try:
        _validator_class(schema).check_schema(schema)
    except SchemaError as exc:
        raise InvalidRequestError(f"{field}: not a valid JSON Schema: {exc.message}", field=field) from None


class StructuredOutput:
    """The `StructuredOutput` tool of one run; it remembers the answer and the failed attempts."""

    read_only = True

    def __init__(self, output_format: OutputFormatJsonSchema) -> None:
        schema = output_format.json_schema
        self.retries = DEFAULT_RETRIES if output_format.retryCount is None else output_format.retryCount
        self.wrapped = schema.get("type") != "object"
        parameters = (
            {"type": "object", "properties": {"value": schema}, "required": ["value"]} if self.wrapped else schema
        )
        self.definition = ToolDefinition(name=NAME, description=DESCRIPTION, parameters=parameters)
        self._validator = _validator_class(schema)(schema)
        self.failures = 0
        self._value: Any = _MISSING

    @property
    def answered(self) -> bool:
        return self._value is not _MISSING

    @property
    def value(self) -> Any:
        return None if self._value is _MISSING else self._value

    def problems(self, value: Any) -> list[str]:
        errors = sorted(self._validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:10]]

    async def call(self, raw_args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        value = raw_args.get("value") if self.wrapped else raw_args
        problems = self.problems(value)
        if problems:
            self.failures += 1
            raise ToolError(
                "The answer does not match the schema: " + "; ".join(problems) + ". Call "
                f"{NAME} again with corrected arguments."
            )
        self._value = value
        return ToolResult(output="The structured answer was received.", title=NAME)

    def from_text(self, text: str) -> bool:
        """Accept a final text answer that is itself valid JSON for the schema (a model that
        answers in JSON instead of calling the tool); whether it was."""
        raw = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
        try:
            value = json.loads(raw)
        except ValueError:
            return False
        if self.problems(value):
            return False
        self._value = value
        return True

    def give_up(self, why: str) -> StructuredOutputError:
        return StructuredOutputError(why, retries=min(self.failures, self.retries))
