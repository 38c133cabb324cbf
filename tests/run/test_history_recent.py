"""A session's history across prompts, with the recent messages kept (wakeful.session.recent): each
prompt reads only what was stored since the last one, and still sends the model exactly what is
stored: a deleted message, a summary and a pruned tool output reach the next prompt."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.inproc import InProcess, create_session, prompt
from wakeful.providers.base import ChatMessage
from wakeful.run import compaction
from wakeful.run.history import COMPACTION_QUESTION, PAGE, PRUNED_OUTPUT
from wakeful.storage.base import Store
from wakeful.storage.memory import MemoryStore

MODEL = {"providerID": "mock", "modelID": "mock-model"}


class CountingStore(MemoryStore):
    """Counts the pages of history read whole and the messages read as new."""

    def __init__(self) -> None:
        super().__init__()
        self.pages = 0
        self.new = 0

    async def list_messages(
        self, session_id: str, limit: int | None = None, before: str | None = None
    ) -> list[dict[str, Any]]:
        self.pages += limit == PAGE
        return await super().list_messages(session_id, limit, before)

    async def messages_after(self, session_id: str, message_id: str) -> list[dict[str, Any]] | None:
        out = await super().messages_after(session_id, message_id)
        self.new += len(out or [])
        return out


@pytest.fixture
def store() -> Store:
    return CountingStore()


def said(wakeful: InProcess, script: str) -> list[ChatMessage]:
    """The conversation of the last request that carried `script`."""
    return [r for r in wakeful.model().requests if r.script == script][-1].request.messages


def texts(messages: list[ChatMessage]) -> list[str]:
    return [m.text for m in messages]


async def test_each_prompt_reads_only_what_is_new(
    wakeful: InProcess, client: httpx.AsyncClient, store: CountingStore
) -> None:
    sid = await create_session(client)
    for k in range(3):
        await prompt(client, sid, f"REPLY answer {k}")
    assert store.pages == 1  # the first prompt's
    assert store.new == 4  # each later one: the answer before it, and itself
    assert texts(said(wakeful, "REPLY answer 2")) == [
        "REPLY answer 0",
        "answer 0",
        "REPLY answer 1",
        "answer 1",
        "REPLY answer 2",
    ]


async def test_a_deleted_message_is_gone_from_the_next_prompt(
    wakeful: InProcess, client: httpx.AsyncClient
) -> None:
    sid = await create_session(client)
    first = await prompt(client, sid, "REPLY first")
    await prompt(client, sid, "REPLY second")
    response = await client.delete(f"/session/{sid}/message/{first['info']['id']}")
    assert response.status_code == 200, response.text
    await prompt(client, sid, "REPLY third")
    assert texts(said(wakeful, "REPLY third")) == ["REPLY first", "REPLY second", "second", "REPLY third"]


async def test_a_summary_replaces_the_history_of_the_next_prompt(
    wakeful: InProcess, client: httpx.AsyncClient
) -> None:
    sid = await create_session(client)
    await prompt(client, sid, "REPLY about pods")
    response = await client.post(f"/session/{sid}/summarize", json=MODEL)
    assert response.status_code == 200, response.text
    await prompt(client, sid, "REPLY after")
    sent = texts(said(wakeful, "REPLY after"))
    assert sent[0] == COMPACTION_QUESTION and sent[-1] == "REPLY after"
    assert "about pods" not in sent


async def test_a_pruned_output_reaches_the_next_prompt_pruned(
    wakeful: InProcess, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prune every tool output older than two turns, however small.
    monkeypatch.setattr(compaction, "PRUNE_PROTECT", 0)
    monkeypatch.setattr(compaction, "PRUNE_MINIMUM", 0)
    sid = await create_session(client)
    await prompt(client, sid, 'TOOL bash {"command": "echo kept whole", "description": "echo"}')
    await prompt(client, sid, "REPLY two")
    await prompt(client, sid, "REPLY three")  # the end of this run prunes the first turn's output
    await prompt(client, sid, "REPLY four")
    outputs = [m.text for m in said(wakeful, "REPLY four") if m.role == "tool"]
    assert outputs == [PRUNED_OUTPUT]
    outputs = [m.text for m in said(wakeful, "REPLY three") if m.role == "tool"]
    assert outputs == ["kept whole\n"]
