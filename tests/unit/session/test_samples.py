"""SampleRing (rfb/session/samples.py): a viewer's last samples, as a bounded deque of
(time, value, size) would keep them, but in arrays the garbage collector never walks."""

from __future__ import annotations

import gc
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfb.session import EncodedUnit, Viewer
from rfb.session.samples import SampleRing

_sample = st.tuples(st.floats(0, 1e6), st.floats(-1e3, 1e3), st.integers(0, 2**40))


@given(capacity=st.integers(1, 9), samples=st.lists(_sample, max_size=40), start=st.floats(0, 1e6))
def test_reads_what_a_bounded_deque_would_hold(capacity: int, samples: list[tuple[float, float, int]],
                                               start: float) -> None:  # fmt: skip
    samples.sort()  # times in the order they come
    ring, ref = SampleRing(capacity), deque[tuple[float, float, int]](maxlen=capacity)
    for t, value, size in samples:
        ring.append(t, value, size)
        ref.append((t, value, size))
    assert len(ring) == len(ref)
    assert ring.values() == [v for _, v, _ in ref]
    assert ring.sizes() == [float(s) for _, _, s in ref]
    newest = [e for e in ref if e[0] >= start]
    assert ring.since(start) == len(newest)
    for last in range(len(ref) + 2):
        assert ring.values(last) == [v for _, v, _ in ref][len(ref) - min(last, len(ref)):]
    assert ring.values(0) == [] and ring.sizes(-1) == []


def test_since_stops_at_the_first_older_sample_from_the_newest() -> None:
    ring = SampleRing(8)
    for t in (1.0, 2.0, 3.0, 2.5, 4.0):  # a late sample: read back, it ends the run
        ring.append(t, t)
    assert ring.since(2.0) == 4  # 4.0, 2.5, 3.0, 2.0; then 1.0 ends it
    assert ring.since(2.6) == 1  # 4.0; then 2.5 ends it, though 3.0 is later still


def test_refuses_an_empty_ring() -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        SampleRing(0)


def test_a_viewers_samples_are_nothing_the_collector_tracks() -> None:
    """A viewer's 4096 latency samples add no object to the collector's lists (a full
    collection walked every one of them in the deques they were kept in before)."""
    v = Viewer("v", "image/jpeg", is_video=False)
    gc.collect()
    before = len(gc.get_objects())
    for i in range(5000):
        now = i / 30
        seq = v.offer(EncodedUnit(i, b"x" * 100, False, "c", 64, 48, i, 0, now - 0.01, 1.0), now)
        assert seq is not None
        v.on_ack(seq, now + 0.005)
    gc.collect()
    assert len(gc.get_objects()) - before < 100  # the estimator's windows, not 5000 samples
    figures = v.metrics()
    assert figures["frames_acked"] == 5000
    assert figures["latency_p50_ms"] == pytest.approx(15.0)
    window = v.window(5000 / 30 + 0.005)
    assert window["fps_acked"] == 30  # the last second's acks
    assert window["bitrate_bps"] == 8 * 100 * 30
    assert window["latency_source"] == "ack"
