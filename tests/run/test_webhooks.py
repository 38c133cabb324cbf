"""Webhooks end to end, in-process, with a real receiver on loopback: what is delivered for a run's
end and its permission requests, exactly once on 200, retried after a 500 and after a refused
connection until the receiver accepts, signed so that the documented recipe verifies it, given back
by a server that stops mid-attempt and sent by the next one, and given up when retrying runs out."""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import prompt_body, tool
from tests.support.inproc import (
    EventLog,
    InProcess,
    Json,
    create_session,
    ok,
    running,
    server_config,
)
from tests.support.receiver import Receiver, documented_verify, free_port
from wakeful.ids import message_id
from wakeful.run.webhooks.signing import SECRET_FILE, load_secret
from wakeful.storage.base import RunRecord
from wakeful.storage.memory import MemoryStore

QUICK = {"webhook_retry_base": 0.05, "webhook_retry_max_delay": 0.2, "webhook_timeout": 5.0}


@pytest.fixture
def app_flags() -> dict[str, Any]:
    return dict(QUICK)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    yield started
    await started.stop()


async def start_run(app: InProcess, sid: str, text: str, callback: str, **body: Any) -> str:
    """prompt_async with `callback`; the run's message id."""
    mid = message_id()
    response = await app.client.post(
        f"/session/{sid}/prompt_async",
        params={"callback": callback},
        json=prompt_body(text, messageID=mid, **body),
    )
    assert response.status_code == 204, response.text
    return mid


async def deliveries(app: InProcess, sid: str, mid: str) -> list[Json]:
    listed: list[Json] = ok(await app.client.get(f"/session/{sid}/message/{mid}/deliveries"))
    return listed


async def settled(events: EventLog, delivery: str, status: str) -> Json:
    """The `webhook.delivery` event that records `delivery` as `status`."""
    event = await events.wait(
        lambda e: (
            e["type"] == "webhook.delivery"
            and e["properties"]["id"] == delivery
            and e["properties"]["status"] == status
            and e["properties"]["attempts"] > 0
        )
    )
    found: Json = event["properties"]
    return found


async def test_a_run_end_arrives_once_when_the_receiver_answers_200(
    wakeful: InProcess, receiver: Receiver
) -> None:
    events = wakeful.events()
    sid = await create_session(wakeful.client)
    response = await wakeful.client.post(
        f"/session/{sid}/message", params={"callback": receiver.url}, json=prompt_body("REPLY all done")
    )
    reply = ok(response)
    mid = response.headers["X-Wakeful-Message-ID"]
    got = await receiver.accepted("run.finished")
    body = json.loads(got.body)
    assert body["type"] == "run.finished" and body["deliveryID"] == got.delivery
    assert (body["sessionID"], body["messageID"]) == (sid, mid)
    assert body["info"] == reply["info"] and body["parts"] == reply["parts"]
    assert got.headers["content-type"] == "application/json" and got.path == "/hook"
    await settled(events, got.delivery, "delivered")

    # Another run's delivery goes through the courier after the first one was settled.
    second = await start_run(wakeful, sid, "REPLY again", receiver.url)
    await receiver.wait(lambda r: json.loads(r.body)["messageID"] == second)
    assert len(receiver.of(got.delivery)) == 1
    (listed,) = await deliveries(wakeful, sid, mid)
    assert listed["id"] == got.delivery and listed["source"] == "callback" and listed["url"] == receiver.url
    assert (listed["status"], listed["attempts"], listed["lastStatus"]) == ("delivered", 1, 200)
    assert listed["time"]["ended"] >= listed["time"]["created"] and "next" not in listed["time"]
    assert listed["event"] == "run.finished" and listed["messageID"] == mid


async def test_retried_after_a_500_until_the_receiver_accepts(wakeful: InProcess) -> None:
    events = wakeful.events()
    receiver = await Receiver(answers=[500, 503]).start()
    try:
        sid = await create_session(wakeful.client)
        mid = await start_run(wakeful, sid, "REPLY fine", receiver.url)
        accepted = await receiver.accepted()
        await settled(events, accepted.delivery, "delivered")
        attempts = receiver.of(accepted.delivery)
        assert [r.answered for r in attempts] == [500, 503, 200]
        assert len({r.body for r in attempts}) == 1  # the same body every time, signed anew
        (listed,) = await deliveries(wakeful, sid, mid)
        assert (listed["status"], listed["attempts"], listed["lastStatus"]) == ("delivered", 3, 200)
    finally:
        await receiver.stop()


