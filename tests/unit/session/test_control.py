"""The control floor (rfb/session/control.py) on a fake clock: who drives a stream with
exclusive control, and how the floor passes (request, idle, release, hand on, the
application, first click, leaving), with view-only viewers never holding it."""

from __future__ import annotations

import pytest

from rfb.session.control import EXCLUSIVE, MAX_WAITING, SHARED, Floor, FloorState, Outcome


def floor(**kw: object) -> Floor:
    f = Floor(EXCLUSIVE, idle_s=kw.pop("idle_s", 10.0), **kw)  # type: ignore[arg-type]
    f.join("a")
    f.join("b")
    f.join("v", may_drive=False)
    return f


def test_shared_control_lets_every_driver_drive_and_has_no_floor() -> None:
    f = Floor(SHARED)
    f.join("a")
    f.join("v", may_drive=False)
    assert f.admit("a", "pointer_down", 0.0)
    assert not f.admit("v", "pointer_down", 0.0)
    assert f.holds("a") and not f.holds("v")
    for outcome in (f.request("a", 0.0), f.release("a", 0.0), f.hand("a", "v", 0.0),
                    f.give("a", 0.0), f.take(0.0)):  # fmt: skip
        assert outcome is Outcome.SHARED and outcome.refused
    assert f.state == FloorState(SHARED)


def test_a_request_is_granted_when_the_floor_is_free() -> None:
    f = floor()
    assert not f.admit("a", "pointer_down", 0.0)  # nobody holds it: nobody drives
    assert f.request("a", 0.0) is Outcome.GRANTED
    assert f.holder == "a" and f.reason == "request"
    assert f.admit("a", "pointer_down", 0.1)
    assert not f.admit("b", "pointer_down", 0.1)
    assert f.request("a", 0.2) is Outcome.HOLDS


def test_a_request_waits_while_the_holder_is_active_and_gets_it_on_release() -> None:
    f = floor()
    f.request("a", 0.0)
    assert f.request("b", 1.0) is Outcome.WAITING
    assert f.request("b", 1.5) is Outcome.WAITING  # asking again does not queue twice
    assert f.state.waiting == ("b",) and f.holder == "a"
    assert f.release("a", 2.0) is Outcome.RELEASED
    assert f.holder == "b" and f.state.waiting == () and f.reason == "released"
    assert f.release("b", 3.0) is Outcome.RELEASED
    assert f.holder is None
    assert f.release("b", 3.0) is Outcome.NOTHING


def test_a_request_is_granted_once_the_holder_went_idle() -> None:
    f = floor(idle_s=5.0)
    f.request("a", 0.0)
    f.admit("a", "pointer_move", 3.0)  # input keeps it active
    assert f.request("b", 7.0) is Outcome.WAITING
    assert f.due() == 8.0
    assert f.tick(7.9) is Outcome.NOTHING and f.holder == "a"
    f.admit("a", "resize", 7.95)  # a resize is not the viewer driving
    assert f.tick(8.0) is Outcome.GRANTED
    assert f.holder == "b" and f.reason == "idle" and f.due() is None
    # a request after the idle time is granted at once
    assert f.request("a", 20.0) is Outcome.GRANTED and f.reason == "idle"


def test_without_an_idle_timeout_only_a_release_moves_the_floor() -> None:
    f = floor(idle_s=None)
    f.request("a", 0.0)
    assert f.request("b", 1e6) is Outcome.WAITING
    assert f.due() is None and f.tick(1e9) is Outcome.NOTHING
    assert f.holder == "a"


def test_a_waiting_viewer_may_withdraw() -> None:
    f = floor()
    f.request("a", 0.0)
    f.request("b", 0.0)
    assert f.release("b", 1.0) is Outcome.WITHDRAWN
    f.release("a", 1.0)
    assert f.holder is None


