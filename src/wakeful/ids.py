"""Identifier generation compatible with opencode's (`ses_`, `msg_`, `prt_`, `evt_`, `per_`).

An id is a prefix, 12 hex digits of ``(milliseconds * 4096 + counter) mod 2**48`` and 14 random
base62 characters. Sessions use the bitwise complement so that newer sessions sort first, as in the
reference. The time field wraps every 2**36 ms, so storage never orders by id: it keeps its own
insertion sequence.

An id a client chooses (a prompt's `messageID`, a part's `id`) or names (a path parameter) must
match `pattern(prefix)`: the prefix, `_`, then 1 to 64 of `[0-9A-Za-z_-]`. Every id wakeful makes
matches it, and nothing a client sends can put a byte outside it into a header, a log line or a key.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Literal

Prefix = Literal["ses", "msg", "prt", "evt", "run", "per", "tool", "wrk"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_MASK48 = (1 << 48) - 1
_lock = threading.Lock()
_last_ms = 0
_counter = 0
ID_BODY_MAX = 64


def pattern(prefix: Prefix) -> str:
    """The grammar of a client-chosen id with this prefix, as a regular expression."""
    return rf"^{prefix}_[0-9A-Za-z_-]{{1,{ID_BODY_MAX}}}$"


def now_ms() -> int:
    """Wall-clock milliseconds, the unit of every `time` field on the wire."""
    return int(time.time() * 1000)


def _time_value() -> int:
    global _last_ms, _counter
    with _lock:
        now = now_ms()
        if now != _last_ms:
            _last_ms = now
            _counter = 0
        _counter += 1
        return (now * 0x1000 + _counter) & _MASK48


def _random_suffix(length: int = 14) -> str:
    # One urandom read per id (not one per character): ids are made on every write path.
    return "".join(_BASE62[b % 62] for b in secrets.token_bytes(length))


def new_id(prefix: Prefix, *, descending: bool = False) -> str:
    value = _time_value()
    if descending:
        value = ~value & _MASK48
    return f"{prefix}_{value:012x}{_random_suffix()}"


def session_id() -> str:
    return new_id("ses", descending=True)


def message_id() -> str:
    return new_id("msg")


def part_id() -> str:
    return new_id("prt")


def event_id() -> str:
    return new_id("evt")


def permission_id() -> str:
    return new_id("per")
