"""Built-in tools declared once: a pydantic arguments model plus an async function, as in

    @tool("read", read_only=True)
    async def read_tool(args: ReadArgs, ctx: ToolContext) -> ToolResult: ...

The JSON schema the model sees is generated from the arguments model (field descriptions from
`Field(description=...)`), the tool's description is the function's docstring, and arguments that do
not fit the model become one short `ToolError` naming each field and its problem. Validation is
pydantic's lax mode, so a model's "5" or 5.0 for an integer is taken as 5; a null argument counts as
left out; unknown arguments are ignored, although the schema forbids them, as opencode ignores them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Generic, TypeVar, get_type_hints

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, NoDefault
from pydantic_core import ErrorDetails, core_schema

from wakeful.errors import ToolError
from wakeful.providers.base import ToolDefinition
from wakeful.tools.base import ToolContext, ToolResult


class ToolArgs(BaseModel):
    """Base of every built-in tool's arguments model, and of the objects nested in one."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"additionalProperties": False})

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        # Models often send `"offset": null` for an argument they mean to leave out.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


NonBlank = Annotated[str, AfterValidator(_not_blank)]

ArgsT = TypeVar("ArgsT", bound=ToolArgs)


class TypedTool(Generic[ArgsT]):
    """A `Tool` whose arguments are validated into `ArgsT` before `fn` runs."""

    def __init__(
        self, name: str, fn: Callable[[ArgsT, ToolContext], Awaitable[ToolResult]], *, read_only: bool
    ) -> None:
        if not fn.__doc__:
            raise TypeError(f"tool {name}: the function's docstring is the tool's description")
        self.args_model: type[ArgsT] = _args_model(fn)
        self.definition = ToolDefinition(
            name=name, description=inspect.cleandoc(fn.__doc__), parameters=model_schema(self.args_model)
        )
        self.read_only = read_only
        self.fn = fn

    async def call(self, raw_args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            args = self.args_model.model_validate(raw_args)
        except ValidationError as exc:
            raise ToolError(invalid_arguments(self.definition.name, exc)) from None
        return await self.fn(args, ctx)


def tool(
    name: str, *, read_only: bool
) -> Callable[[Callable[[ArgsT, ToolContext], Awaitable[ToolResult]]], TypedTool[ArgsT]]:
    """Declare `fn` as the tool `name`; its first parameter's annotation is the arguments model."""

    def declare(fn: Callable[[ArgsT, ToolContext], Awaitable[ToolResult]]) -> TypedTool[ArgsT]:
        return TypedTool(name, fn, read_only=read_only)

    return declare


def _args_model(fn: Callable[..., Any]) -> Any:
    first = next(iter(inspect.signature(fn).parameters))
    model = get_type_hints(fn).get(first)
    if not (isinstance(model, type) and issubclass(model, ToolArgs)):
        raise TypeError(f"{fn.__qualname__}: the first parameter must be annotated with a ToolArgs model")
    return model


class _ModelFacing(GenerateJsonSchema):
    """Optional fields are simply not required: no `null` alternative and no `null` default, since
    `ToolArgs` treats null as absent anyway."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        value = super().get_default_value(schema)
        return NoDefault if value is None else value


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of `model` as a model needs it: no titles, nested models written in place."""
    schema = model.model_json_schema(schema_generator=_ModelFacing)
    defs = schema.pop("$defs", {})
    return _inline(schema, defs, ())


def _inline(node: dict[str, Any], defs: dict[str, Any], within: tuple[str, ...]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is not None:
        name = ref.removeprefix("#/$defs/")
        if name in within:
            raise TypeError(f"recursive tool arguments cannot be inlined: {' -> '.join([*within, name])}")
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return _inline({**defs[name], **rest}, defs, (*within, name))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title":
            continue
        if key == "properties":  # names, not schema keywords: a property may be called "title"
            out[key] = {name: _inline(sub, defs, within) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _inline(value, defs, within)
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            out[key] = [_inline(sub, defs, within) for sub in value]
        else:
            out[key] = value  # keywords whose values are data: type, enum, default, required, ...
    return out


_PROBLEMS = {"missing": "is required", "model_type": "should be an object"}


def invalid_arguments(tool_name: str, exc: ValidationError) -> str:
    """One line for the model, e.g. "Invalid arguments for read: 'offset' should be greater than or
    equal to 0; 'filePath' is required"."""
    problems = [f"{_where(e)} {_problem(e)}" for e in exc.errors(include_url=False)]
    return f"Invalid arguments for {tool_name}: " + "; ".join(problems)


def _where(error: ErrorDetails) -> str:
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return f"'{path}'" if path else "the arguments"


def _problem(error: ErrorDetails) -> str:
    if error["type"] in _PROBLEMS:
        return _PROBLEMS[error["type"]]
    if error["type"] == "value_error":  # raised by one of our validators, already phrased for this
        return str(error.get("ctx", {}).get("error", error["msg"]))
    # pydantic says "Input should be ...", "String should have ...": the field is the subject here.
    text = re.sub(r"^\w+ (?=should )", "", error["msg"])
    return text if text.startswith("should ") else f"is invalid: {text}"
