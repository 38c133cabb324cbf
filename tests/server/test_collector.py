"""The collector waits while held calls are accepted, resumes after the last, and runs anyway past
its limit."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from wakeful.server.collector import CollectorPause


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was, thresholds = gc.isenabled(), gc.get_threshold()
    gc.collect()  # no young objects left over from other tests
    gc.enable()
    yield
    gc.set_threshold(*thresholds)
    if was:
        gc.enable()
    else:
        gc.disable()


def test_automatic_collection_waits_until_the_last_call_is_accepted() -> None:
    pause = CollectorPause()
    with pause:
        assert not gc.isenabled()
        with pause:
            assert not gc.isenabled()
        assert not gc.isenabled()  # one call still being accepted
    assert gc.isenabled()


def test_a_collector_already_off_stays_off() -> None:
    gc.disable()
    with CollectorPause():
        pass
    assert not gc.isenabled()


def test_past_the_limit_the_collector_resumes_until_acceptance_is_idle() -> None:
    pause = CollectorPause(limit=1_000)
    with pause:
        with pause:
            kept = [[] for _ in range(5_000)]  # 5,000 new containers, none collectable
            assert gc.get_count()[0] >= 1_000
        assert gc.isenabled()  # a long flood, not a burst: the collector runs as usual
        with pause:
            assert gc.isenabled()
    assert gc.isenabled()
    gc.collect()  # what a collector left on collects, before the next burst
    with pause:  # acceptance was idle in between: the next burst pauses it again
        assert not gc.isenabled()
    assert len(kept) == 5_000


def test_an_error_while_accepting_still_resumes_the_collector() -> None:
    pause = CollectorPause()
    with pytest.raises(RuntimeError), pause:
        raise RuntimeError("refused")
    assert gc.isenabled()
