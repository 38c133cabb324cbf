"""Structured output (`format: {type: "json_schema", schema, retryCount}`) on the scripted model: the
StructuredOutput tool, the validated answer in `info.structured`, corrections, StructuredOutputError."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.http import tool_parts, validate_all
from tests.support.inproc import answer, new_session, prompt_run, scripted, submit
from wakeful.errors import InvalidRequestError
from wakeful.run.manager import Reply
from wakeful.run.runtime import Runtime

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"healthy": {"type": "boolean"}, "pods": {"type": "integer", "minimum": 0}},
    "required": ["healthy", "pods"],
    "additionalProperties": False,
}



def answer_with(arguments: dict[str, Any]) -> str:
    return f"TOOL StructuredOutput {json.dumps(arguments)}"


async def run(runtime: Runtime, text: str, **output: Any) -> tuple[Reply, list[dict[str, Any]]]:
    session = await new_session(runtime)
    body = {"format": {"type": "json_schema", "schema": SCHEMA, **output}}
    reply = await answer(await submit(runtime, prompt_run(runtime, session, text, **body)))
    stored = await runtime.messages.list_raw(session.id)
    validate_all(stored)
    return reply, stored


async def test_a_valid_answer_is_stored_in_structured(runtime: Runtime) -> None:
    reply, stored = await run(runtime, f"TOOL read {{}}\n{answer_with({'healthy': True, 'pods': 3})}")
    assert reply["info"].get("error") is None
    assert reply["info"]["structured"] == {"healthy": True, "pods": 3}
    assert stored[0]["info"]["format"]["type"] == "json_schema"
    (request, final) = scripted(runtime).requests  # read first, then the answer ends the run
    assert request.request.tool_choice == "required"
    offered = {t.name: t for t in request.request.tools}
    assert offered["StructuredOutput"].parameters == SCHEMA
    assert any("StructuredOutput tool" in s for s in request.request.system)
    del final


async def test_an_invalid_answer_is_corrected_by_the_model(runtime: Runtime) -> None:
    script = f"{answer_with({'healthy': 'yes'})}\n{answer_with({'healthy': False, 'pods': 0})}"
    reply, stored = await run(runtime, script)
    assert reply["info"]["structured"] == {"healthy": False, "pods": 0}
    first = next(p for m in stored for p in tool_parts(m))
    assert first["state"]["status"] == "error"
    assert "'pods' is a required property" in first["state"]["error"]
    assert "is not of type 'boolean'" in first["state"]["error"]


async def test_an_answer_that_never_validates_is_a_structured_output_error(runtime: Runtime) -> None:
    script = "\n".join([answer_with({"pods": -1})] * 3)
    reply, stored = await run(runtime, script, retryCount=1)
    assert "structured" not in reply["info"]
    assert reply["info"]["error"] == {
        "name": "StructuredOutputError",
        "data": {"message": "The structured answer never matched the schema", "retries": 1},
    }
    assert len([p for m in stored for p in tool_parts(m)]) == 2  # the first try and one correction


async def test_a_text_answer_is_accepted_only_if_it_is_valid_json(runtime: Runtime) -> None:
    reply, _ = await run(runtime, 'REPLY {"healthy": true, "pods": 7}')
    assert reply["info"]["structured"] == {"healthy": True, "pods": 7}
    reply, _ = await run(runtime, "REPLY all good, 7 pods")
    assert reply["info"]["error"]["name"] == "StructuredOutputError"
    assert reply["info"]["error"]["data"]["retries"] == 0


async def test_a_schema_that_is_not_an_object_is_wrapped(runtime: Runtime) -> None:
    session = await new_session(runtime)
    schema = {"type": "array", "items": {"type": "string"}}
    run_ = prompt_run(
        runtime,
        session,
        answer_with({"value": ["a", "b"]}),
        format={"type": "json_schema", "schema": schema},
    )
    reply = await answer(await submit(runtime, run_))
    assert reply["info"]["structured"] == ["a", "b"]


async def test_an_invalid_schema_is_refused_before_the_run(runtime: Runtime) -> None:
    session = await new_session(runtime)
    with pytest.raises(InvalidRequestError) as refused:
        prompt_run(runtime, session, "REPLY x", format={"type": "json_schema", "schema": {"type": 12}})
    assert refused.value.field == "format.schema"
