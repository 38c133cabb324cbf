"""Where wakeful answers differently from opencode 1.18.33 on purpose, each test names the difference.

Every test first states what the reference did, from its captures in tests/data/captures (copied from
../shared/reference/opencode-1.18.33/captures), then shows what wakeful does instead. The list, with
the reasons, is in docs/compatibility.md ("Deliberate differences").
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fakellm import FakeLLMThread
from tests.support.http import new_session, prompt_body
from tests.support.schemas import DATA, capture, document, validate, validate_response
from tests.support.server import WakefulProcess
from wakeful import ids

MESSAGE_HEADER = "X-Wakeful-Message-ID"
KEEPALIVE_HEADER = "X-Keepalive-Interval"
PROMPT = "/session/{sessionID}/message"


def _texts(reply: dict[str, Any]) -> list[str]:
    return [p["text"] for p in reply["parts"] if p["type"] == "text"]


def _reply(response: httpx.Response) -> dict[str, Any]:
    """The JSON document at the end of a held response (after any keep-alive newlines)."""
    assert response.status_code == 200
    reply: dict[str, Any] = json.loads(response.read())
    validate_response("post", PROMPT, 200, reply)
    return reply


def test_each_queued_prompt_gets_its_own_reply(http: httpx.Client, llm: FakeLLMThread) -> None:
    # The reference queued the second prompt, then answered BOTH callers with the second reply.
    first_ref, second_ref = capture("exp5-first.json"), capture("exp5-second.json")
    assert first_ref == second_ref and _texts(first_ref) == ["second"]

    sid = new_session(http, title="queued prompts")
    url = PROMPT.format(sessionID=sid)
    with http.stream("POST", url, json=prompt_body("HOLD exp5\nREPLY first")) as first:
        llm.wait_for_hold("exp5")
        with http.stream("POST", url, json=prompt_body("REPLY second")) as second:
            # accepted (its headers are here) while the first run still holds the session: queued
            assert http.get("/session/status").json()[sid] == {"type": "busy"}
            llm.release("exp5")
            first_reply, second_reply = _reply(first), _reply(second)
    first_id, second_id = first.headers[MESSAGE_HEADER], second.headers[MESSAGE_HEADER]

    assert first_reply["info"]["parentID"] == first_id and _texts(first_reply) == ["first"]
    assert second_reply["info"]["parentID"] == second_id and _texts(second_reply) == ["second"]
    history = [m["info"]["id"] for m in http.get(url).json()]
    assert history == [first_id, first_reply["info"]["id"], second_id, second_reply["info"]["id"]]
    # our addition: either caller can fetch its own reply again
    again = http.get(f"/session/{sid}/message/{first_id}/reply")
    assert again.status_code == 200 and again.json() == first_reply


def test_a_retried_message_id_never_changes_stored_messages(http: httpx.Client, llm: FakeLLMThread) -> None:
    # The reference, given a used messageID again after the run, appended the new text part to the
    # stored user message (and gave it a new time.created).
    reference = capture("exp8a-messages.json")
    assert [p["text"] for p in reference[0]["parts"]] == ["REPLY first", "REPLY second"]

    sid = new_session(http, title="retried message id")
    url = PROMPT.format(sessionID=sid)
    message_id = ids.message_id()
    body = prompt_body("REPLY answered once", messageID=message_id)
    first = http.post(url, json=body)
    assert first.status_code == 200
    before = http.get(url).json()

    # the same request again (a client retry): the stored reply, no second run
    again = http.post(url, json=body)
    assert again.status_code == 200 and again.json() == first.json()
    # a different request under the same id: refused, in the _tag form of the reference's errors
    other = http.post(url, json=prompt_body("REPLY a different request", messageID=message_id))
    assert other.status_code == 409
    validate("ConflictError", other.json())
    assert other.json()["resource"] == message_id

    assert http.get(url).json() == before
    stored = http.get(f"/session/{sid}/message/{message_id}").json()
    assert [p["text"] for p in stored["parts"]] == ["REPLY answered once"]
    assert llm.count("REPLY answered once") == 1 and llm.count("REPLY a different request") == 0


def test_a_message_id_sent_again_during_its_run_attaches_to_it(
    http: httpx.Client, llm: FakeLLMThread
) -> None:
    # The reference, given the same body and messageID twice during the run, stored the text twice.
    reference = capture("exp8b-messages.json")
    assert [p["text"] for p in reference[0]["parts"]] == ["DELAY 20", "DELAY 20"]

    sid = new_session(http, title="attach to a live run")
    url = PROMPT.format(sessionID=sid)
    message_id = ids.message_id()
    script = "HOLD exp8b\nREPLY attached"
    body = prompt_body(script, messageID=message_id)
    with http.stream("POST", url, json=body) as first:
        llm.wait_for_hold("exp8b")
        with http.stream("POST", url, json=body) as second:
            assert second.headers[MESSAGE_HEADER] == message_id
            llm.release("exp8b")
            first_reply, second_reply = _reply(first), _reply(second)

    assert first_reply == second_reply and _texts(first_reply) == ["attached"]
    stored = http.get(f"/session/{sid}/message/{message_id}").json()
    assert [p["text"] for p in stored["parts"]] == [script]
    assert [m["info"]["role"] for m in http.get(url).json()] == ["user", "assistant"]
    assert llm.count(script) == 1


def test_message_headers_arrive_before_the_run_ends(http: httpx.Client, llm: FakeLLMThread) -> None:
    # The reference sent its status line and headers only when the run ended (a 90 s LLM delay put
    # them at +90.2 s), with no keep-alive header.
    reference = (DATA / "captures" / "prompt-response.headers").read_text().lower()
    assert reference.startswith("http/1.1 200") and KEEPALIVE_HEADER.lower() not in reference

    sid = new_session(http, title="early headers")
    url = PROMPT.format(sessionID=sid)
    with http.stream(
        "POST", url, json=prompt_body("HOLD early\nREPLY late"), headers={KEEPALIVE_HEADER: "0.3"}
    ) as r:
        # here while the run is still held inside the LLM call
        llm.wait_for_hold("early")
        assert r.status_code == 200
        assert r.headers[KEEPALIVE_HEADER] == "0.3"
        assert r.headers["content-type"] == "application/json"
        assert r.headers[MESSAGE_HEADER].startswith("msg_")
        chunks = (chunk for chunk in r.iter_raw() if chunk)
        keepalive = next(chunks)
        assert keepalive.strip(b"\n") == b"", keepalive  # keep-alive bytes while the run goes on
        assert http.get("/session/status").json()[sid] == {"type": "busy"}
        llm.release("early")
        rest = b"".join(chunks)
    reply = json.loads(keepalive + rest)  # leading newlines are JSON whitespace
    validate_response("post", PROMPT, 200, reply)
    assert rest.lstrip(b"\n").startswith(b'{"info"') and _texts(reply) == ["late"]
    assert reply["info"]["parentID"] == r.headers[MESSAGE_HEADER]


def _sse(
    response: httpx.Response, until: Callable[[dict[str, Any]], bool]
) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(SSE id, event) pairs up to and including the first event `until` accepts."""
    deadline = time.monotonic() + 15
    event_id: str | None = None
    for line in response.iter_lines():
        assert time.monotonic() < deadline, "the awaited event did not come"
        if line.startswith("id:"):
            event_id = line.removeprefix("id:").strip()
        elif line.startswith("data:"):
            event = json.loads(line.removeprefix("data:"))
            yield event_id, event
            if until(event):
                return
            event_id = None
        elif line == "":
            event_id = None


