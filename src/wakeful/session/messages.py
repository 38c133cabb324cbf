"""The message log: stores a session's messages and parts, and announces every write.

Every assistant message has `parentID` = the user message it answers; one agent run stores one
assistant message per LLM call, and the last one is the run's answer.
"""

from __future__ import annotations

import builtins
from typing import Any

from wakeful import ids
from wakeful.errors import NotFoundError, UnknownRunError
from wakeful.session.bus import EventBus
from wakeful.session.recent import RecentMessages
from wakeful.storage.base import MessageStore
from wakeful.wire.messages import AssistantMessage, MessageWithParts, UserMessage
from wakeful.wire.parts import PartBase


def replies_to(stored: list[dict[str, Any]], message_id: str) -> list[dict[str, Any]]:
    """The assistant messages (with parts) answering the user message `message_id`, in order."""
    return [m for m in stored if m["info"]["role"] == "assistant" and m["info"].get("parentID") == message_id]


class MessageLog:
    """Stores messages and parts; every write publishes one event (`message.updated`,
    `message.part.updated`, `message.removed`, `message.part.removed`). Streaming text is announced
    with `message.part.delta` without a write. `recent` keeps the end of each session as last read
    by a run (at most `recent_limit` messages), in step with the bus."""

    def __init__(self, store: MessageStore, bus: EventBus, recent_limit: int = 0) -> None:
        self._store = store
        self.bus = bus
        self.recent = RecentMessages(store, recent_limit)
        bus.observers.append(self.recent.observe)

    def announce_message(self, data: dict[str, Any]) -> None:
        self.bus.publish("message.updated", {"sessionID": data["sessionID"], "info": data})

    def announce_part(self, data: dict[str, Any]) -> None:
        self.bus.publish(
            "message.part.updated",
            {"sessionID": data["sessionID"], "part": data, "time": ids.now_ms()},
        )

    async def put_message(self, info: UserMessage | AssistantMessage) -> None:
        data = info.wire()
        await self._store.put_message(data)
        self.announce_message(data)

    async def put_part(self, part: PartBase) -> None:
        data = part.wire()
        await self._store.put_part(data)
        self.announce_part(data)

    async def put_all(self, *records: UserMessage | AssistantMessage | PartBase) -> list[dict[str, Any]]:
        """Messages and parts written together (one transaction), then announced in their order:
        what `put_message` and `put_part` one after another would write and announce, in one
        trip to the store. Answers what was written (wire dicts, shared with the events)."""
        written = [(record, record.wire()) for record in records]
        await self._store.put_records(
            [("part" if isinstance(r, PartBase) else "message", d) for r, d in written]
        )
        for record, data in written:
            if isinstance(record, PartBase):
                self.announce_part(data)
            else:
                self.announce_message(data)
        return [data for _, data in written]

    def delta(self, part: PartBase, field: str, delta: str) -> None:
        self.bus.publish(
            "message.part.delta",
            {
                "sessionID": part.sessionID,
                "messageID": part.messageID,
                "partID": part.id,
                "field": field,
                "delta": delta,
            },
        )

    async def get(self, session_id: str, message_id: str) -> MessageWithParts:
        data = await self._store.get_message(session_id, message_id)
        if data is None:
            raise NotFoundError(f"Message not found: {message_id}")
        return MessageWithParts.model_validate(data)

    async def list(
        self, session_id: str, limit: int | None = None, before: str | None = None
    ) -> list[MessageWithParts]:
        return [
            MessageWithParts.model_validate(m)
            for m in await self._store.list_messages(session_id, limit, before)
        ]

    async def list_raw(
        self, session_id: str, limit: int | None = None, before: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The session's messages with their parts, as stored (wire dicts, insertion order): for
        code that reads the log as data, such as a run's history and crash recovery. `limit` and
        `before` page backwards as in `MessageStore.list_messages`."""
        return await self._store.list_messages(session_id, limit, before)

    async def get_raw(self, session_id: str, message_id: str) -> dict[str, Any] | None:
        """One message with its parts as stored; None if the session has no such message."""
        return await self._store.get_message(session_id, message_id)

    async def answer(self, session_id: str, message_id: str) -> dict[str, Any]:
        """What `/message` answered (or would answer) for the prompt `message_id`: its last
        assistant message; the user message itself when the prompt asked for no reply."""
        stored = await self.list_raw(session_id)
        replies = replies_to(stored, message_id)
        if replies:
            return replies[-1]
        for m in stored:
            if m["info"]["id"] == message_id:
                return m
        return UnknownRunError(f"No stored answer for {message_id}").to_info()

    async def delete(self, session_id: str, message_id: str) -> None:
        await self.get(session_id, message_id)
        await self._store.delete_message(session_id, message_id)
        self.bus.publish("message.removed", {"sessionID": session_id, "messageID": message_id})

    async def delete_part(self, session_id: str, message_id: str, part_id: str) -> None:
        await self._store.delete_part(message_id, part_id)
        self.bus.publish(
            "message.part.removed", {"sessionID": session_id, "messageID": message_id, "partID": part_id}
        )
