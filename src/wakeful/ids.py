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

import os
import threading
import time
from typing import Literal

Prefix = Literal["ses", "msg", "prt", "evt", "run", "per", "tool", "wrk"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_MASK48 = (1 << 48) - 1
_SUFFIX = 14
# Random bytes to base62 characters, as `b % 62` (the reference's mapping).
_TO_BASE62 = bytes(ord(_BASE62[b % 62]) for b in range(256))
_BLOCK = _SUFFIX * 256
_lock = threading.Lock()
_last_ms = 0
_counter = 0
_suffixes = ""  # base62 characters drawn from urandom, ahead of the ids that will use them
_taken = 0
ID_BODY_MAX = 64


def pattern(prefix: Prefix) -> str:
    """The grammar of a client-chosen id with this prefix, as a regular expression."""
    return rf"^{prefix}_[0-9A-Za-z_-]{{1,{ID_BODY_MAX}}}$"


def now_ms() -> int:
    """Wall-clock milliseconds, the unit of every `time` field on the wire."""
    return int(time.time() * 1000)


def _forget_suffixes() -> None:
    """A forked child must not make the ids its parent will make."""
    global _suffixes, _taken
    _suffixes, _taken = "", 0


os.register_at_fork(after_in_child=_forget_suffixes)


def _next() -> tuple[int, str]:
    """The next id's time value and random suffix. The randomness is read 256 ids at a time: one
    urandom call per id cost as much as the rest of making it, and ids are made on every write."""
    global _last_ms, _counter, _suffixes, _taken
    with _lock:
        now = now_ms()
        if now != _last_ms:
            _last_ms = now
            _counter = 0
        _counter += 1
        if _taken == len(_suffixes):
            _suffixes, _taken = os.urandom(_BLOCK).translate(_TO_BASE62).decode("ascii"), 0
        suffix = _suffixes[_taken : _taken + _SUFFIX]
        _taken += _SUFFIX
        return (now * 0x1000 + _counter) & _MASK48, suffix


def new_id(prefix: Prefix, *, descending: bool = False) -> str:
    value, suffix = _next()
    if descending:
        value = ~value & _MASK48
    return f"{prefix}_{value:012x}{suffix}"


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
