"""Log lines: the request id rules, the text and JSON formats, and the process set-up that writes
them from a thread of their own with the id of the request that logged them."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from wakeful.telemetry import logs


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("wakeful.test-logs")
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


def test_a_safe_client_id_is_kept_anything_else_replaced() -> None:
    assert logs.request_id(b"build-7.step:2/a@b+c=d") == "build-7.step:2/a@b+c=d"
    for unsafe in (b"two words", b"line\nbreak", b"x" * 129, b"", "é".encode()):
        assert re.fullmatch(r"[0-9a-f]{32}", logs.request_id(unsafe)), unsafe
    assert logs.request_id(None) != logs.request_id(None)


def test_text_lines_end_with_the_request_id_before_a_traceback(logger: logging.Logger) -> None:
    out = io.StringIO()
    logger.addHandler(logs.handler("text", out))
    token = logs.REQUEST_ID.set("rid-1")
    try:
        logger.info("run %s ended", "msg_1")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logs.REQUEST_ID.reset(token)
    logger.info("outside any request")
    lines = out.getvalue().splitlines()
    assert re.fullmatch(r"\S+ \S+ INFO wakeful\.test-logs: run msg_1 ended request_id=rid-1", lines[0])
    assert lines[1].endswith("ERROR wakeful.test-logs: failed request_id=rid-1")
    assert lines[2] == "Traceback (most recent call last):"
    assert "ValueError: boom" in out.getvalue()
    assert lines[-1].endswith("INFO wakeful.test-logs: outside any request")


def test_json_lines_are_one_object_with_fields_and_exception(logger: logging.Logger) -> None:
    out = io.StringIO()
    logger.addHandler(logs.handler("json", out))
    token = logs.REQUEST_ID.set("rid-2")
    try:
        logger.info("GET / 200", extra={logs.FIELDS: {"method": "GET", "status": 200}})
        try:
            raise KeyError("missing")
        except KeyError:
            logger.exception("broken")
    finally:
        logs.REQUEST_ID.reset(token)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert (
        first["message"] == "GET / 200"
        and first["level"] == "INFO"
        and first["logger"] == "wakeful.test-logs"
    )
    assert (first["method"], first["status"], first["request_id"]) == ("GET", 200, "rid-2")
    assert "trace_id" not in first  # tracing is off
    assert second["message"] == "broken" and "KeyError: 'missing'" in second["exception"]


def test_the_process_set_up_writes_from_a_thread_with_the_loggers_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        stop = logs.configure("json")
        token = logs.REQUEST_ID.set("rid-3")
        logs.access("POST", "/session", 200, 0.0123, "msg_9", "127.0.0.1")
        logs.REQUEST_ID.reset(token)
        logging.getLogger("httpx").info("a library's chatter")
        stop()  # writes what is queued
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    [line] = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert entry["logger"] == "wakeful.access" and entry["request_id"] == "rid-3"
    assert entry["message"] == "POST /session 200 12.3ms message_id=msg_9"
    assert (entry["method"], entry["path"], entry["status"], entry["duration_ms"]) == (
        "POST",
        "/session",
        200,
        12.3,
    )
    assert (entry["message_id"], entry["client"]) == ("msg_9", "127.0.0.1")
