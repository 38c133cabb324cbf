"""Ids in the reference's format: prefix, 12 hex digits of time and counter, 14 base62 characters."""

from __future__ import annotations

import os
import re
import time

import pytest

from wakeful import ids

FORMAT = re.compile(r"^(ses|msg|prt|evt)_[0-9a-f]{12}[0-9A-Za-z]{14}$")


def test_every_kind_has_the_reference_format() -> None:
    for make in (ids.session_id, ids.message_id, ids.part_id, ids.event_id):
        assert FORMAT.match(make())


def test_ids_made_one_after_another_sort_in_order_and_sessions_in_reverse() -> None:
    messages = [ids.message_id() for _ in range(500)]
    assert messages == sorted(messages)
    assert len(set(messages)) == 500
    sessions = [ids.session_id() for _ in range(500)]
    assert sessions == sorted(sessions, reverse=True)


def test_the_time_field_holds_milliseconds_and_a_counter() -> None:
    before = ids.now_ms()
    value = int(ids.message_id()[4:16], 16)
    after = ids.now_ms()
    assert before % 2**36 <= value >> 12 <= after % 2**36
    assert value & 0xFFF >= 1


def test_now_ms_is_wall_clock_milliseconds() -> None:
    assert abs(ids.now_ms() - time.time() * 1000) < 1000


def test_random_suffixes_differ_across_blocks_of_randomness() -> None:
    suffixes = [ids.part_id()[16:] for _ in range(1000)]  # four blocks of 256
    assert len(set(suffixes)) == 1000


# Python 3.12 warns about fork() in a process with threads; this child only makes an id and exits.
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_forked_child_draws_its_own_randomness() -> None:
    ids.part_id()  # the parent holds unused randomness
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write, ids.part_id()[16:].encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        assert pipe.read() != ids.part_id()[16:]
