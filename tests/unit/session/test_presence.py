"""Presence pointers (rfb/session/presence.py) on a fake clock: each viewer's newest
position, coalesced, flushed at most 15 times a second."""

from __future__ import annotations

import pytest

from rfb.session.presence import Pointers, Position


def test_positions_are_coalesced_and_flushed_at_most_hz_times_a_second() -> None:
    p = Pointers(hz=15)
    assert p.due() is None and p.flush(0.0) == []
    p.moved("a", 1, 2)
    assert p.due() == 0.0  # the first goes at once
    assert p.flush(0.0) == [Position("a", 1, 2, True)]
    for i in range(100):  # a storm within one period
        p.moved("a", i, i)
        p.moved("b", -i, i, inside=i % 2 == 0)
    assert p.flush(0.01) == []  # too soon
    assert p.due() == pytest.approx(1 / 15)
    assert p.flush(1 / 15) == [Position("a", 99, 99, True), Position("b", -99, 99, False)]
    assert p.coalesced == 198 and p.sent == 2
    assert p.due() is None


def test_a_viewer_that_left_has_nothing_sent() -> None:
    p = Pointers()
    p.moved("a", 1, 1)
    p.left("a")
    assert p.due() is None and p.flush(10.0) == []
    with pytest.raises(ValueError):
        Pointers(hz=0)