async def test_retried_after_a_refused_connection_until_the_receiver_listens(wakeful: InProcess) -> None:
    events = wakeful.events()
    port = free_port()
    receiver = Receiver()
    url = f"http://127.0.0.1:{port}/hook"
    sid = await create_session(wakeful.client)
    mid = await start_run(wakeful, sid, "REPLY fine", url)
    refused = await events.wait(
        lambda e: e["type"] == "webhook.delivery" and e["properties"].get("lastError") is not None
    )
    assert "could not connect" in refused["properties"]["lastError"]
    assert refused["properties"]["status"] == "pending" and "lastStatus" not in refused["properties"]
    await receiver.start(port)
    try:
        accepted = await receiver.accepted()
        delivered = await settled(events, accepted.delivery, "delivered")
        assert delivered["attempts"] >= 2 and delivered["messageID"] == mid
    finally:
        await receiver.stop()


async def test_the_signature_verifies_with_the_documented_recipe(
    wakeful: InProcess, receiver: Receiver
) -> None:
    sid = await create_session(wakeful.client)
    await start_run(wakeful, sid, "REPLY signed", receiver.url)
    got = await receiver.accepted()
    secret_file = wakeful.runtime.config.data_dir / SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = load_secret(wakeful.runtime.config)
    verify = documented_verify()
    timestamp, signature = got.headers["x-wakeful-timestamp"], got.headers["x-wakeful-signature"]
    assert signature.startswith("sha256=")
    assert verify(secret, timestamp, signature, got.body)
    assert not verify(secret, timestamp, signature, got.body.replace(b"signed", b"forged"))
    assert not verify("another secret", timestamp, signature, got.body)
    assert not verify(secret, str(int(timestamp) + 1), signature, got.body)
    assert not verify(secret, timestamp, signature, got.body, now=int(timestamp) + 301)  # replayed late


async def test_a_failed_run_is_reported_as_run_failed(wakeful: InProcess, receiver: Receiver) -> None:
    sid = await create_session(wakeful.client)
    mid = await start_run(wakeful, sid, "ERROR 401", receiver.url)
    got = await receiver.accepted()
    body = json.loads(got.body)
    assert got.headers["x-wakeful-event"] == body["type"] == "run.failed"
    assert body["messageID"] == mid and body["info"]["error"]["name"] == "ProviderAuthError"


async def test_a_permission_request_is_delivered_then_the_end_of_its_run(
    wakeful: InProcess, receiver: Receiver
) -> None:
    ask_echo = [{"permission": "bash", "pattern": "echo *", "action": "ask"}]
    sid = await create_session(wakeful.client, permission=ask_echo)
    mid = await start_run(
        wakeful, sid, tool("bash", command="echo approved", description="say"), receiver.url
    )
    asked = json.loads((await receiver.accepted("permission.asked")).body)
    assert (asked["sessionID"], asked["messageID"]) == (sid, mid)
    request = asked["request"]
    assert request["permission"] == "bash" and request["patterns"] == ["echo approved"]
    ok(await wakeful.client.post(f"/permission/{request['id']}/reply", json={"reply": "once"}))
    ended = json.loads((await receiver.accepted("run.finished")).body)
    assert "approved" in json.dumps(ended["parts"])
    assert [d["event"] for d in await deliveries(wakeful, sid, mid)] == ["permission.asked", "run.finished"]


async def test_the_server_url_gets_the_events_it_is_configured_for(
    tmp_path: Path, app_project: Path, receiver: Receiver
) -> None:
    server = await Receiver().start()
    flags = {**QUICK, "webhook_url": server.url, "webhook_events": ("run.failed",)}
    try:
        async with running(server_config(tmp_path / "data", app_project, **flags)) as app:
            sid = await create_session(app.client)
            finished = await start_run(app, sid, "REPLY fine", receiver.url)
            await receiver.accepted("run.finished")
            failed = await start_run(app, sid, "ERROR 401", receiver.url)
            to_server = json.loads((await server.accepted()).body)
            await receiver.accepted("run.failed")
            assert to_server["type"] == "run.failed" and to_server["messageID"] == failed
            assert [json.loads(r.body)["messageID"] for r in server.requests] == [failed]
            assert [(d["source"], d["event"]) for d in await deliveries(app, sid, failed)] == [
                ("callback", "run.failed"),
                ("server", "run.failed"),
            ]
            assert [d["source"] for d in await deliveries(app, sid, finished)] == ["callback"]
            # The server's URL named as a callback too gets each event once.
            same = await start_run(app, sid, "ERROR 401", server.url)
            await server.wait(lambda r: json.loads(r.body)["messageID"] == same)
            assert [d["source"] for d in await deliveries(app, sid, same)] == ["callback"]
    finally:
        await server.stop()


