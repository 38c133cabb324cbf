"""Webhooks of runs taken over from a stopped server: a resumed run's end is delivered to its
callback when it ends here, a run closed as interrupted is reported failed, and a run found ended
is reported (its server may have stopped before storing the delivery)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.run.test_takeover import dead_run, resumed, step
from tests.support.http import text_of
from tests.support.inproc import new_session
from tests.support.receiver import Receiver
from wakeful.run.runtime import Runtime
from wakeful.run.takeover import Takeover


@pytest.fixture
def app_flags() -> dict[str, Any]:
    return {"resume_interrupted": True, "webhook_retry_base": 0.05, "webhook_retry_max_delay": 0.2}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    yield started
    await started.stop()


async def test_a_resumed_run_delivers_its_end_to_its_callback(runtime: Runtime, receiver: Receiver) -> None:
    session = await new_session(runtime)
    run = await dead_run(runtime, session, "REPLY resumed here", callback=receiver.url)

    await Takeover(runtime).recover_all()
    reply = await resumed(runtime, run)

    body = json.loads((await receiver.accepted("run.finished")).body)
    assert text_of(reply) == "resumed here"
    assert body["messageID"] == run.message_id and body["info"] == reply["info"]


async def test_a_run_closed_as_interrupted_is_reported_failed(runtime: Runtime, receiver: Receiver) -> None:
    session = await new_session(runtime)
    run = await dead_run(runtime, session, kind="shell", callback=receiver.url)
    await step(runtime, run, tool="running", done=False)

    await Takeover(runtime).recover_all()

    body = json.loads((await receiver.accepted("run.failed")).body)
    assert body["messageID"] == run.message_id
    assert "interrupted" in body["info"]["error"]["data"]["message"]


async def test_a_run_found_ended_is_reported(runtime: Runtime, receiver: Receiver) -> None:
    session = await new_session(runtime)
    run = await dead_run(runtime, session, callback=receiver.url)
    last = await step(runtime, run, tool="completed")
    stored = await runtime.messages.get_raw(session.id, last.id)
    assert stored is not None
    stored["info"]["finish"] = "stop"
    await runtime.store.put_message(stored["info"])

    await Takeover(runtime).recover_all()

    got = await receiver.accepted("run.finished")
    assert json.loads(got.body)["messageID"] == run.message_id
    assert [d.id for d in await runtime.webhooks.deliveries(run.message_id)] == [got.delivery]
    assert await runtime.store.unfinished_runs() == []