def test_the_holder_hands_the_floor_on_to_a_driver_only() -> None:
    f = floor()
    f.request("a", 0.0)
    assert f.hand("b", "a", 1.0) is Outcome.NOT_HOLDER  # forged: b does not hold it
    assert f.hand("a", "v", 1.0) is Outcome.VIEW_ONLY
    assert f.hand("a", "ghost", 1.0) is Outcome.UNKNOWN
    assert f.holder == "a"
    assert f.hand("a", "b", 1.0) is Outcome.HANDED
    assert f.holder == "b" and f.reason == "handed"


def test_a_view_only_viewer_never_holds_nor_waits() -> None:
    f = floor(on_click=True)
    assert f.request("v", 0.0) is Outcome.VIEW_ONLY
    assert not f.admit("v", "pointer_down", 0.0)  # not even by a first click
    assert f.give("v", 0.0) is Outcome.VIEW_ONLY
    assert f.holder is None and f.state.waiting == ()
    f.join("t", may_drive=False, may_take=True)  # the right to take needs the right to drive
    assert f.request("t", 0.0) is Outcome.VIEW_ONLY


def test_the_application_gives_and_takes_the_floor() -> None:
    f = floor()
    f.request("a", 0.0)
    assert f.give("b", 1.0) is Outcome.GRANTED and f.holder == "b" and f.reason == "app"
    assert f.give("ghost", 1.0) is Outcome.UNKNOWN
    assert f.take(2.0) is Outcome.GRANTED
    assert f.holder is None and f.by_app
    assert not f.admit("b", "key_down", 2.0)
    # while the application holds it, requests wait, even past any idle time
    assert f.request("a", 100.0) is Outcome.WAITING
    assert f.tick(1000.0) is Outcome.NOTHING and f.by_app
    assert f.give(None, 1001.0) is Outcome.RELEASED  # let go: the first in line gets it
    assert f.holder == "a" and not f.by_app
    assert f.give(None, 1002.0) is Outcome.RELEASED and f.holder is None


def test_a_first_click_takes_a_free_floor_where_the_stream_says_so() -> None:
    f = floor(on_click=True)
    assert not f.admit("a", "pointer_move", 0.0)  # a move is not a click
    assert f.admit("a", "pointer_down", 0.1)
    assert f.holder == "a" and f.reason == "first_click"
    assert not f.admit("b", "pointer_down", 0.2)  # held: b's click does not take it
    f.take(0.3)
    assert not f.admit("b", "pointer_down", 0.4)  # nor from the application
    plain = floor()
    assert not plain.admit("a", "pointer_down", 0.0) and plain.holder is None


def test_a_viewer_with_the_right_takes_the_floor_from_another_viewer() -> None:
    f = floor()
    f.join("teacher", may_take=True)
    f.request("a", 0.0)
    f.admit("a", "key_down", 0.5)
    assert f.request("teacher", 1.0) is Outcome.GRANTED
    assert f.holder == "teacher" and f.reason == "taken"
    f.take(2.0)
    assert f.request("teacher", 3.0) is Outcome.WAITING  # not from the application


def test_the_holder_leaving_passes_the_floor_to_the_next_in_line() -> None:
    f = floor()
    f.request("a", 0.0)
    f.request("b", 0.0)
    assert f.leave("a", 1.0) is Outcome.RELEASED
    assert f.holder == "b" and f.reason == "left"
    assert f.leave("b", 2.0) is Outcome.RELEASED and f.holder is None
    assert f.leave("nobody", 2.0) is Outcome.NOTHING
    assert f.request("a", 3.0) is Outcome.UNKNOWN  # it left


def test_a_waiting_viewer_that_leaves_is_out_of_line() -> None:
    f = floor()
    f.request("a", 0.0)
    f.request("b", 0.0)
    f.leave("b", 0.5)
    f.release("a", 1.0)
    assert f.holder is None


def test_the_line_is_bounded() -> None:
    f = Floor(EXCLUSIVE)
    for i in range(MAX_WAITING + 10):
        f.join(f"c{i}")
        f.request(f"c{i}", 0.0)
    assert len(f.state.waiting) == MAX_WAITING


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="control must be one of"):
        Floor("chaos")
    with pytest.raises(ValueError, match="idle timeout"):
        Floor(EXCLUSIVE, idle_s=0)
