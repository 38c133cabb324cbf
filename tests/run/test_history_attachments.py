"""What a tool returned besides text (an MCP tool's images and files) reaches the model: after the
tool results, as files of a user message."""

from __future__ import annotations

from wakeful.providers.base import Attachment
from wakeful.run.history import to_chat


def test_tool_attachments_follow_the_tool_results() -> None:
    image = {"type": "file", "mime": "image/png", "url": "data:image/png;base64,AAAA", "id": "prt_1"}
    blob = {**image, "mime": "application/x-data", "filename": "file:///data.bin", "id": "prt_2"}
    chart = {
        "type": "tool",
        "callID": "c1",
        "tool": "ops_chart",
        "state": {"status": "completed", "input": {}, "output": "the chart", "attachments": [image, blob]},
    }
    echo = {
        "type": "tool",
        "callID": "c2",
        "tool": "ops_echo",
        "state": {"status": "completed", "input": {}, "output": "x"},
    }
    chat = to_chat(
        [
            {"info": {"id": "u", "role": "user"}, "parts": [{"type": "text", "text": "draw"}]},
            {"info": {"id": "a", "role": "assistant", "parentID": "u"}, "parts": [chart, echo]},
        ]
    )
    assert [m.role for m in chat] == ["user", "assistant", "tool", "tool", "user"]
    assert chat[2].text == "the chart"
    assert chat[4].attachments == [
        Attachment(mime="image/png", url="data:image/png;base64,AAAA"),
        Attachment(mime="application/x-data", url="data:image/png;base64,AAAA", filename="file:///data.bin"),
    ]


def test_no_attachments_no_extra_message() -> None:
    echo = {
        "type": "tool",
        "callID": "c2",
        "tool": "ops_echo",
        "state": {"status": "completed", "input": {}, "output": "x"},
    }
    chat = to_chat(
        [
            {"info": {"id": "u", "role": "user"}, "parts": [{"type": "text", "text": "go"}]},
            {"info": {"id": "a", "role": "assistant", "parentID": "u"}, "parts": [echo]},
        ]
    )
    assert [m.role for m in chat] == ["user", "assistant", "tool"]