def test_events_carry_ids_and_a_reconnect_gets_what_it_missed(server: WakefulProcess) -> None:
    # The reference's /event has `data:` lines only: no `id:`, so nothing to resume from.
    sample = (DATA / "captures" / "event-sample-20lines.sse").read_text().splitlines()
    assert any(line.startswith("data:") for line in sample)
    assert not any(line.startswith("id:") for line in sample)

    with server.client() as http, server.client() as other:
        with http.stream("GET", "/event") as stream:
            sid = new_session(other, title="sse ids")
            seen = list(
                _sse(stream, lambda e: e["type"] == "session.created" and e["properties"]["sessionID"] == sid)
            )
        connected_id, connected = seen[0]
        assert connected["type"] == "server.connected" and connected_id is None  # not replayable
        created_id, created = seen[-1]
        assert created_id == created["id"] and created_id.startswith("evt_")

        # published while no stream is open: replayed to the next one that names the last id it saw
        missed = new_session(other, title="missed while away")
        with http.stream("GET", "/event", headers={"Last-Event-ID": created_id}) as stream:
            replay = list(
                _sse(
                    stream,
                    lambda e: e["type"] == "session.created" and e["properties"]["sessionID"] == missed,
                )
            )
        types = [e["type"] for _, e in replay]
        assert "server.gap" not in types and types[-1] == "session.created"
        for event_id, event in replay:
            if event["type"] in ("server.connected", "server.heartbeat"):
                assert event_id is None  # never moves a client's Last-Event-ID
            else:
                assert event_id == event["id"]

        # an id the server does not know: our `server.gap` event says so instead of silently skipping
        with http.stream(
            "GET", "/event", headers={"Last-Event-ID": "evt_000000000000unknownunknow"}
        ) as stream:
            gap = list(_sse(stream, lambda e: e["type"] == "server.gap"))[-1][1]
        assert gap["properties"]["reason"] == "unknown-id"
        assert gap["properties"]["lastEventID"] == "evt_000000000000unknownunknow"


