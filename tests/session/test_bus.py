"""The event bus in-process: fan-out, replay after Last-Event-ID, gaps, bounded memory, shutdown."""

from __future__ import annotations

import asyncio
import json

from wakeful.session.bus import GAP, EventBus, Subscription


async def drain(sub: Subscription) -> list[str]:
    """The types queued for `sub` right now, without waiting."""
    out: list[str] = []
    while len(sub):
        event = await sub.next(timeout=0)
        assert event is not None
        out.append(event.type)
    return out


async def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = EventBus()
    a, b = bus.subscribe(), bus.subscribe()
    for n in range(3):
        bus.publish("session.updated", {"n": n})
    for sub in (a, b):
        got = [await sub.next(timeout=1) for _ in range(3)]
        assert [e.properties["n"] for e in got if e] == [0, 1, 2]


async def test_replay_after_a_known_id_sends_exactly_what_was_missed() -> None:
    bus = EventBus()
    first = bus.publish("a", {})
    bus.publish("b", {})
    bus.publish("c", {})
    sub = bus.subscribe(last_event_id=first.id)
    assert await drain(sub) == ["b", "c"]


async def test_an_unknown_id_gets_one_gap_event_naming_it() -> None:
    bus = EventBus()
    bus.publish("a", {})
    sub = bus.subscribe(last_event_id="evt_unknown")
    event = await sub.next(timeout=1)
    assert event is not None and event.type == GAP
    assert event.properties == {"reason": "unknown-id", "lastEventID": "evt_unknown"}
    assert len(sub) == 0


async def test_replay_buffer_is_bounded_by_count_and_by_bytes() -> None:
    by_count = EventBus(replay_size=2)
    oldest = by_count.publish("a", {})
    by_count.publish("b", {})
    by_count.publish("c", {})
    assert await drain(by_count.subscribe(last_event_id=oldest.id)) == [GAP]

    by_bytes = EventBus(replay_bytes=400)
    big = by_bytes.publish("big", {"text": "x" * 300})
    by_bytes.publish("big", {"text": "y" * 300})  # evicts the first: together they exceed 400 bytes
    assert await drain(by_bytes.subscribe(last_event_id=big.id)) == [GAP]


async def test_a_subscriber_that_falls_behind_gets_a_gap_and_is_closed() -> None:
    bus = EventBus(queue_size=3)
    slow = bus.subscribe()
    fast = bus.subscribe()
    for n in range(4):
        bus.publish("tick", {"n": n})
        await fast.next(timeout=1)
    gap = await slow.next(timeout=1)
    assert gap is not None and gap.type == GAP and gap.properties["reason"] == "overflow"
    assert slow.closed
    bus.publish("tick", {"n": 99})  # a closed subscriber no longer receives anything
    assert len(slow) == 0
    assert (await fast.next(timeout=1)) is not None


async def test_next_waits_for_a_publish_and_times_out_with_none() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    assert await sub.next(timeout=0) is None
    waiter = asyncio.create_task(sub.next(timeout=5))
    await asyncio.sleep(0)
    bus.publish("later", {})
    event = await waiter
    assert event is not None and event.type == "later"


async def test_close_ends_every_stream_after_what_it_already_queued() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish("last", {})
    bus.close()
    seen = [e.type async for e in bus.stream(sub, heartbeat=5)]
    assert seen == ["last"]
    late = bus.subscribe()
    assert late.closed


async def test_stream_sends_heartbeats_while_quiet_and_unsubscribes_when_left() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    stream = bus.stream(sub, heartbeat=0)
    beat = await anext(stream)
    assert beat.type == "server.heartbeat" and beat.seq == 0
    await stream.aclose()
    assert sub.closed


def test_frames_carry_an_id_only_when_replayable() -> None:
    bus = EventBus()
    event = bus.publish("session.created", {"x": "é"})
    head, data = event.frame.decode().split("\n", 1)
    assert head == f"id: {event.id}"
    assert json.loads(data.removeprefix("data: ")) == event.wire()

async def test_gap_and_heartbeat_frames_have_no_id() -> None:
    bus = EventBus()
    gap = await bus.subscribe(last_event_id="nope").next(timeout=0)
    assert gap is not None and not gap.frame.startswith(b"id:")


async def test_a_delivered_event_keeps_its_frame_only_and_reads_its_properties_back_from_it() -> None:
    bus = EventBus()
    forwarded: list[dict[str, object]] = []
    bus.forward = lambda event: forwarded.append(event.wire())
    properties = {"sessionID": "ses_1", "info": {"title": "ü \n \"quoted\"", "n": [1, 2.5, None]}}
    first = bus.publish("session.updated", properties)
    later = bus.publish("session.status", {"sessionID": "ses_1", "status": {"type": "idle"}})
    assert first.properties is not properties  # no longer kept: read back from the frame
    assert first.properties == properties
    assert forwarded[0] == {"id": first.id, "type": "session.updated", "properties": properties}
    assert json.loads(first.frame.split(b"data: ", 1)[1]) == forwarded[0]
    envelope = json.loads(first.envelope_frame("/p").split(b"data: ", 1)[1])
    assert envelope == {"directory": "/p", "payload": forwarded[0]}
    replayed = await bus.subscribe(last_event_id=first.id).next(timeout=0)
    assert replayed is later and replayed.properties["status"] == {"type": "idle"}
