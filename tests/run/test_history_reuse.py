"""What one run's history lends the next (wakeful.run.history): the Conversation's first entries,
the very same objects, and what a scan of the session's messages found; never an entry with
`file://` parts, and nothing once a kept message is dropped."""

from __future__ import annotations

from typing import Any

from wakeful.run.history import Conversation, FileContent, load
from wakeful.session.bus import EventBus
from wakeful.session.messages import MessageLog
from wakeful.storage.memory import MemoryStore


def user(mid: str, text: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"id": mid, "role": "user"}, "parts": [{"type": "text", "text": text}, *parts]}


def assistant(mid: str, text: str) -> dict[str, Any]:
    return {"info": {"id": mid, "role": "assistant"}, "parts": [{"type": "text", "text": text}]}


def file_part(pid: str) -> dict[str, Any]:
    return {"type": "file", "id": pid, "url": "file:///x.txt", "mime": "text/plain"}


def texts(conversation: Conversation) -> list[str]:
    return [m.text for m in conversation.chat()]


def test_a_conversation_reuses_the_entries_it_begins_with() -> None:
    entries = [user("u1", "one"), assistant("a1", "two")]
    base = Conversation(entries)
    later = [*entries, user("u2", "three")]
    made: list[str] = []

    def derive(entry: dict[str, Any], make: Any) -> Any:
        made.append(entry["info"]["id"])
        return make(entry)

    conversation = Conversation(later, derive=derive, base=base)
    assert made == ["u2"]  # the first two came from `base`
    assert texts(conversation) == ["one", "two", "three"]
    assert conversation.sizes[:2] == base.sizes
    assert conversation.tokens == sum(conversation.sizes) == Conversation(later).tokens


def test_a_conversation_reuses_only_the_same_objects() -> None:
    base = Conversation([user("u1", "one"), assistant("a1", "two")])
    changed = [user("u1", "one, edited"), assistant("a1", "two")]  # equal ids, other objects
    assert texts(Conversation(changed, base=base)) == ["one, edited", "two"]
    shorter = Conversation(base.entries[:1], base=base)
    assert texts(shorter) == ["one"]
    assert shorter.tokens == base.sizes[0]


def test_entries_with_file_parts_are_converted_with_each_run_s_files() -> None:
    entries = [user("u1", "look", file_part("f1")), assistant("a1", "seen")]
    base = Conversation(entries, {"f1": FileContent("first read")})
    again = Conversation(entries, {"f1": FileContent("second read")}, base=base)
    assert texts(again) == ["look\n\nsecond read", "seen"]


async def stored(store: MemoryStore, session_id: str, messages: list[dict[str, Any]]) -> None:
    for message in messages:
        info = {**message["info"], "sessionID": session_id}
        await store.put_message(info)
        for n, part in enumerate(message["parts"]):
            await store.put_part(
                {"id": f"{info['id']}-p{n}", **part, "messageID": info["id"], "sessionID": session_id}
            )


async def test_the_next_run_starts_from_the_last_run_s_conversation() -> None:
    store = MemoryStore()
    log = MessageLog(store, EventBus(), recent_limit=100)
    await stored(store, "s", [user("u1", "one"), assistant("a1", "two")])
    first = await load(log, "s", "u1")
    assert not first.reads_files
    conversation = first.conversation({}, None)
    await stored(store, "s", [user("u2", "three")])
    second = await load(log, "s", "u2")
    assert second.entries[:2] == conversation.entries and second.entries[0] is conversation.entries[0]
    made = second.conversation({}, None)
    assert texts(made) == ["one", "two", "three"]
    assert made.entries[0] is conversation.entries[0]
    assert second.memo is not None and second.memo["history.conversation"] is made


async def test_a_file_part_stored_later_is_found_and_a_dropped_message_empties_the_memo() -> None:
    store = MemoryStore()
    bus = EventBus()
    log = MessageLog(store, bus, recent_limit=100)
    await stored(store, "s", [user("u1", "one")])
    view = await load(log, "s", "u1")
    assert not view.reads_files and view.memo
    await stored(store, "s", [user("u2", "look", file_part("f2"))])
    assert (await load(log, "s", "u2")).reads_files
    bus.publish("message.removed", {"sessionID": "s", "messageID": "u2"})
    assert log.recent.memo("s") == {}
