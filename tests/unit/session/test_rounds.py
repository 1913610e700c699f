"""Rounds (rfb/session/rounds.py): each member once an interval, at the phase it joined
with, from one timer; on a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfb.session.rounds import Rounds


def test_each_member_comes_once_an_interval_at_its_own_phase() -> None:
    r: Rounds[str] = Rounds(1.0)
    r.add("a", 0.0)
    r.add("b", 0.3)
    assert r.next_due() == 1.0
    assert r.take(0.99) == []
    assert r.take(1.0) == ["a"]
    assert r.next_due() == pytest.approx(1.3)
    assert r.take(1.3) == ["b"]
    assert r.take(2.0) == ["a"]  # a's second round: its phase kept
    assert r.take(2.3) == ["b"]


def test_slack_takes_those_due_close_together_in_one_wake() -> None:
    r: Rounds[int] = Rounds(1.0, slack=0.05)
    for i, t in enumerate((0.0, 0.01, 0.04, 0.2)):
        r.add(i, t)
    assert r.take(1.0) == [0, 1, 2]  # 1.0, 1.01, 1.04: within the slack
    assert r.next_due() == pytest.approx(1.2)
    assert r.take(1.0) == []  # each once a round


def test_a_late_wake_brings_each_member_once_not_once_per_missed_round() -> None:
    r: Rounds[str] = Rounds(1.0)
    r.add("a", 0.0)
    assert r.take(5.5) == ["a"]
    assert r.next_due() == pytest.approx(6.5)  # an interval after the late wake


def test_a_discarded_member_comes_no_more_and_adding_again_restarts_it() -> None:
    r: Rounds[str] = Rounds(1.0)
    r.add("a", 0.0)
    r.add("b", 0.5)
    r.discard("a")
    r.discard("gone")  # never added: nothing happens
    assert len(r) == 1 and "a" not in r and "b" in r
    assert r.next_due() == 1.5
    assert r.take(3.0) == ["b"]
    r.add("b", 3.2)  # again: from then on
    assert r.next_due() == pytest.approx(4.2)
    r.discard("b")
    assert r.next_due() is None and r.take(100.0) == []


def test_refuses_a_slack_as_long_as_the_interval() -> None:
    with pytest.raises(ValueError, match="slack < interval"):
        Rounds(1.0, slack=1.0)
    with pytest.raises(ValueError, match="slack < interval"):
        Rounds(0.0)


@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.booleans(), st.floats(0, 0.5)), max_size=60))
def test_against_a_per_member_timer(ops: list[tuple[str, bool, float]]) -> None:
    """Whatever members come and go, each present one is taken exactly when a timer of its
    own (due an interval after it joined, then every interval) would fire; those due at
    the same time in the order they were last scheduled."""
    r: Rounds[str] = Rounds(1.0)
    due: dict[str, tuple[float, int]] = {}  # the reference: each member's next time, order
    order = 0
    now = 0.0
    for key, join, step in ops:
        now += step
        taken = r.take(now)
        expected = sorted((t, n, k) for k, (t, n) in due.items() if t <= now)
        assert taken == [k for _, _, k in expected]
        for t, _, k in expected:
            order += 1
            due[k] = (t + 1.0 if t + 1.0 > now else now + 1.0, order)
        if join:
            order += 1
            r.add(key, now)
            due[key] = (now + 1.0, order)
        else:
            r.discard(key)
            due.pop(key, None)
        assert len(r) == len(due)
        assert r.next_due() == (min(t for t, _ in due.values()) if due else None)
