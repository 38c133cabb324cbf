"""The recent messages a server keeps of each session (wakeful.session.recent): a read after the
first reads only what is new, and no kept message outlives a write to it, whoever made the write."""

from __future__ import annotations

import asyncio
from typing import Any

from wakeful.session.bus import EventBus
from wakeful.session.messages import MessageLog
from wakeful.storage.memory import MemoryStore

SID = "ses_a"
PAGE = 3


class CountingStore(MemoryStore):
    """Counts the messages each read returns; `gate`, when set, holds `messages_after` until set."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0
        self.gate: asyncio.Event | None = None
        self.reading = asyncio.Event()

    async def list_messages(
        self, session_id: str, limit: int | None = None, before: str | None = None
    ) -> list[dict[str, Any]]:
        out = await super().list_messages(session_id, limit, before)
        self.read += len(out)
        return out

    async def messages_after(self, session_id: str, message_id: str) -> list[dict[str, Any]] | None:
        out = await super().messages_after(session_id, message_id)
        if self.gate is not None:
            self.reading.set()
            await self.gate.wait()
        self.read += len(out or [])
        return out


def message(mid: str, text: str = "hi", session: str = SID) -> dict[str, Any]:
    return {
        "info": {
            "id": mid,
            "sessionID": session,
            "role": "user",
            "time": {"created": 1},
            "agent": "build",
            "model": {"providerID": "p", "modelID": "m"},
        },
        "parts": [{"id": f"prt_{mid}", "messageID": mid, "sessionID": session, "type": "text", "text": text}],
    }


async def write(store: MemoryStore, log: MessageLog, entry: dict[str, Any]) -> None:
    """Store `entry` and announce it, as MessageLog's writes and a run's claim do."""
    await store.put_message(entry["info"])
    log.announce_message(entry["info"])
    for part in entry["parts"]:
        await store.put_part(part)
        log.announce_part(part)


async def setup(count: int, limit: int = 100) -> tuple[CountingStore, MessageLog]:
    store = CountingStore()
    log = MessageLog(store, EventBus(), limit)
    for k in range(count):
        await write(store, log, message(f"msg_{k}"))
    return store, log


async def tail(log: MessageLog, session: str = SID) -> list[dict[str, Any]]:
    return await log.recent.tail(session, lambda ms: False, PAGE)


def texts(entries: list[dict[str, Any]]) -> list[str]:
    return [e["parts"][0]["text"] if e["parts"] else "" for e in entries]


def mids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["info"]["id"] for e in entries]


async def test_a_second_read_reads_only_the_new_messages() -> None:
    store, log = await setup(7)
    first = await tail(log)
    assert mids(first) == [f"msg_{k}" for k in range(7)]
    assert store.read == 7
    await write(store, log, message("msg_7"))
    store.read = 0
    second = await tail(log)
    assert mids(second) == [f"msg_{k}" for k in range(8)]
    assert store.read == 1
    assert all(a is b for a, b in zip(first, second[:7], strict=True))  # the kept entries, shared
    assert second == await store.list_messages(SID)


async def test_reading_stops_where_enough_says() -> None:
    store, log = await setup(7)
    reached = await log.recent.tail(SID, lambda ms: "msg_4" in mids(ms), PAGE)
    assert mids(reached) == ["msg_4", "msg_5", "msg_6"]
    await write(store, log, message("msg_7"))
    store.read = 0
    further = await log.recent.tail(SID, lambda ms: "msg_2" in mids(ms), PAGE)
    assert mids(further) == [f"msg_{k}" for k in range(1, 8)]  # the new one, then older pages
    assert store.read == 1 + PAGE


async def test_a_part_written_again_is_read_again() -> None:
    store, log = await setup(5)
    await tail(log)
    edited = message("msg_2", "edited")
    await store.put_part(edited["parts"][0])
    log.announce_part(edited["parts"][0])
    store.read = 0
    assert texts(await tail(log)) == ["hi", "hi", "edited", "hi", "hi"]
    assert store.read == 3  # from the edited message on


async def test_a_message_written_again_is_read_again() -> None:
    store, log = await setup(4)
    await tail(log)
    info = {**message("msg_1")["info"], "role": "assistant"}
    await store.put_message(info)
    log.announce_message(info)
    assert [e["info"]["role"] for e in await tail(log)] == ["user", "assistant", "user", "user"]


async def test_a_deleted_message_and_a_deleted_part_are_gone() -> None:
    store, log = await setup(4)
    await tail(log)
    await log.delete(SID, "msg_3")  # the last one kept: the next read starts before it
    assert mids(await tail(log)) == ["msg_0", "msg_1", "msg_2"]
    await log.delete_part(SID, "msg_1", "prt_msg_1")
    assert [len(e["parts"]) for e in await tail(log)] == [1, 0, 1]
    assert await tail(log) == await store.list_messages(SID)


async def test_a_compaction_and_a_deleted_session_drop_the_session() -> None:
    store, log = await setup(4)
    await tail(log)
    log.bus.publish("session.compacted", {"sessionID": SID})
    store.read = 0
    await tail(log)
    assert store.read == 4
    log.bus.publish("session.deleted", {"sessionID": SID, "info": {}})
    store.read = 0
    await tail(log)
    assert store.read == 4


async def test_another_replicas_write_is_heard_too() -> None:
    store, log = await setup(3)
    await tail(log)
    edited = message("msg_0", "from elsewhere")
    await store.put_part(edited["parts"][0])  # written by another server: only its event comes here
    log.bus.publish_remote(
        {
            "id": "evt_1",
            "type": "message.part.updated",
            "properties": {"sessionID": SID, "part": edited["parts"][0]},
        }
    )
    assert texts(await tail(log)) == ["from elsewhere", "hi", "hi"]


async def test_events_of_other_sessions_and_other_kinds_keep_the_tail() -> None:
    store, log = await setup(3)
    await tail(log)
    await write(store, log, message("msg_x", session="ses_b"))
    log.bus.publish("session.updated", {"sessionID": SID, "info": {}})
    log.bus.publish("session.status", {"sessionID": SID, "status": {"type": "busy"}})
    store.read = 0
    await tail(log)
    assert store.read == 0


async def test_a_write_during_a_read_is_not_missed() -> None:
    store, log = await setup(3)
    await tail(log)
    await write(store, log, message("msg_3"))
    store.gate = asyncio.Event()
    reading = asyncio.create_task(tail(log))
    await store.reading.wait()  # the read of what is new is under way...
    edited = message("msg_0", "edited meanwhile")  # ...when an older message is written again
    await store.put_part(edited["parts"][0])
    log.announce_part(edited["parts"][0])
    store.gate.set()
    assert texts(await reading) == ["edited meanwhile", "hi", "hi", "hi"]  # read again, whole
    store.gate = None
    assert texts(await tail(log)) == ["edited meanwhile", "hi", "hi", "hi"]


async def test_derived_values_last_as_long_as_their_entry() -> None:
    store, log = await setup(2)
    calls: list[str] = []

    def make(entry: dict[str, Any]) -> str:
        calls.append(entry["info"]["id"])
        return str(entry["parts"][0]["text"])

    entries = await tail(log)
    assert [log.recent.derived(SID, e, make) for e in entries] == ["hi", "hi"]
    entries = await tail(log)
    assert [log.recent.derived(SID, e, make) for e in entries] == ["hi", "hi"]
    assert calls == ["msg_0", "msg_1"]  # computed once
    edited = message("msg_1", "edited")
    await store.put_part(edited["parts"][0])
    log.announce_part(edited["parts"][0])
    entries = await tail(log)
    assert [log.recent.derived(SID, e, make) for e in entries] == ["hi", "edited"]
    assert calls == ["msg_0", "msg_1", "msg_1"]
    copy = {**entries[0]}  # not an entry the cache handed out: computed, not kept
    assert log.recent.derived(SID, copy, make) == "hi"
    assert log.recent.derived(SID, copy, make) == "hi"
    assert calls[-2:] == ["msg_0", "msg_0"]


async def test_the_limit_bounds_what_is_kept() -> None:
    store, log = await setup(3, limit=5)
    for k in range(3):
        await write(store, log, message(f"msg_b{k}", session="ses_b"))
    await tail(log)
    await tail(log, "ses_b")  # 6 messages in all: the least recently read session goes
    store.read = 0
    await tail(log, "ses_b")
    assert store.read == 0
    await tail(log)
    assert store.read == 3
    store_off, off = await setup(3, limit=0)
    await tail(off)
    assert off.recent.derived(SID, (await tail(off))[0], lambda e: 1) == 1
    assert store_off.read == 6  # nothing kept: read whole twice
