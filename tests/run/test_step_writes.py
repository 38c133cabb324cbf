"""The writes of one plain step (wakeful.run.loop): the assistant message with its step-start in one
trip to the store, the streamed text closed with step-finish and the message's completion in another,
and the events as one write at a time would announce them, in the same order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from tests.support.inproc import InProcess, create_session, prompt
from wakeful.storage.base import Record, Store
from wakeful.storage.memory import MemoryStore


class Trips(MemoryStore):
    """Records what each message or part write carried: a kind per record, a list per trip."""

    def __init__(self) -> None:
        super().__init__()
        self.trips: list[list[str]] = []

    async def put_message(self, info: dict[str, Any]) -> None:
        self.trips.append([f"message {info['role']}"])
        await super().put_message(info)

    async def put_part(self, part: dict[str, Any]) -> None:
        self.trips.append([f"part {part['type']}"])
        await super().put_part(part)

    async def put_records(self, records: Sequence[Record]) -> None:
        self.trips.append(
            [f"message {d['role']}" if k == "message" else f"part {d['type']}" for k, d in records]
        )
        await super().put_records(records)


@pytest.fixture
def store() -> Store:
    return Trips()


async def test_a_plain_step_writes_in_three_trips(
    wakeful: InProcess, client: httpx.AsyncClient, store: Trips
) -> None:
    sid = await create_session(client)
    events: list[tuple[str, str]] = []

    def seen(event: Any) -> None:
        p = event.properties
        if event.type == "message.updated":
            events.append((event.type, p["info"]["role"]))
        elif event.type == "message.part.updated":
            ended = "end" in (p["part"].get("time") or {})
            events.append((event.type, p["part"]["type"] + (" ended" if ended else "")))

    wakeful.runtime.bus.observers.append(seen)
    reply = await prompt(client, sid, "REPLY hello")
    assert [p["type"] for p in reply["parts"]] == ["step-start", "text", "step-finish"]
    assert reply["parts"][1]["text"] == "hello" and reply["parts"][1]["time"]["end"]
    assert store.trips[-3:] == [
        ["message assistant", "part step-start"],
        ["part text"],  # the text part, empty, as its streaming starts
        ["part text", "part step-finish", "message assistant"],
    ]
    assert events[events.index(("message.updated", "assistant")) :] == [
        ("message.updated", "assistant"),
        ("message.part.updated", "step-start"),
        ("message.part.updated", "text"),
        ("message.part.updated", "text ended"),
        ("message.part.updated", "step-finish"),
        ("message.updated", "assistant"),
    ]


@pytest.mark.parametrize("script", ["REASON hmm\nREPLY hello", "REPLY hello\nBREAK 1 1"])
async def test_the_answer_of_a_step_without_tools_is_what_was_stored(
    client: httpx.AsyncClient, script: str
) -> None:
    sid = await create_session(client)
    reply = await prompt(client, sid, script)
    assert [p["type"] for p in reply["parts"]] == (
        ["step-start", "reasoning", "text", "step-finish"]
        if "REASON" in script
        else ["step-start", "text", "step-finish"]  # the broken attempt's text is gone
    )
    stored = await client.get(f"/session/{sid}/message/{reply['info']['id']}")
    assert stored.status_code == 200
    assert reply == stored.json()
