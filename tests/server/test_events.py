"""`GET /event` over real HTTP: ids, replay after a reconnect, the gap event, heartbeats, and a
subscriber that stops reading."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from tests.support.procs import rss_kib
from tests.support.schemas import validate
from tests.support.server import WakefulProcess
from tests.support.sse import EventReader


def test_events_have_ids_and_reference_shapes(server: WakefulProcess, http: httpx.Client) -> None:
    reader = EventReader(server.url)
    try:
        assert reader.response_headers is not None
        assert reader.response_headers["content-type"].startswith("text/event-stream")
        assert reader.response_headers["x-accel-buffering"] == "no"
        first = reader.next()
        assert first is not None and first.type == "server.connected" and first.id is None
        session = http.post("/session", json={"title": "evented"}).json()
        created = reader.until(lambda f: f.type == "session.created")
        assert created.id == created.data["id"] and created.id.startswith("evt_")
        assert created.data["properties"]["info"] == session
        validate("EventSessionCreated", created.data)
        http.patch(f"/session/{session['id']}", json={"title": "renamed"})
        updated = reader.until(lambda f: f.type == "session.updated")
        validate("EventSessionUpdated", updated.data)
        http.delete(f"/session/{session['id']}")
        deleted = reader.until(lambda f: f.type == "session.deleted")
        validate("EventSessionDeleted", deleted.data)
    finally:
        reader.close()


def test_reconnect_with_last_event_id_replays_what_was_missed(
    server: WakefulProcess, http: httpx.Client
) -> None:
    reader = EventReader(server.url)
    reader.next()
    http.post("/session", json={"title": "before the cut"})
    mark = reader.until(lambda f: f.type == "session.created")
    reader.close()
    missed = [http.post("/session", json={"title": f"missed {i}"}).json()["id"] for i in range(3)]
    again = EventReader(server.url, headers={"Last-Event-ID": mark.id or ""})
    try:
        assert again.next().type == "server.connected"  # type: ignore[union-attr]
        replayed = [again.until(lambda f: f.type == "session.created") for _ in range(3)]
        assert [f.data["properties"]["sessionID"] for f in replayed] == missed
        assert len({f.id for f in replayed}) == 3
    finally:
        again.close()


def test_unknown_last_event_id_gets_one_gap_event(server: WakefulProcess) -> None:
    reader = EventReader(server.url, headers={"Last-Event-ID": "evt_000000000000unknownunknow"})
    try:
        assert reader.next().type == "server.connected"  # type: ignore[union-attr]
        gap = reader.next()
        assert gap is not None and gap.type == "server.gap" and gap.id is None
        assert gap.data["properties"] == {
            "reason": "unknown-id",
            "lastEventID": "evt_000000000000unknownunknow",
        }
    finally:
        reader.close()


def test_heartbeats_arrive_without_ids(server: WakefulProcess) -> None:
    reader = EventReader(server.url)  # the test server's heartbeat interval is 0.5 s
    try:
        reader.next()
        beat = reader.until(lambda f: f.type == "server.heartbeat", timeout=5)
        assert beat.id is None and beat.data["properties"] == {}
    finally:
        reader.close()


def test_a_subscriber_that_stops_reading_is_cut_off(tmp_path: Path, project: Path) -> None:
    env = {"WAKEFUL_SUBSCRIBER_QUEUE": "20", "WAKEFUL_EVENT_REPLAY_BYTES": str(4 << 20)}
    proc = WakefulProcess(tmp_path / "data", project, env=env).start()
    try:
        host, port = proc.url.removeprefix("http://").split(":")
        stalled = socket.create_connection((host, int(port)))
        # No reads: the socket buffers fill (a few MB on loopback), then the server's queue.
        stalled.sendall(f"GET /event HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        with proc.client() as http:
            session = http.post("/session", json={}).json()
            assert proc.proc is not None
            rss_before = rss_kib(proc.proc.pid)
            big = "x" * 80_000
            started = time.monotonic()
            for i in range(300):
                http.patch(f"/session/{session['id']}", json={"title": f"{i} {big}"})
            elapsed = time.monotonic() - started
            rss_after = rss_kib(proc.proc.pid)
            # Everything else stays responsive, and memory does not grow with the backlog.
            # Staying responsive is the point: a quick answer even with a stalled subscriber.
            health_started = time.monotonic()
            assert http.get("/global/health").status_code == 200
            assert time.monotonic() - health_started < 1.0
            # 24 MB were published; an unbounded queue would hold all of it for the stalled reader.
            assert rss_after - rss_before < 12_000, (rss_before, rss_after)
            assert elapsed < 60
        stalled.settimeout(5)
        received = b""
        # Reading again drains what was buffered; the stream then ends with the gap event and the
        # chunked terminator (the connection itself stays open for keep-alive).
        while not received.endswith(b"0\r\n\r\n"):
            chunk = stalled.recv(65536)
            if not chunk:
                break
            received += chunk
        assert b'"type":"server.gap"' in received and b'"reason":"overflow"' in received
        stalled.close()
    finally:
        proc.stop()