async def test_a_server_stopped_mid_attempt_gives_the_delivery_back_and_the_next_one_sends_it(
    tmp_path: Path, app_project: Path, receiver: Receiver
) -> None:
    store = MemoryStore()  # what the two servers share, as two processes share their database
    config = server_config(tmp_path / "data", app_project, **QUICK)
    receiver.hold()
    async with running(config, store) as first:
        sid = await create_session(first.client)
        mid = await start_run(first, sid, "REPLY later", receiver.url)
        held = await receiver.wait(lambda r: True, held=True)
    (given_back,) = await store.list_deliveries(mid)
    assert (given_back.status, given_back.owner, given_back.attempts) == ("pending", None, 1)
    assert given_back.last_error == "the server stopped during the attempt"
    async with running(config, store) as second:
        again = await receiver.wait(lambda r: r is not held, held=True)
        assert again.delivery == held.delivery and again.body == held.body
        events = second.events()
        receiver.release()
        await settled(events, held.delivery, "delivered")
        (listed,) = await deliveries(second, sid, mid)
        assert (listed["status"], listed["attempts"]) == ("delivered", 2)


async def test_a_run_a_dead_server_left_is_reported_failed_at_the_next_start(
    tmp_path: Path, app_project: Path, receiver: Receiver
) -> None:
    store = MemoryStore()
    config = server_config(tmp_path / "data", app_project, **QUICK)
    async with running(config, store) as before:
        sid = await create_session(before.client)
        ok(await before.client.post(f"/session/{sid}/message", json=prompt_body("REPLY before")))
    # What a server killed in the middle of a run leaves: the run claimed and running, its prompt stored.
    user = {**(await store.list_messages(sid))[0]["info"], "id": "msg_left"}
    run = RunRecord("msg_left", sid, "prompt", "h", "running", "run_dead", callback=receiver.url)
    assert await store.claim_run(run, user, []) is None
    async with running(config, store):
        body = json.loads((await receiver.accepted()).body)
    assert (body["type"], body["messageID"]) == ("run.failed", "msg_left")
    assert "interrupted" in body["info"]["error"]["data"]["message"]


async def test_retrying_ends_when_its_time_is_up(tmp_path: Path, app_project: Path) -> None:
    receiver = await Receiver().start()
    receiver.status = 500
    flags = {**QUICK, "webhook_retry_for": 0.3}
    try:
        async with running(server_config(tmp_path / "data", app_project, **flags)) as app:
            events = app.events()
            sid = await create_session(app.client)
            mid = await start_run(app, sid, "REPLY unheard", receiver.url)
            failed = await events.wait(
                lambda e: e["type"] == "webhook.delivery" and e["properties"]["status"] == "failed"
            )
            props = failed["properties"]
            assert props["messageID"] == mid and props["lastStatus"] == 500 and props["attempts"] >= 2
            assert props["time"]["ended"] - props["time"]["created"] >= 300
            assert len(receiver.of(props["id"])) == props["attempts"]
    finally:
        await receiver.stop()


async def test_the_first_retry_is_due_within_about_five_seconds_by_default(
    tmp_path: Path, app_project: Path
) -> None:
    receiver = await Receiver().start()
    receiver.status = 500
    try:
        async with running(server_config(tmp_path / "data", app_project)) as app:
            events = app.events()
            sid = await create_session(app.client)
            await start_run(app, sid, "REPLY unheard", receiver.url)
            retry = await events.wait(
                lambda e: e["type"] == "webhook.delivery" and e["properties"].get("lastStatus") == 500
            )
            times = retry["properties"]["time"]
            assert 0 < times["next"] - times["created"] <= 5_000
    finally:
        await receiver.stop()


async def test_no_more_attempts_are_in_flight_than_the_concurrency_allows(
    tmp_path: Path, app_project: Path, receiver: Receiver
) -> None:
    receiver.hold()
    async with running(server_config(tmp_path / "data", app_project, **QUICK, webhook_concurrency=1)) as app:
        events = app.events()
        sid = await create_session(app.client)
        first = await start_run(app, sid, "REPLY one", receiver.url)
        held = await receiver.wait(lambda r: True, held=True)
        second = await start_run(app, sid, "REPLY two", receiver.url)
        stored = await events.wait(
            lambda e: e["type"] == "webhook.delivery" and e["properties"]["messageID"] == second
        )
        assert stored["properties"]["attempts"] == 0  # stored for the courier to claim: no slot was free
        assert len(receiver.held) == 1 and json.loads(held.body)["messageID"] == first
        receiver.release()
        await settled(events, stored["properties"]["id"], "delivered")
        assert [json.loads(r.body)["messageID"] for r in receiver.requests] == [first, second]
