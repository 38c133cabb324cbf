"""`wakeful.Client` against a real server over loopback (keep-alive interval 0.2 s, so the client's
silence limit is 0.6 s), with a TCP proxy in between where a connection has to break."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.client.conftest import unique
from tests.support.fakellm import FakeLLMThread
from tests.support.proxy import Proxy
from tests.support.server import WakefulProcess
from wakeful import ids
from wakeful.client import (
    BadRequest,
    Client,
    Conflict,
    ConnectionLost,
    DeadlineExceeded,
    Event,
    Gap,
    NotFound,
    RunFailed,
    SessionBusy,
)

pool = ThreadPoolExecutor(max_workers=4)


def test_sessions_and_messages(client: Client) -> None:
    session = client.create_session(title="client crud")
    assert client.get_session(session.id) == session
    assert session.id in {s.id for s in client.list_sessions(limit=50)}
    assert client.update_session(session.id, title="renamed").title == "renamed"
    reply = client.prompt(session.id, "REPLY stored")
    messages = client.messages(session.id)
    assert [m.info.role for m in messages] == ["user", "assistant"]
    assert client.message(session.id, reply.info.id) == reply
    assert client.delete_session(session.id) is True
    with pytest.raises(NotFound):
        client.get_session(session.id)


def test_a_run_three_times_longer_than_the_silence_limit(client: Client) -> None:
    session = client.create_session()
    ticks: list[float] = []
    started = time.monotonic()
    reply = client.prompt(session.id, "DELAY 2\nREPLY slow and steady", on_keepalive=lambda: ticks.append(1))
    assert reply.text == "slow and steady"
    assert time.monotonic() - started >= 1.8  # 3 x the 0.6 s silence limit
    assert len(ticks) >= 5  # one per 0.2 s keep-alive byte


def test_a_cut_connection_is_retried_to_the_same_answer(server: WakefulProcess, llm: FakeLLMThread) -> None:
    key = unique()
    script = f"HOLD {key}\nREPLY survived the cut"
    with Proxy(server.url) as proxy, Client(proxy.url, backoff=0.05) as client:
        session = client.create_session()
        running = pool.submit(client.prompt, session.id, script)
        llm.wait_for_hold(key)
        before = proxy.accepted
        assert proxy.cut() >= 1
        proxy.wait_for_accepted(before + 1)  # the client came back on a new connection
        llm.release(key)
        reply = running.result(10)
        assert reply.text == "survived the cut"
        assert llm.count(script) == 1  # the retry attached to the run, it did not start another
        assert [m.info.role for m in client.messages(session.id)] == ["user", "assistant"]


def test_a_silent_connection_is_noticed_and_retried(server: WakefulProcess, llm: FakeLLMThread) -> None:
    key = unique()
    script = f"HOLD {key}\nREPLY heard again"
    with Proxy(server.url) as proxy, Client(proxy.url, backoff=0.05) as client:
        session = client.create_session()
        running = pool.submit(client.prompt, session.id, script)
        llm.wait_for_hold(key)
        before = proxy.accepted
        stalled = time.monotonic()
        proxy.stall()  # the connection stays open; only keep-alive bytes stop arriving
        proxy.wait_for_accepted(before + 1)
        noticed = time.monotonic() - stalled
        assert 0.4 < noticed < 3.0, noticed  # the 0.6 s silence limit (+ backoff), not a fixed cap
        llm.release(key)
        assert running.result(10).text == "heard again"
        assert llm.count(script) == 1


def test_deadline_gives_up_waiting_and_reply_picks_the_answer_up(client: Client, llm: FakeLLMThread) -> None:
    key = unique()
    session = client.create_session()
    with pytest.raises(DeadlineExceeded) as caught:
        client.prompt(session.id, f"HOLD {key}\nREPLY later", deadline=0.5)
    message_id = caught.value.message_id
    assert message_id is not None and message_id.startswith("msg_")
    llm.release(key)  # the run was not stopped by the client's deadline
    assert client.reply(session.id, message_id).text == "later"


def test_prompt_async_reply_wait_and_the_same_message_id_again(client: Client, llm: FakeLLMThread) -> None:
    key = unique()
    session = client.create_session()
    message_id = ids.message_id()
    script = f"HOLD {key}\nREPLY async answer"
    assert client.prompt_async(session.id, script, message_id=message_id) == message_id
    llm.wait_for_hold(key)
    ticks: list[int] = []
    waiting = pool.submit(client.reply, session.id, message_id, on_keepalive=lambda: ticks.append(1))
    llm.release(key)
    assert waiting.result(10).text == "async answer"
    assert client.wait(session.id).id == session.id
    # The same call again answers from storage.
    again = client.prompt(session.id, script, message_id=message_id)
    assert again.text == "async answer" and llm.count(script) == 1


def test_shell_and_abort(client: Client, llm: FakeLLMThread) -> None:
    session = client.create_session()
    reply = client.shell(session.id, "echo from-the-shell")
    tool = next(p for p in reply.parts if p.type == "tool")
    assert tool.state.status == "completed" and tool.state.output.strip() == "from-the-shell"

    key = unique()
    message_id = client.prompt_async(session.id, f"HOLD {key}")
    llm.wait_for_hold(key)
    assert client.abort(session.id) is True
    with pytest.raises(RunFailed) as caught:
        client.reply(session.id, message_id)
    assert caught.value.name == "MessageAbortedError"
    assert caught.value.reply.info.id != message_id  # the assistant message answering it


def test_errors_map_to_exceptions(client: Client, llm: FakeLLMThread) -> None:
    with pytest.raises(NotFound):
        client.get_session("ses_doesnotexist")
    session = client.create_session()
    with pytest.raises(NotFound):
        client.reply(session.id, "msg_doesnotexist")
    with pytest.raises(BadRequest) as bad:
        client.list_sessions(limit=-1)
    assert bad.value.status == 400 and bad.value.field == "limit"

    with pytest.raises(RunFailed) as failed:
        client.prompt(session.id, "ERROR 400")
    assert failed.value.name == "APIError" and failed.value.error["data"]["statusCode"] == 400

    message_id = ids.message_id()
    client.prompt(session.id, "REPLY first", message_id=message_id)
    with pytest.raises(Conflict):
        client.prompt(session.id, "REPLY something else", message_id=message_id)

    key = unique()
    client.prompt_async(session.id, f"HOLD {key}")
    llm.wait_for_hold(key)
    try:
        with pytest.raises(SessionBusy) as busy:
            client.shell(session.id, "true")
        assert busy.value.session_id == session.id
    finally:
        llm.release(key)
        client.wait(session.id)


def test_a_dead_server_is_connection_lost(unused_url: str) -> None:
    with Client(unused_url, retries=2, backoff=0.01, connect_timeout=1) as client:
        with pytest.raises(ConnectionLost) as lost:
            client.prompt("ses_x", "hello", message_id="msg_given")
    assert lost.value.message_id == "msg_given"
    assert isinstance(lost.value.__cause__, httpx.ConnectError)


def test_events_survive_a_cut_without_repeats(server: WakefulProcess, proxy: Proxy) -> None:
    with Client(proxy.url, backoff=0.05) as client, server.client() as direct:
        events = client.events(control=True)
        seen: list[Event | Gap] = []

        def created(title: str) -> bool:
            item = seen[-1]
            return isinstance(item, Event) and item.type == "session.created" and (
                item.properties["info"]["title"] == title
            )

        titles = [unique("ev") for _ in range(3)]
        for item in events:
            seen.append(item)
            if isinstance(item, Event) and item.type == "server.connected" and len(seen) == 1:
                direct.post("/session", json={"title": titles[0]})
            elif created(titles[0]):
                assert proxy.cut() == 1
                # Published while the client is away: it must get them from the replay.
                direct.post("/session", json={"title": titles[1]})
                direct.post("/session", json={"title": titles[2]})
            elif created(titles[2]):
                break
        events.close()

    replayable = [e.id for e in seen if isinstance(e, Event) and e.replayable]
    assert len(replayable) == len(set(replayable))
    assert sum(1 for e in seen if isinstance(e, Event) and e.type == "server.connected") == 2
    got = [e.properties["info"]["title"] for e in seen if isinstance(e, Event) and e.type == "session.created"]
    assert [t for t in got if t in titles] == titles
    assert not any(isinstance(e, Gap) for e in seen)


def test_events_yield_a_gap_when_the_server_cannot_replay(client: Client) -> None:
    events = client.events("evt_long_gone")
    first = next(events)
    events.close()
    assert isinstance(first, Gap) and first.reason == "unknown-id" and first.last_event_id == "evt_long_gone"


@pytest.fixture
def unused_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
