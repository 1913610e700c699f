"""Presence (rfb/session/presence.py) on a fake clock: each viewer's newest pointer
position, coalesced, flushed at most 15 times a second; the roster told at once after a
quiet gap, a crowd's changes together, at most about ROSTER_MESSAGES_PER_S messages a
second whatever the audience."""

from __future__ import annotations

import pytest

from rfb.session.presence import ROSTER_MAX_GAP_S, Pointers, Position, RosterPace


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


def test_the_roster_is_told_at_once_after_a_quiet_gap_and_a_crowd_together() -> None:
    r = RosterPace(messages_per_s=500)
    assert r.due() is None and not r.take(0.0, 0)
    r.changed()
    assert r.due() == 0.0 and r.take(0.0, 1)  # the first change goes at once
    r.changed()  # the second viewer: 1 / 500 s after the message to one viewer
    assert not r.take(0.001, 2) and r.due() == pytest.approx(0.002)
    assert r.take(0.002, 2)
    # A crowd of 500 arriving over half a second (one every 1/1024 s, at 512 messages a
    # second: binary fractions, exact): the gap grows with the audience, so the roster
    # goes out a few times, each to everyone there, not 500 times.
    r = RosterPace(messages_per_s=512)
    assert r.take(0.0, 2) is False and r.due() is None  # nothing changed
    r.changed()
    assert r.take(0.0, 2)
    t, told_to = 1.0, []
    for n in range(3, 503):
        r.changed()
        t += 1 / 1024
        if r.take(t, n):
            told_to.append(n)
    assert told_to == [3, 9, 27, 81, 243]  # each gap n / 512 s after the message before
    due = r.due()
    assert due == 1.0 + (243 - 2) / 1024 + 243 / 512
    assert r.take(due, 502) and r.due() is None
    assert sum(told_to) + 502 < 1000  # messages written, against 125,000 unpaced
    assert r.coalesced == 500 - len(told_to) - 1
    r.changed()  # having told 502 viewers, the next gap is theirs: about one second
    assert r.due() == due + 502 / 512


def test_the_roster_gap_follows_the_audience_up_to_its_bound() -> None:
    assert RosterPace.gap_for(10) == pytest.approx(0.02)
    assert RosterPace.gap_for(1000) == pytest.approx(2.0)
    assert RosterPace.gap_for(10**6) == ROSTER_MAX_GAP_S
    with pytest.raises(ValueError):
        RosterPace(messages_per_s=0)
