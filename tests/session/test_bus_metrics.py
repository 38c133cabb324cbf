"""What the event bus reports in its metrics: open subscribers, read when scraped, and each gap event
it sends, by reason."""

from __future__ import annotations

from wakeful.session.bus import EventBus
from wakeful.telemetry.metrics import Metrics


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_subscribers_and_gaps_are_counted() -> None:
    metrics = Metrics()
    bus = EventBus(queue_size=2, metrics=metrics)
    slow, other = bus.subscribe(), bus.subscribe()
    assert value(metrics, "wakeful_event_subscribers") == 2

    for n in range(3):  # the third overflows both subscribers: each gets a gap and is closed
        bus.publish("test.event", {"n": n})
    assert value(metrics, "wakeful_event_gaps_total", reason="overflow") == 2
    assert value(metrics, "wakeful_event_subscribers") == 0
    bus.publish("test.event", {"n": 3})  # closed subscribers are not counted again
    assert value(metrics, "wakeful_event_gaps_total", reason="overflow") == 2
    assert slow.closed and other.closed

    late = bus.subscribe(last_event_id="evt_never_published")
    assert value(metrics, "wakeful_event_gaps_total", reason="unknown-id") == 1
    assert value(metrics, "wakeful_event_subscribers") == 1
    bus.unsubscribe(late)
    assert value(metrics, "wakeful_event_subscribers") == 0
