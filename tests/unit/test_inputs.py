"""InputSink (rfb/inputs.py), one stream's input queue, on a fake clock: only admitted
viewers' input arrives (unknown and view-only input is dropped and counted), poll() gives
events oldest first, past the rate moves merge into the viewer's newest queued move, a
full queue keeps the newest, and stream() ends when the sink is shut."""

from __future__ import annotations

import asyncio

from rfb.access import Access
from rfb.inputs import MAX_QUEUED_EVENTS, InputSink

from support.clock import Clock
from support.events import CLICK, key, move, pad


def sink(clock: Clock, rate: float | None = 10, record: bool = False) -> InputSink:
    return InputSink(clock, clock.us, rate=rate, record=record)


def test_an_event_from_an_unknown_viewer_is_dropped_and_counted() -> None:
    s = sink(Clock())
    s.push("stranger", CLICK)  # never admitted
    s.open("a", Access())
    s.close("a")
    s.push("a", CLICK)  # gone
    assert s.poll() == []
    assert s.dropped == {"unknown_viewer": 2}
    assert s.events_delivered == 0


def test_a_view_only_viewers_input_is_dropped_and_counted() -> None:
    s = sink(Clock())
    s.open("watcher", Access("vic", view_only=True))
    s.open("driver", Access("alice"))
    for event in (CLICK, move(1), key("key_down")):
        s.push("watcher", event)
    s.push("driver", CLICK)
    assert [(e.client_id, e.principal) for e in s.poll()] == [("driver", "alice")]
    assert s.dropped == {"view_only": 3}


def test_poll_returns_events_oldest_first_with_who_sent_them_and_when() -> None:
    clock = Clock()
    s = sink(clock, rate=None)
    s.open("a", Access("alice"))
    s.open("b", Access("bob"))
    sent = [("a", key("key_down")), ("b", CLICK), ("a", move(3)), ("b", key("key_up"))]
    for i, (who, event) in enumerate(sent):
        clock.now = 1.0 + i / 10
        s.push(who, event)
    got = s.poll()
    assert [(e.client_id, e.event) for e in got] == sent
    assert [e.principal for e in got] == ["alice", "bob", "alice", "bob"]
    assert [e.received_us for e in got] == [1_000_000, 1_100_000, 1_200_000, 1_300_000]
    assert got[2].type == "pointer_move" and got[0].as_dict()["principal"] == "alice"
    assert s.poll() == [] and s.events_delivered == 4  # each event once


def test_over_the_rate_moves_merge_into_the_viewers_newest_queued_move() -> None:
    s = sink(Clock(), rate=5)  # a burst of five, then nothing more at this instant
    s.open("a", Access())
    s.open("b", Access())
    for i in range(5):
        s.push("a", move(i))
    for i in range(5, 20):
        s.push("a", move(i))  # over the rate: each replaces the queued move
    s.push("a", CLICK)  # over the rate, and not a move: dropped
    s.push("b", CLICK)  # another viewer has its own budget
    got = s.poll()
    assert [(e.client_id, e.event.get("x")) for e in got] == [
        ("a", 0), ("a", 1), ("a", 2), ("a", 3), ("a", 19), ("b", 5)]  # fmt: skip
    assert s.dropped == {"coalesced": 15, "rate": 1}


def test_a_move_over_the_rate_after_a_poll_waits_for_the_next_poll() -> None:
    s = sink(Clock(), rate=2)
    s.open("a", Access())
    s.push("a", move(0))
    s.push("a", CLICK)
    assert [e.event for e in s.poll()] == [move(0), CLICK]
    s.push("a", move(1))  # over the rate with nothing queued to merge into: held
    s.push("a", move(2))  # the newer position replaces the held one
    assert [e.event for e in s.poll()] == [move(2)]
    assert s.dropped == {"coalesced": 1} and s.events_delivered == 3


def test_a_full_queue_keeps_the_newest_events() -> None:
    s = sink(Clock(), rate=None)
    s.open("a", Access())
    for i in range(MAX_QUEUED_EVENTS + 3):
        s.push("a", key("key_down", f"Key{i}"))
    got = s.poll()
    assert len(got) == MAX_QUEUED_EVENTS and s.events_dropped == 3
    assert got[0].event["code"] == "Key3" and got[-1].event["code"] == f"Key{MAX_QUEUED_EVENTS + 2}"


def test_recording_keeps_what_was_delivered_only() -> None:
    s = sink(Clock(), rate=None, record=True)
    s.open("a", Access("alice"))
    s.open("v", Access(view_only=True))
    s.push("a", CLICK)
    s.push("v", CLICK)
    assert [r["client_id"] for r in s.recorded] == ["a"]
    assert s.recorded[0]["event"] == CLICK and s.recorded[0]["principal"] == "alice"


async def test_the_event_stream_yields_as_events_arrive_and_ends_when_shut() -> None:
    s = sink(Clock(), rate=None)
    s.open("a", Access())
    got: list[str] = []

    async def read() -> None:
        async for event in s.stream():
            got.append(event.type)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0)
    s.push("a", CLICK)
    s.push("a", move(1))
    async with asyncio.timeout(5):
        while len(got) < 2:
            await asyncio.sleep(0.001)
        s.shut()
        await reader
    assert got == ["pointer_down", "pointer_move"]


def test_over_the_rate_a_pads_state_replaces_that_pads_queued_state_only() -> None:
    s = sink(Clock(), rate=3)
    s.open("a", Access())
    s.push("a", pad(0, axis=0.1))
    s.push("a", pad(1, axis=0.1))
    s.push("a", pad(1, axis=0.2))  # the burst is spent
    s.push("a", pad(1, axis=0.3))  # over budget: replaces pad 1's queued state
    s.push("a", pad(0, pressed=True))  # pad 0's is not the newest queued event: held
    s.push("a", move(5))  # a move does not replace a pad's state: held apart
    got = s.poll()
    assert [(e.event.get("index"), e.event.get("axes", [None])[0]) for e in got] == [
        (0, 0.1), (1, 0.1), (1, 0.3), (0, 0.0), (None, None)]  # fmt: skip
    assert got[3].event["buttons"][0]["pressed"] is True  # the press still arrived
    assert s.dropped == {"coalesced": 1}


def test_a_held_pad_state_is_delivered_before_a_newer_event_a_held_move_is_not() -> None:
    clock = Clock()
    s = sink(clock, rate=2)
    s.open("a", Access())
    s.push("a", key("key_down"))
    s.push("a", CLICK)
    s.poll()
    s.push("a", pad(0, pressed=True))  # over budget, nothing queued: held
    s.push("a", move(3))  # held too
    clock.now = 1.0  # tokens again
    s.push("a", key("key_up"))
    got = [e.event for e in s.poll()]
    # The pad's last state is owed to the application (no button left down in its view);
    # the stale move is dropped as before.
    assert got == [pad(0, pressed=True), key("key_up")]
    assert s.dropped == {"coalesced": 1}
