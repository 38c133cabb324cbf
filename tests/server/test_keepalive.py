"""Long calls over real HTTP with sub-second keep-alive intervals (the test server uses 0.2 s)."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.support.fakellm import FakeLLMThread
from tests.support.http import messages, new_session, prompt_body, text_of, validate_all, wait_idle
from tests.support.schemas import validate_response
from tests.support.server import WakefulProcess, write_project_config
from wakeful import ids

INTERVAL = 0.2
SHORT_READ = httpx.Timeout(10.0, read=INTERVAL * 3)


def _key() -> str:
    return f"k{uuid.uuid4().hex[:10]}"


def test_headers_go_out_before_the_run_ends_and_the_body_is_one_json_document(
    server: WakefulProcess, llm: FakeLLMThread
) -> None:
    key = _key()
    with server.client(timeout=SHORT_READ) as http:
        sid = new_session(http)
        with http.stream(
            "POST", f"/session/{sid}/message", json=prompt_body(f"HOLD {key}\nREPLY held")
        ) as response:
            assert response.status_code == 200
            llm.wait_for_hold(key, timeout=10)
            headers = response.headers
            assert headers["content-type"] == "application/json"
            assert headers["cache-control"] == "no-cache, no-transform"
            assert headers["x-accel-buffering"] == "no"
            assert headers["transfer-encoding"] == "chunked"
            assert "content-encoding" not in headers and "content-length" not in headers
            assert float(headers["x-keepalive-interval"]) == INTERVAL
            chunks = response.iter_raw()
            first = next(chunks)
            assert first.strip() == b"" and b"\n" in first
            llm.release(key)
            body = first + b"".join(chunks)
    assert body.startswith(b"\n") and body.strip().startswith(b"{")
    reply = json.loads(body)
    validate_response("post", "/session/{sessionID}/message", 200, reply)
    assert "held" in "".join(p.get("text", "") for p in reply["parts"])


def test_a_short_answer_starts_with_a_brace(server: WakefulProcess) -> None:
    with server.client() as http:
        sid = new_session(http)
        response = http.post(
            f"/session/{sid}/message", json=prompt_body("REPLY quick"), headers={"X-Keepalive-Interval": "5"}
        )
        assert response.headers["x-keepalive-interval"] == "5"
        assert response.content.startswith(b"{")


def test_requested_interval_is_clamped_and_validated(server: WakefulProcess) -> None:
    with server.client() as http:
        sid = new_session(http)
        tiny = http.post(
            f"/session/{sid}/message", json=prompt_body("REPLY x"), headers={"X-Keepalive-Interval": "0.0001"}
        )
        assert float(tiny.headers["x-keepalive-interval"]) == 0.05
        before = len(http.get(f"/session/{sid}/message").json())
        for bad in ("soon", "-1", "0", "nan"):
            refused = http.post(
                f"/session/{sid}/message", json=prompt_body("REPLY x"), headers={"X-Keepalive-Interval": bad}
            )
            assert refused.status_code == 400 and refused.json()["field"] == "X-Keepalive-Interval"
        assert len(http.get(f"/session/{sid}/message").json()) == before


@pytest.mark.parametrize("route", ["message", "command", "shell", "reply"])
def test_a_client_whose_read_timeout_is_shorter_than_the_run_succeeds(
    route: str, server: WakefulProcess, project: Path
) -> None:
    with server.client(timeout=SHORT_READ) as http:
        sid = new_session(http)
        started = time.monotonic()
        if route == "message":
            response = http.post(f"/session/{sid}/message", json=prompt_body("DELAY 1.5\nREPLY slow"))
        elif route == "command":
            response = http.post(f"/session/{sid}/command", json={"command": "slow", "arguments": "1.5"})
        elif route == "shell":
            response = http.post(
                f"/session/{sid}/shell", json={"agent": "build", "command": "sleep 1.5; echo slept"}
            )
        else:
            mid = ids.message_id()
            http.post(f"/session/{sid}/prompt_async", json=prompt_body("DELAY 1.5\nREPLY later", messageID=mid))
            response = http.get(f"/session/{sid}/message/{mid}/reply")
        # The run outlasting the client's read timeout (0.6 s) is the point.
        assert time.monotonic() - started >= 1.5
        assert response.status_code == 200
        assert response.content.startswith(b"\n")
        reply = response.json()
        assert reply["info"]["role"] == "assistant" and "error" not in reply["info"]


def test_a_failure_after_the_200_ends_with_info_error(server: WakefulProcess) -> None:
    with server.client(timeout=SHORT_READ) as http:
        sid = new_session(http)
        response = http.post(f"/session/{sid}/message", json=prompt_body("DELAY 0.6\nERROR 400"))
        assert response.status_code == 200 and response.content.startswith(b"\n")
        reply = json.loads(response.content)
        assert reply["info"]["error"]["name"] == "APIError"
        assert reply["info"]["error"]["data"]["statusCode"] == 400
        validate_response("post", "/session/{sessionID}/message", 200, reply)


def test_early_failures_come_before_the_200(server: WakefulProcess) -> None:
    with server.client() as http:
        sid = new_session(http)
        assert http.post("/session/ses_missing/message", json=prompt_body("x")).status_code == 404
        assert http.post(f"/session/{sid}/message", json={"parts": "nope"}).status_code == 400
        assert (
            http.post(f"/session/{sid}/message", json={**prompt_body("x"), "agent": "nobody"}).status_code == 400
        )
        model = {"providerID": "mock", "modelID": "missing"}
        assert http.post(f"/session/{sid}/message", json={**prompt_body("x"), "model": model}).status_code == 400
        assert (
            http.post(f"/session/{sid}/command", json={"command": "nope", "arguments": ""}).status_code == 400
        )
        assert (
            http.post(
                f"/session/{sid}/message", json=prompt_body("x"), params={"on_disconnect": "later"}
            ).status_code
            == 400
        )
        assert http.get(f"/session/{sid}/message").json() == []


def test_a_disconnect_leaves_the_run_to_finish_and_a_retry_gets_its_answer(
    server: WakefulProcess, llm: FakeLLMThread
) -> None:
    key = _key()
    script = f"HOLD {key}\nREPLY survived {key}"
    mid = ids.message_id()
    with server.client() as http:
        sid = new_session(http)
    with (
        server.client() as doomed,
        doomed.stream("POST", f"/session/{sid}/message", json=prompt_body(script, messageID=mid)) as r,
    ):
        assert r.status_code == 200
        llm.wait_for_hold(key, timeout=10)
    # The client is gone; the run goes on.
    llm.release(key)
    with server.client(timeout=SHORT_READ) as http:
        retry = http.post(f"/session/{sid}/message", json=prompt_body(script, messageID=mid))
        assert retry.status_code == 200
        reply = retry.json()
        assert f"survived {key}" in "".join(p.get("text", "") for p in reply["parts"])
        stored = http.get(f"/session/{sid}/message").json()
        again = http.post(f"/session/{sid}/message", json=prompt_body(script, messageID=mid))
        assert again.json() == reply
        assert http.get(f"/session/{sid}/message").json() == stored
    assert llm.count(script) == 1
    assert [m["info"]["role"] for m in stored] == ["user", "assistant"]
    assert len(stored[0]["parts"]) == 1


def test_ten_identical_requests_run_the_agent_once(server: WakefulProcess, llm: FakeLLMThread) -> None:
    key = _key()
    script = f"HOLD {key}\nREPLY once {key}"
    mid = ids.message_id()
    with server.client() as http:
        sid = new_session(http)
    bodies: list[bytes] = []
    errors: list[BaseException] = []
    attached = threading.Semaphore(0)

    def call() -> None:
        try:
            body = prompt_body(script, messageID=mid)
            with (
                server.client(timeout=30) as http,
                http.stream("POST", f"/session/{sid}/message", json=body) as response,
            ):
                # A held call's headers go out once it is attached to the run (or refused).
                assert response.status_code == 200
                attached.release()
                bodies.append(response.read())
        except BaseException as exc:
            errors.append(exc)
            attached.release()

    threads = [threading.Thread(target=call) for _ in range(10)]
    for thread in threads:
        thread.start()
    llm.wait_for_hold(key, timeout=10)
    for _ in threads:  # every copy attached to the live run before the answer exists
        assert attached.acquire(timeout=10)
    assert not errors
    llm.release(key)
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(bodies) == 10
    assert len({json.dumps(json.loads(b), sort_keys=True) for b in bodies}) == 1
    assert llm.count(script) == 1


def test_a_different_body_under_a_used_message_id_is_a_conflict(server: WakefulProcess) -> None:
    mid = ids.message_id()
    with server.client() as http:
        sid = new_session(http)
        assert http.post(f"/session/{sid}/message", json=prompt_body("REPLY first", messageID=mid)).status_code == 200
        stored = http.get(f"/session/{sid}/message").json()
        conflict = http.post(f"/session/{sid}/message", json=prompt_body("REPLY second", messageID=mid))
        assert conflict.status_code == 409
        body = conflict.json()
        assert body["_tag"] == "ConflictError" and body["resource"] == mid
        assert http.post(f"/session/{sid}/prompt_async", json=prompt_body("REPLY second", messageID=mid)).status_code == 409
        other = new_session(http)
        assert http.post(f"/session/{other}/message", json=prompt_body("REPLY first", messageID=mid)).status_code == 409
        assert http.get(f"/session/{sid}/message").json() == stored


def test_on_disconnect_abort_stops_the_run(server: WakefulProcess, llm: FakeLLMThread) -> None:
    key = _key()
    mid = ids.message_id()
    with server.client() as http:
        sid = new_session(http)
    with (
        server.client() as doomed,
        doomed.stream(
            "POST",
            f"/session/{sid}/message",
            params={"on_disconnect": "abort"},
            json=prompt_body(f"HOLD {key}", messageID=mid),
        ) as response,
    ):
        assert response.status_code == 200
        llm.wait_for_hold(key, timeout=10)
    with server.client(timeout=SHORT_READ) as http:
        reply = http.get(f"/session/{sid}/message/{mid}/reply").json()
        assert reply["info"]["error"]["name"] == "MessageAbortedError"
        assert "disconnected" in reply["info"]["error"]["data"]["message"]
    llm.release(key)


def test_prompt_async_names_what_to_wait_on_and_the_waits_hold(
    server: WakefulProcess, llm: FakeLLMThread
) -> None:
    key = _key()
    with server.client(timeout=SHORT_READ) as http:
        sid = new_session(http)
        accepted = http.post(f"/session/{sid}/prompt_async", json=prompt_body(f"HOLD {key}\nREPLY waited"))
        assert accepted.status_code == 204 and accepted.content == b""
        mid = accepted.headers["x-wakeful-message-id"]
        assert mid.startswith("msg_")
        llm.wait_for_hold(key, timeout=10)
        threading.Timer(INTERVAL * 4, llm.release, args=(key,)).start()
        reply = http.get(f"/session/{sid}/message/{mid}/reply")
        assert reply.content.startswith(b"\n") and reply.json()["info"]["parentID"] == mid
        assert http.get(f"/session/{sid}/message/{mid}/reply").json() == reply.json()
        waited = http.get(f"/session/{sid}/wait")
        assert waited.status_code == 200 and waited.json()["id"] == sid
        assert http.get("/session/status").json().get(sid) is None
        assert http.get(f"/session/{sid}/message/{ids.message_id()}/reply").status_code == 404


def test_default_interval_keeps_httpx_default_timeout_alive(tmp_path: Path, llm: FakeLLMThread) -> None:
    """The server's default interval against httpx's default Timeout(5) and a 15 s run."""
    write_project_config(tmp_path, llm.url)
    env: dict[str, str | None] = {"WAKEFUL_KEEPALIVE_INTERVAL": None, "WAKEFUL_PROVIDER_SILENCE": "60"}
    proc = WakefulProcess(tmp_path / "data", tmp_path, env=env).start()
    try:
        with httpx.Client(base_url=proc.url, timeout=httpx.Timeout(5.0)) as http:
            sid = new_session(http)
            started = time.monotonic()
            response = http.post(f"/session/{sid}/message", json=prompt_body("DELAY 15\nREPLY patient"))
            # The run outlasting httpx's default read timeout (5 s) several times over is the point.
            assert time.monotonic() - started >= 15
            assert response.headers["x-keepalive-interval"] == "2"
            assert response.json()["info"]["finish"] == "stop"
    finally:
        proc.stop()


# --- a client that hangs up on a raw socket ------------------------------------------------------


def _post_and_hang_up(server: WakefulProcess, path: str, body: dict[str, Any]) -> socket.socket:
    """Send a POST on a raw socket and read the status line; the caller closes it (a hang-up)."""
    raw = json.dumps(body).encode()
    url = urlparse(server.url)
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n".encode()
        + raw
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    return sock


def test_a_client_that_disconnects_does_not_stop_the_run(
    server: WakefulProcess, http: httpx.Client, llm: FakeLLMThread
) -> None:
    sid, witness = new_session(http), new_session(http)
    key, witness_key = f"disc-{uuid.uuid4().hex[:8]}", f"witness-{uuid.uuid4().hex[:8]}"
    sock = _post_and_hang_up(
        server, f"/session/{sid}/message", prompt_body(f"HOLD {key}\nREPLY survived the disconnect")
    )
    llm.wait_for_hold(key)
    # A witness: a call the server stops when it sees its hang-up, which comes after ours.
    other = _post_and_hang_up(
        server, f"/session/{witness}/message?on_disconnect=abort", prompt_body(f"HOLD {witness_key}")
    )
    llm.wait_for_hold(witness_key)
    sock.close()
    other.close()
    wait_idle(http, witness)  # the server has seen the witness hang up, so ours too
    assert messages(http, witness)[-1]["info"]["error"]["name"] == "MessageAbortedError"
    llm.release(key)
    wait_idle(http, sid)
    stored = messages(http, sid)
    validate_all(stored)
    reply = stored[-1]
    assert reply["info"]["role"] == "assistant" and "error" not in reply["info"]
    assert reply["info"]["finish"] == "stop"
    assert text_of(reply) == "survived the disconnect"
    llm.release(witness_key)


def test_on_disconnect_abort_is_the_opt_in_to_stop_the_run(
    server: WakefulProcess, http: httpx.Client, llm: FakeLLMThread
) -> None:
    sid = new_session(http)
    key = f"disc-abort-{uuid.uuid4().hex[:8]}"
    sock = _post_and_hang_up(
        server, f"/session/{sid}/message?on_disconnect=abort", prompt_body(f"HOLD {key}\nREPLY never")
    )
    llm.wait_for_hold(key)
    sock.close()
    wait_idle(http, sid)  # ends without a release: the hang-up aborted it
    reply = messages(http, sid)[-1]
    assert reply["info"]["error"]["name"] == "MessageAbortedError"
    llm.release(key)
