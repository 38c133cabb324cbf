"""The shared core without a server: SSE decoding, the resume cursor, keep-alive bodies, backoff."""

from __future__ import annotations

import json

from wakeful.client.core import KeepAliveBody, Settings
from wakeful.client.sse import Cursor, Decoder, Event, Gap, Message


def _frames(text: str) -> list[Message]:
    decoder = Decoder()
    return [m for line in text.split("\n") if (m := decoder.feed(line)) is not None]


def test_decoder_reads_ids_data_and_skips_comments() -> None:
    text = 'id: evt_1\ndata: {"type":"a"}\n\n: a comment\n\ndata: {"type":\ndata: "b"}\n\n'
    assert _frames(text) == [Message("evt_1", '{"type":"a"}'), Message(None, '{"type":\n"b"}')]


def _msg(event_id: str | None, kind: str, **properties: object) -> Message:
    data = {"id": event_id or "evt_x", "type": kind, "properties": properties}
    return Message(event_id, json.dumps(data))


def test_cursor_never_repeats_and_resumes_after_the_last_id() -> None:
    cursor = Cursor()
    assert cursor.headers() == {}
    first = cursor.accept(_msg("evt_1", "session.created"))
    assert isinstance(first, Event) and first.replayable
    assert cursor.accept(_msg("evt_1", "session.created")) is None  # a replay overlap
    assert cursor.headers() == {"Last-Event-ID": "evt_1"}
    assert cursor.accept(_msg(None, "server.heartbeat")) is None  # control events: opt-in
    assert cursor.headers() == {"Last-Event-ID": "evt_1"}  # and they never move the cursor


def test_cursor_gaps() -> None:
    cursor = Cursor("evt_old")
    # An overflow is repaired by the replay on reconnect: not (yet) a gap.
    assert cursor.accept(_msg(None, "server.gap", reason="overflow")) is None
    gap = cursor.accept(_msg(None, "server.gap", reason="unknown-id", lastEventID="evt_old"))
    assert gap == Gap("unknown-id", "evt_old")


def test_cursor_memory_is_bounded() -> None:
    cursor = Cursor(memory=2)
    for n in range(3):
        cursor.accept(_msg(f"evt_{n}", "x"))
    assert cursor.accept(_msg("evt_0", "x")) is not None  # forgotten, so not recognised
    assert cursor.accept(_msg("evt_2", "x")) is None


def test_keepalive_body_counts_bytes_until_the_document_starts() -> None:
    body = KeepAliveBody()
    assert body.feed(b"\n") == 1
    assert body.feed(b"\n\n{\"a\":") == 2
    assert body.feed(b"\n1}") == 0  # newlines inside the document are not keep-alives
    assert json.loads(body.body) == {"a": 1}


def test_backoff_grows_is_capped_and_jittered() -> None:
    settings = Settings(backoff=1.0, max_backoff=4.0)
    assert 0.5 <= settings.delay(1) <= 1.0
    assert 1.0 <= settings.delay(2) <= 2.0
    assert 2.0 <= settings.delay(10) <= 4.0
