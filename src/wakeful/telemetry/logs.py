"""wakeful's log lines: text or JSON on stderr, each with the id of the request it belongs to.

The request id lives in a context variable that the HTTP middleware sets for each request. A run
executes in the context of the request that submitted it (see `wakeful.run.manager`), so the lines a
run logs carry that request's id too, and, while tracing is on, the trace and span ids.

Text: `2026-01-02 03:04:05,678 INFO wakeful.access: POST /session/ses_1/message 200 1503.2ms
message_id=msg_1 request_id=4f0c...`. JSON: one object per line with `time`, `level`, `logger`,
`message`, `request_id`, `trace_id` and `span_id` when there are some, the record's structured
fields (the access log's `method`, `path`, `status`, `duration_ms`, `message_id`, ...), and
`exception` for a traceback.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import re
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from queue import SimpleQueue
from typing import IO, Any, Literal

from wakeful.telemetry import tracing

LogFormat = Literal["text", "json"]

REQUEST_ID: ContextVar[str | None] = ContextVar("wakeful_request_id", default=None)
# What a client may send as its own request id: echoed in a response header and written in logs, so
# nothing that could split a header or a log line.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
FIELDS = "fields"  # the LogRecord attribute (`extra={FIELDS: {...}}`) holding structured fields

access_log = logging.getLogger("wakeful.access")


def request_id(given: bytes | None) -> str:
    """The client's `X-Request-ID` if it is a safe one, else a new id: 32 hex digits, unique but not
    secret (a getrandom system call per request cost a quarter of a prompt's telemetry:
    bench/telemetry_cost.py)."""
    if given is not None:
        text = given.decode("latin-1")
        if _SAFE_ID.fullmatch(text):
            return text
    return f"{random.getrandbits(128):032x}"


def access(
    method: str, path: str, status: int, seconds: float, message_id: str | None, client: str | None
) -> None:
    """The access-log line of one request, written when its response has ended."""
    ms = round(seconds * 1000, 1)
    fields = {"method": method, "path": path, "status": status, "duration_ms": ms}
    if message_id:
        fields["message_id"] = message_id
    if client:
        fields["client"] = client
    tail = f" message_id={message_id}" if message_id else ""
    access_log.info("%s %s %d %.1fms%s", method, path, status, ms, tail, extra={FIELDS: fields})


class _Context(logging.Filter):
    """Puts the request id (and the trace, when tracing) on a record, in the thread and context that
    logged it; a record that already has them keeps them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
            record.trace = tracing.current_ids()
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        if not rid:
            return line
        # After the message, before a traceback.
        head, sep, rest = line.partition("\n")
        return f"{head} request_id={rid}{sep}{rest}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        trace = getattr(record, "trace", None)
        if trace:
            out["trace_id"], out["span_id"] = trace
        fields: Mapping[str, Any] | None = getattr(record, FIELDS, None)
        if fields:
            out.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


def handler(log_format: LogFormat, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing `log_format` lines to `stream` (stderr by default)."""
    out = logging.StreamHandler(stream if stream is not None else sys.stderr)
    out.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    out.addFilter(_Context())
    return out


class _Enqueue(QueueHandler):
    """Hands records to the writer thread: a slow or full stderr never stalls the event loop."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The message is rendered here (its arguments may change later); the traceback is kept
        # apart from it so that the JSON formatter can give it its own field.
        record = copy.copy(record)
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


def configure(log_format: LogFormat) -> Callable[[], None]:
    """The process's logging: INFO and up from wakeful, warnings and up from the libraries, written
    to stderr by one thread. Returns the function that writes what is queued and stops it."""
    queue: SimpleQueue[logging.LogRecord] = SimpleQueue()
    enqueue = _Enqueue(queue)
    enqueue.addFilter(_Context())
    listener = QueueListener(queue, handler(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(enqueue)
    root.setLevel(logging.INFO)
    for noisy in ("httpx", "httpx2", "openai", "anthropic", "aiohttp", "alembic", "opentelemetry"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    listener.start()
    return listener.stop
