"""The run views without a server: what a terminal (and a log file) shows for a run's events."""

from __future__ import annotations

import io

from rich.console import Console

from wakeful.cli.render import LiveView, PlainView, Tracker, View
from wakeful.client import Event, Gap

SID = "ses_1"


def _event(kind: str, **properties: object) -> Event:
    return Event("evt_x", kind, {"sessionID": SID, **properties}, replayable=True)


def _run_events() -> list[Event | Gap]:
    tool = {"id": "prt_t", "type": "tool", "tool": "bash", "messageID": "msg_a"}
    return [
        _event("message.updated", info={"id": "msg_u", "role": "user"}),
        _event("message.part.updated", part={"id": "prt_u", "type": "text", "text": "the prompt"}),
        _event("message.part.delta", messageID="msg_u", partID="prt_u", field="text", delta="not shown"),
        _event("message.updated", info={"id": "msg_a", "role": "assistant", "time": {"created": 1}}),
        _event("message.part.updated", part={"id": "prt_1", "type": "text", "text": ""}),
        _event("message.part.delta", messageID="msg_a", partID="prt_1", field="text", delta="Let me look."),
        _event("message.part.updated", part={**tool, "state": {"status": "pending", "input": {}}}),
        _event("message.part.updated", part={**tool, "state": {"status": "running", "input": {"command": "ls -la"}, "time": {"start": 1000}}}),
        _event("message.part.updated", part={**tool, "state": {"status": "completed", "input": {"command": "ls -la"}, "output": "x", "time": {"start": 1000, "end": 2500}}}),
        _event("session.status", status={"type": "retry", "attempt": 2, "message": "overloaded"}),
        _event("message.part.delta", messageID="msg_a", partID="prt_1", field="text", delta="All good."),
        Gap("unknown-id", "evt_1"),
        Event("evt_y", "message.updated", {"sessionID": "ses_other", "info": {"id": "msg_o"}}, replayable=True),
    ]


def _show(view: View) -> Tracker:
    tracker = Tracker(SID)
    view.start()
    for item in _run_events():
        view.show(item, tracker.feed(item) if isinstance(item, Event) else [])
    view.stop()
    return tracker


def test_plain_view_appends_text_and_tool_lines() -> None:
    out = io.StringIO()
    tracker = _show(PlainView(Console(file=out, width=100)))
    text = out.getvalue()
    assert "not shown" not in text and "the prompt" not in text  # the user's own words
    assert "Let me look.\n" in text  # a tool line starts on a line of its own
    assert "bash running  ls -la" in text and "bash completed 1.5s  ls -la" in text
    assert "provider retry 2: overloaded" in text
    assert "events were lost" in text
    assert "All good." in text
    assert "msg_u" in tracker.finished and "msg_a" not in tracker.finished


def test_live_view_keeps_tool_lines_and_leaves_the_answer_to_stdout() -> None:
    out = io.StringIO()
    _show(LiveView(Console(file=out, width=100, force_terminal=True, color_system=None)))
    text = out.getvalue()
    assert "Let me look." in text  # text before a tool call stays on screen
    assert "bash completed 1.5s" in text
