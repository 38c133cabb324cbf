"""A prompt's parts are accepted by the same models that storage reads back (issue 12: a text part
with `"time": {}` was accepted, stored, and then broke every read of its session)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from wakeful.wire.base import Wire
from wakeful.wire.bodies import AgentPartInput, FilePartInput, PromptBody, TextPartInput
from wakeful.wire.messages import PART_ADAPTER
from wakeful.wire.parts import AgentPart, FilePart, TextPart

PAIRS: list[tuple[type[Wire], type[Wire]]] = [
    (TextPartInput, TextPart),
    (FilePartInput, FilePart),
    (AgentPartInput, AgentPart),
]


@pytest.mark.parametrize(("given", "stored"), PAIRS)
def test_an_input_part_has_exactly_the_stored_parts_content(given: type[Wire], stored: type[Wire]) -> None:
    content = {
        k: f.annotation for k, f in stored.model_fields.items() if k not in ("id", "sessionID", "messageID")
    }
    accepted = {k: f.annotation for k, f in given.model_fields.items() if k != "id"}
    assert accepted == content


@pytest.mark.parametrize(
    "part",
    [
        {"type": "text", "text": "t", "time": {"start": 1}, "synthetic": True, "metadata": {"a": [1]}},
        {"type": "text", "text": "t", "time": {"start": 1, "end": 2}, "ignored": False},
        {"type": "file", "mime": "text/plain", "url": "data:,x", "filename": "f", "source": {"k": 1}},
        {"type": "agent", "name": "build", "source": {"value": "@build", "start": 0, "end": 6}},
    ],
)
def test_what_a_prompt_accepts_storage_reads_back(part: dict[str, Any]) -> None:
    body = PromptBody.model_validate({"parts": [{**part, "id": "prt_chosen"}]})
    stored = body.parts[0].model_dump(mode="json", exclude_none=True)
    stored.update(sessionID="ses_s", messageID="msg_m")
    assert PART_ADAPTER.validate_python(stored).model_dump(mode="json", exclude_none=True) == stored


@pytest.mark.parametrize(
    ("part", "field"),
    [
        ({"type": "text", "text": "t", "time": {}}, "time"),
        ({"type": "text", "text": "t", "time": {"end": 5}}, "time"),
        ({"type": "text", "text": "t", "time": {"start": "soon"}}, "time"),
        ({"type": "text", "text": "t", "id": "prt"}, "id"),
        ({"type": "text", "text": "t", "id": "prt_a\r\nb"}, "id"),
        ({"type": "text", "text": "t", "id": "msg_a"}, "id"),
        ({"type": "text", "text": "t", "sessionID": "ses_x"}, "sessionID"),
    ],
)
def test_what_storage_could_not_read_back_is_refused(part: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        PromptBody.model_validate({"parts": [part]})
    assert field in refused.value.errors()[0]["loc"]


def test_two_parts_cannot_share_an_id() -> None:
    with pytest.raises(ValidationError, match="same id"):
        PromptBody.model_validate({"parts": [{"type": "text", "text": "a", "id": "prt_x"}] * 2})
    assert len(PromptBody.model_validate({"parts": [{"type": "text", "text": "a"}] * 2}).parts) == 2
