"""Webhooks over HTTP: `?callback=` refused (400) before a run starts when the allow-list does not
allow it, on every route that starts one; the deliveries route and its document; and, over a real
server process, deliveries that survive a restart in the middle of their retries, signed with the
secret `wakeful webhook secret` prints."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import new_session, prompt_body
from tests.support.inproc import InProcess, create_session, ok, prompt
from tests.support.receiver import Received, ThreadedReceiver, documented_verify
from tests.support.server import SCRIPTED, WakefulProcess, isolated_environ, write_project_config
from wakeful.ids import message_id

QUICK = {
    "WAKEFUL_WEBHOOK_RETRY_BASE": "0.05",
    "WAKEFUL_WEBHOOK_RETRY_MAX_DELAY": "0.2",
    "WAKEFUL_WEBHOOK_TIMEOUT": "1",
}
# Routes that start a run, with a body each accepts.
RUN_ROUTES = [
    ("message", prompt_body("REPLY never")),
    ("prompt_async", prompt_body("REPLY never")),
    ("command", {"command": "init", "arguments": ""}),
    ("shell", {"command": "echo never", "agent": "build"}),
]


@pytest.mark.parametrize(("route", "body"), RUN_ROUTES, ids=[r for r, _ in RUN_ROUTES])
@pytest.mark.parametrize(
    "callback",
    [
        "http://10.1.2.3/hook",  # private, and the default allows loopback only
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/hook",
        "file:///etc/passwd",
        "not a url",
    ],
)
async def test_a_disallowed_callback_is_refused_before_the_run_starts(
    wakeful: InProcess, route: str, body: dict[str, Any], callback: str
) -> None:
    events = wakeful.events()
    sid = await create_session(wakeful.client)
    mid = message_id()
    response = await wakeful.client.post(
        f"/session/{sid}/{route}", params={"callback": callback}, json={**body, "messageID": mid}
    )
    assert response.status_code == 400, response.text
    refusal = response.json()
    assert refusal["_tag"] == "InvalidRequestError" and refusal["field"] == "callback"
    assert ok(await wakeful.client.get(f"/session/{sid}/message")) == []
    assert await wakeful.runtime.runs.stored(mid) is None
    assert await events.of("session.status", sid) == []


async def test_an_allowed_callback_is_taken_by_every_route_that_starts_a_run(wakeful: InProcess) -> None:
    sid = await create_session(wakeful.client)
    callback = "http://localhost:9/hook"  # nothing listens: the deliveries stay pending
    for route, body in RUN_ROUTES:
        mid = message_id()
        response = await wakeful.client.post(
            f"/session/{sid}/{route}", params={"callback": callback}, json={**body, "messageID": mid}
        )
        assert response.status_code in (200, 204), (route, response.text)
        await wakeful.runtime.runs.idle(sid)
        run = await wakeful.runtime.runs.stored(mid)
        assert run is not None and run.callback == callback, route
        (delivery,) = ok(await wakeful.client.get(f"/session/{sid}/message/{mid}/deliveries"))
        assert delivery["url"] == callback and delivery["event"] in ("run.finished", "run.failed")


async def test_the_deliveries_of_a_run_without_a_callback_or_of_no_run(wakeful: InProcess) -> None:
    sid = await create_session(wakeful.client)
    response = await wakeful.client.post(f"/session/{sid}/message", json=prompt_body("REPLY quiet"))
    mid = response.headers["X-Wakeful-Message-ID"]
    assert ok(await wakeful.client.get(f"/session/{sid}/message/{mid}/deliveries")) == []
    unknown = await wakeful.client.get(f"/session/{sid}/message/msg_none/deliveries")
    assert unknown.status_code == 404 and unknown.json()["name"] == "NotFoundError"
    other = await create_session(wakeful.client)
    elsewhere = await wakeful.client.get(f"/session/{other}/message/{mid}/deliveries")
    assert elsewhere.status_code == 404
    await prompt(wakeful.client, sid, "REPLY still quiet")


async def test_the_document_has_the_callback_and_the_deliveries(wakeful: InProcess) -> None:
    doc = ok(await wakeful.client.get("/doc"))
    for path in ("message", "prompt_async", "command", "shell"):
        route = doc["paths"][f"/session/{{sessionID}}/{path}"]["post"]
        assert "callback" in {p["name"] for p in route["parameters"]}, path
        (request,) = route["callbacks"]["delivery"]["{$request.query.callback}"].values()
        assert "422" not in request["responses"]
        headers = {p["name"] for p in request["parameters"] if p["in"] == "header"}
        assert {"x-wakeful-signature", "x-wakeful-timestamp", "x-wakeful-delivery"} <= headers
        body = request["requestBody"]["content"]["application/json"]["schema"]
        assert body["discriminator"]["mapping"]["permission.asked"].endswith("/PermissionAsked")
    for path in ("/session/{sessionID}/message/{messageID}/reply", "/session/{sessionID}/wait"):
        assert "callback" not in {p["name"] for p in doc["paths"][path]["get"]["parameters"]}
    listing = doc["paths"]["/session/{sessionID}/message/{messageID}/deliveries"]["get"]
    assert listing["operationId"] == "session.deliveries"
    schema = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["items"]["$ref"].endswith("/Delivery")
    delivery = doc["components"]["schemas"]["Delivery"]
    assert {"id", "event", "status", "attempts", "url", "time"} <= set(delivery["required"])


# --- over a real server process ---------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    write_project_config(directory, SCRIPTED)
    return directory


@pytest.fixture
def receiver() -> Iterator[ThreadedReceiver]:
    threaded = ThreadedReceiver().start()
    yield threaded
    threaded.close()


def secret_of(data_dir: Path) -> str:
    """What `wakeful webhook secret` prints for the data directory."""
    done = subprocess.run(
        [sys.executable, "-m", "wakeful", "webhook", "secret", "--data-dir", str(data_dir)],
        env=isolated_environ(data_dir / "home"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def verify(secret: str, request: Received) -> bool:
    headers = request.headers
    return documented_verify()(
        secret, headers["x-wakeful-timestamp"], headers["x-wakeful-signature"], request.body
    )


def test_a_server_killed_while_retrying_still_delivers_after_its_restart(
    tmp_path: Path, project: Path, receiver: ThreadedReceiver
) -> None:
    """SIGKILL: nothing of the server's shutdown runs (a server stopped gracefully gives its lease
    back: tests/run/test_webhooks.py)."""
    data = tmp_path / "data"
    secret = secret_of(data)  # made by the CLI before the server ever ran: the server signs with it
    receiver.set_status(500)
    server = WakefulProcess(data, project, env=dict(QUICK)).start()
    try:
        with server.client() as http:
            sid = new_session(http)
            response = http.post(
                f"/session/{sid}/message",
                params={"callback": receiver.url},
                json=prompt_body("REPLY restart me"),
            )
            assert response.status_code == 200, response.text
            mid = response.headers["X-Wakeful-Message-ID"]
        first = receiver.wait(lambda r: r.answered == 500)
    finally:
        server.kill()
    receiver.set_status(200)
    restarted = WakefulProcess(data, project, env=dict(QUICK)).start()
    try:
        # A lease the killed server held runs out after twice WAKEFUL_WEBHOOK_TIMEOUT.
        accepted = receiver.wait(lambda r: r.answered == 200, patience=30)
        assert accepted.delivery == first.delivery and accepted.body == first.body
        assert verify(secret, accepted) and verify(secret, first)
        body = json.loads(accepted.body)
        assert (body["type"], body["messageID"], body["sessionID"]) == ("run.finished", mid, sid)
        with restarted.client() as http:
            delivered = _delivered(http, sid, mid)
        assert delivered["attempts"] >= 2 and delivered["lastStatus"] == 200
        assert [r.answered for r in receiver.requests() if r.answered == 200] == [200]
    finally:
        restarted.stop()


def _delivered(http: httpx.Client, sid: str, mid: str) -> dict[str, Any]:
    """The run's one delivery once it is recorded as delivered (a moment after the receiver's 200)."""
    with http.stream("GET", "/event") as events:
        listed = http.get(f"/session/{sid}/message/{mid}/deliveries").json()
        if listed[0]["status"] != "delivered":
            for line in events.iter_lines():
                if line.startswith("data: ") and '"webhook.delivery"' in line:
                    event = json.loads(line[6:])["properties"]
                    if event["messageID"] == mid and event["status"] == "delivered":
                        break
            listed = http.get(f"/session/{sid}/message/{mid}/deliveries").json()
    (delivery,) = listed
    assert delivery["status"] == "delivered", delivery
    result: dict[str, Any] = delivery
    return result


def test_the_secret_is_kept_private_and_an_explicit_one_wins(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = secret_of(data)
    assert len(made) >= 32 and secret_of(data) == made
    assert (data / "webhook-secret").stat().st_mode & 0o777 == 0o600
    given = subprocess.run(
        [sys.executable, "-m", "wakeful", "webhook", "secret", "--data-dir", str(data)],
        env={**isolated_environ(data / "home"), "WAKEFUL_WEBHOOK_SECRET": "x" * 40},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert given.stdout.strip() == "x" * 40
