"""Presence (rfb/presence.py): who is watching and who holds the floor, told to the
viewers that announced the features, as state a newcomer gets first; pointers shared only
where the stream says so."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable

from rfb.access import Access
from rfb.notices import Notices
from rfb.presence import Presence
from rfb.session.control import EXCLUSIVE, Floor, Outcome
from rfb.session.presence import ROSTER_MAX_GAP_S, RosterPace

import support.clock


class Clock(support.clock.Clock):
    """``later()`` lets the roster's gap pass, so the next change is told at once
    (RosterPace)."""

    def later(self) -> None:
        self.now += ROSTER_MAX_GAP_S


def setup(
    pointers: bool = False, clock: Callable[[], float] | None = None
) -> tuple[Presence, Notices, Floor, dict[str, list[dict]]]:
    notices, floor = Notices(), Floor(EXCLUSIVE)
    p = Presence(notices, floor, clock or Clock(), pointers=pointers)
    seen: dict[str, list[dict]] = {}
    return p, notices, floor, seen


def listen(notices: Notices, seen: dict[str, list[dict]], cid: str,
           features: frozenset[str] = frozenset({"control", "presence"})) -> None:  # fmt: skip
    seen[cid] = []
    for text in notices.open(cid, lambda t, c=cid: seen[c].append(json.loads(t)), features):
        seen[cid].append(json.loads(text))


def test_viewers_are_listed_with_names_roles_and_the_floor() -> None:
    clock = Clock()
    p, notices, floor, seen = setup(clock=clock)
    floor.join("a")
    p.join("a", Access({"name": "Alice"}), "websocket")
    listen(notices, seen, "a")
    assert [m["type"] for m in seen["a"]] == ["control", "viewers"]  # the state, first
    floor.join("v", may_drive=False)
    clock.later()
    p.join("v", Access("Vera", view_only=True), "webrtc")
    floor.request("a", 0.0)
    clock.later()
    p.announce()
    assert [v.as_dict() for v in p.viewers()] == [
        {"client_id": "a", "name": "Alice", "transport": "websocket", "role": "drive",
         "control": True},
        {"client_id": "v", "name": "Vera", "transport": "webrtc", "role": "view",
         "control": False},
    ]  # fmt: skip
    control = [m for m in seen["a"] if m["type"] == "control"][-1]
    assert (control["holder"], control["name"], control["reason"]) == ("a", "Alice", "request")
    before = len(seen["a"])
    clock.later()
    p.announce()  # nothing changed: nothing sent
    assert len(seen["a"]) == before
    clock.later()
    p.leave("v")
    assert [v["client_id"] for v in seen["a"][-1]["viewers"]] == ["a"]


def test_a_refusal_is_told_to_the_viewer_that_asked_only() -> None:
    clock = Clock()
    p, notices, floor, seen = setup(clock=clock)
    for cid in ("a", "b"):
        clock.later()
        floor.join(cid)
        p.join(cid, Access(), "websocket")
        listen(notices, seen, cid)
    listen(notices, seen, "old", frozenset())  # a 0.x client
    p.refused("a", Outcome.NOT_HOLDER)
    p.refused("old", Outcome.VIEW_ONLY)
    assert seen["a"][-1]["refused"] == "not_holder"
    assert all("refused" not in m for m in seen["b"]) and seen["old"] == []


def test_pointers_are_shared_only_where_the_stream_says_so() -> None:
    async def main(pointers: bool) -> tuple[list[dict], dict[str, int]]:
        p, notices, _floor, seen = setup(pointers)
        for cid in ("a", "b"):
            p.join(cid, Access(), "websocket")
            listen(notices, seen, cid)
        for i in range(50):
            p.pointer("a", float(i), 1.0, True)
        p.pointer("ghost", 1.0, 1.0, True)
        await asyncio.sleep(0.2)
        p.close()
        return [m for m in seen["b"] if m["type"] == "pointers"], p.metrics()

    sent, m = asyncio.run(main(True))
    assert [s["pointers"] for s in sent] == [[["a", 49.0, 1.0, True]]]  # the newest, once
    assert m["pointers_coalesced"] == 49 and m["pointers_ignored"] == 1
    sent, m = asyncio.run(main(False))
    assert sent == [] and m["pointers_ignored"] == 51


def test_a_thousand_viewers_are_counted_and_the_first_named_in_one_message() -> None:
    """With more viewers than a page lists (and long names), ``viewers`` names the first
    of them, says how many watch in all, and always fits a message: a newcomer is never
    refused for the size of the list."""
    from rfb.presence import MAX_LISTED
    from rfb.protocol import MAX_TEXT_MESSAGE_BYTES

    clock = Clock()
    p, notices, floor, seen = setup(clock=clock)
    listen(notices, seen, "watcher")
    for i in range(1000):
        floor.join(f"v{i}")
        clock.later()  # each join told at once: every size of the list is tried
        p.join(f"v{i}", Access({"name": f"viewer {i} " + "é" * 200}), "websocket")
    last = seen["watcher"][-1]
    assert last["type"] == "viewers" and last["total"] == 1000
    assert 0 < len(last["viewers"]) <= MAX_LISTED
    assert last["viewers"][0]["client_id"] == "v0"  # the first to join, first
    text = json.dumps(last, ensure_ascii=False, separators=(",", ":"))  # as it was sent
    assert len(text.encode()) <= MAX_TEXT_MESSAGE_BYTES
    for i in range(1000 - 3):
        clock.later()
        p.leave(f"v{i}")
    last = seen["watcher"][-1]
    assert [v["client_id"] for v in last["viewers"]] == ["v997", "v998", "v999"]
    assert "total" not in last  # all of them are named


def test_a_crowd_arriving_at_once_is_told_together() -> None:
    """500 viewers joining in one go: the roster is not sent to everyone at every join
    (250,000 messages) but at once to the first and, after a gap that grows with the
    audience, once more with everyone; a viewer that leaves later is told within the gap."""

    async def main() -> tuple[list[dict], list[dict]]:
        p, notices, floor, seen = setup(clock=time.monotonic)
        listen(notices, seen, "watcher")
        t0 = time.monotonic()
        for i in range(500):
            floor.join(f"v{i}")
            p.join(f"v{i}", Access(), "websocket")
            listen(notices, seen, f"v{i}")
        storm_s.append(time.monotonic() - t0)
        told_during = [m for m in seen["watcher"] if m["type"] == "viewers"]
        while seen["watcher"][-1].get("total") != 500:
            await asyncio.sleep(0.01)
            assert time.monotonic() - t0 < 10.0, "the crowd was never told"
        p.leave("v0")
        while seen["watcher"][-1].get("total") != 499:
            await asyncio.sleep(0.01)
        p.close()
        # Besides the state each gets on listening (its first two messages): a few rounds
        # of the roster to everyone there, where unpaced it was 125,000 messages.
        told = sum(sum(m["type"] == "viewers" for m in got[2:]) for got in seen.values())
        assert told <= 4 * 501, told
        return told_during, seen["v499"]

    storm_s: list[float] = []
    told_during, last_joiner = asyncio.run(main())
    # At once, then only as the gap allows: each gap is the audience / 500 s, so over a
    # storm of D seconds the rosters' times grow by a factor 1 + 1/D (3 for a storm of
    # 0.05 s; a slow machine's longer storm allows a few more, never one a join).
    d = max(storm_s[0], 0.01)
    bound = 2 + math.ceil(math.log(d / RosterPace.gap_for(1)) / math.log(1 + 1 / d))
    assert 1 <= len(told_during) <= max(3, bound), (len(told_during), storm_s)
    assert last_joiner[-1]["total"] == 499  # and everyone hears it, the last to come too
