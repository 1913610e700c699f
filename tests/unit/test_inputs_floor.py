"""InputSink (rfb/inputs.py) with exclusive control, on a fake clock: only the holder's
input reaches poll_events(), the rest is dropped and counted; every change of holder is a
``control`` event; the last holder's presses are released; requests are counted and
rate-limited; the application gives and takes the floor."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rfb.access import Access
from rfb.inputs import CONTROL_RATE, InputSink
from rfb.session.control import EXCLUSIVE, Floor, Outcome

from support.clock import Clock

CLICK = {"type": "pointer_down", "x": 5, "y": 6, "button": 0}
KEY = {"type": "key_down", "key": "a", "code": "KeyA"}


def sink(clock: Clock, **floor: Any) -> tuple[InputSink, list[int]]:
    told: list[int] = []
    s = InputSink(clock, clock.us, rate=None, floor=Floor(EXCLUSIVE, **floor),
                  on_floor=lambda: told.append(1))  # fmt: skip
    s.open("a", Access("alice"))
    s.open("b", Access("bob"))
    s.open("v", Access("vera", view_only=True))
    return s, told


def kinds(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.client_id, e.type) for e in events]


def test_only_the_holders_input_is_delivered_the_rest_counted() -> None:
    s, told = sink(Clock())
    s.push("a", CLICK)  # nobody holds it
    assert s.control("a", "request_control") is Outcome.GRANTED
    s.push("a", CLICK)
    s.push("b", CLICK)
    s.push("v", CLICK)
    events = s.poll()
    assert kinds(events) == [("a", "control"), ("a", "pointer_down")]
    assert events[0].event == {"type": "control", "holder": "a", "app": False,
                               "previous": None, "reason": "request"}  # fmt: skip
    assert events[0].principal == "alice"
    assert s.dropped == {"control": 2, "view_only": 1}
    assert told == [1]


def test_losing_the_floor_releases_what_the_holder_pressed() -> None:
    s, _ = sink(Clock())
    s.control("a", "request_control")
    s.push("a", CLICK)
    s.push("a", KEY)
    s.poll()
    s.give_control("b")
    events = s.poll()
    assert kinds(events) == [("a", "pointer_up"), ("a", "key_up"), ("b", "control")]
    up, key_up = events[0].event, events[1].event
    assert up["button"] == 0 and (up["x"], up["y"]) == (5, 6) and up["synthetic"] is True
    assert key_up["code"] == "KeyA" and key_up["key"] == "a" and key_up["synthetic"] is True
    assert events[2].event["previous"] == "a" and events[2].event["reason"] == "app"
    # a's own releases later are not owed any more: dropped like any non-holder input
    s.push("a", {"type": "key_up", "key": "a", "code": "KeyA"})
    assert s.poll() == [] and s.dropped["control"] == 1


def test_the_new_holders_size_follows_its_control_event() -> None:
    s, _ = sink(Clock())
    resize = {"type": "resize", "width": 640, "height": 480, "pwidth": 640,
              "pheight": 480, "ratio": 1.0}  # fmt: skip
    s.push("b", resize)  # not delivered while b does not hold it
    assert s.poll() == []
    s.control("b", "request_control")
    assert [(e.type, e.event.get("width")) for e in s.poll()] == [("control", None),
                                                                   ("resize", 640)]  # fmt: skip


def test_requests_that_may_not_be_granted_are_refused_and_counted() -> None:
    s, _ = sink(Clock())
    assert s.control("v", "request_control") is Outcome.VIEW_ONLY
    assert s.control("b", "give_control", "a") is Outcome.NOT_HOLDER
    assert s.control("ghost", "request_control") is Outcome.UNKNOWN
    s.control("a", "request_control")
    assert s.control("a", "give_control", "v") is Outcome.VIEW_ONLY
    assert s.control_refused == {"view_only": 2, "not_holder": 1, "unknown_viewer": 1}
    assert s.floor.holder == "a"


def test_a_storm_of_requests_is_rate_limited() -> None:
    clock = Clock()
    s, told = sink(clock)
    s.control("a", "request_control")
    for _ in range(100):
        s.control("a", "release_control")
        s.control("a", "request_control")
    assert s.control_refused["rate"] == 200 - int(CONTROL_RATE) + 1
    assert len(told) <= CONTROL_RATE + 1  # changes, each told to the viewers
    clock.now = 10.0
    assert s.control("b", "request_control") is not Outcome.NOTHING


def test_the_application_takes_and_gives_the_floor() -> None:
    s, _ = sink(Clock())
    s.control("a", "request_control")
    s.take_control()
    s.push("a", CLICK)
    assert kinds(s.poll()) == [("a", "control"), ("", "control")]
    assert s.floor.by_app
    with pytest.raises(KeyError):
        s.give_control("ghost")
    with pytest.raises(ValueError, match="view-only"):
        s.give_control("v")
    s.give_control(None)
    assert s.poll()[0].event == {"type": "control", "holder": None, "app": False,
                                 "previous": None, "reason": "app"}  # fmt: skip
    shared = InputSink(Clock(), Clock().us, rate=None)
    with pytest.raises(ValueError, match="shared"):
        shared.take_control()
    with pytest.raises(ValueError, match="shared"):
        shared.give_control(None)


def test_the_holder_leaving_hands_the_floor_to_the_next_in_line() -> None:
    s, _ = sink(Clock())
    s.control("a", "request_control")
    assert s.control("b", "request_control") is Outcome.WAITING
    s.close("a")
    assert [(e.type, e.event["holder"], e.event["reason"]) for e in s.poll()] == [
        ("control", "a", "request"), ("control", "b", "left")]  # fmt: skip


def test_a_first_click_takes_the_free_floor_and_is_delivered() -> None:
    s, _ = sink(Clock(), on_click=True)
    s.push("b", CLICK)
    assert kinds(s.poll()) == [("b", "control"), ("b", "pointer_down")]


def test_an_idle_holder_loses_the_floor_to_a_waiting_request_on_its_timer() -> None:
    async def main() -> list[Any]:
        s = InputSink(lambda: asyncio.get_running_loop().time(), lambda: 0, rate=None,
                      floor=Floor(EXCLUSIVE, idle_s=0.05))  # fmt: skip
        s.open("a", Access())
        s.open("b", Access())
        s.control("a", "request_control")
        assert s.control("b", "request_control") is Outcome.WAITING
        await asyncio.sleep(0.2)
        events = s.poll()
        s.shut()
        return events

    events = asyncio.run(main())
    assert [(e.event["holder"], e.event["reason"]) for e in events] == [("a", "request"),
                                                                        ("b", "idle")]  # fmt: skip


def test_a_holder_that_leaves_has_its_presses_and_pads_released() -> None:
    s, _ = sink(Clock())
    s.control("a", "request_control")
    pad = {"type": "gamepad", "index": 1, "connected": True,
           "buttons": [{"pressed": True, "value": 1.0, "touched": True}], "axes": [0.5, -1.0]}  # fmt: skip
    s.push("a", KEY)
    s.push("a", pad)
    s.poll()
    s.close("a")
    events = s.poll()
    assert kinds(events) == [("a", "key_up"), ("a", "gamepad"), ("", "control")]
    gone = events[1].event  # the pad, as disconnected: no button stays down
    assert (gone["index"], gone["connected"], gone["synthetic"]) == (1, False, True)
    assert events[2].event["reason"] == "left"