def test_streamed_text_is_kept_when_the_run_fails(http: httpx.Client, llm: FakeLLMThread) -> None:
    # The reference, after its retries on a stream cut, answered APIError with no parts at all: the
    # text already streamed to the client (and shown in its UI) was dropped.
    reference = capture("exp6c-break3-response.json")
    assert reference["parts"] == [] and reference["info"]["error"]["name"] == "APIError"

    sid = new_session(http, title="cut stream")
    script = "BREAK 3\nREPLY streamed before the cut"
    response = http.post(PROMPT.format(sessionID=sid), json=prompt_body(script))
    assert response.status_code == 200
    reply = response.json()
    validate_response("post", PROMPT, 200, reply)
    assert reply["info"]["error"]["name"] == "APIError"
    texts = _texts(reply)
    assert texts and texts[-1] and "streamed before the cut".startswith(texts[-1])
    assert llm.count(script) == 6  # retried 5 times, as the reference does


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory, project: Path) -> Iterator[WakefulProcess]:
    proc = WakefulProcess(
        tmp_path_factory.mktemp("protected-data"), project, env={"OPENCODE_SERVER_PASSWORD": "s3cret"}
    ).start()
    yield proc
    proc.stop()


def test_statuses_the_reference_never_sends_use_its_tag_form(protected: WakefulProcess) -> None:
    # None of the reference's v1 routes declares a 401; wakeful's body uses the reference's own
    # UnauthorizedError schema (the `_tag` form of its other errors).
    v1_statuses = {
        status
        for path in document()["paths"].values()
        for op in path.values()
        if isinstance(op, dict) and not op.get("operationId", "").startswith("v2.")
        for status in op.get("responses", {})
    }
    assert "401" not in v1_statuses

    with protected.client() as http:
        refused = http.get("/session")
        assert refused.status_code == 401
        validate("UnauthorizedError", refused.json())
        assert refused.headers["www-authenticate"].lower().startswith("basic")
        allowed = http.get("/session", auth=("opencode", "s3cret"))
        assert allowed.status_code == 200
        validate_response("get", "/session", 200, allowed.json())
