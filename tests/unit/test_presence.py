"""Presence (rfb/presence.py): who is watching and who holds the floor, told to the
viewers that announced the features, as state a newcomer gets first; pointers shared only
where the stream says so."""

from __future__ import annotations

import asyncio
import json

from rfb.access import Access
from rfb.notices import Notices
from rfb.presence import Presence
from rfb.session.control import EXCLUSIVE, Floor, Outcome


def setup(pointers: bool = False) -> tuple[Presence, Notices, Floor, dict[str, list[dict]]]:
    notices, floor = Notices(), Floor(EXCLUSIVE)
    p = Presence(notices, floor, lambda: 0.0, pointers=pointers)
    seen: dict[str, list[dict]] = {}
    return p, notices, floor, seen


def listen(notices: Notices, seen: dict[str, list[dict]], cid: str,
           features: frozenset[str] = frozenset({"control", "presence"})) -> None:  # fmt: skip
    seen[cid] = []
    for text in notices.open(cid, lambda t, c=cid: seen[c].append(json.loads(t)), features):
        seen[cid].append(json.loads(text))


def test_viewers_are_listed_with_names_roles_and_the_floor() -> None:
    p, notices, floor, seen = setup()
    floor.join("a")
    p.join("a", Access({"name": "Alice"}), "websocket")
    listen(notices, seen, "a")
    assert [m["type"] for m in seen["a"]] == ["control", "viewers"]  # the state, first
    floor.join("v", may_drive=False)
    p.join("v", Access("Vera", view_only=True), "webrtc")
    floor.request("a", 0.0)
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
    p.announce()  # nothing changed: nothing sent
    assert len(seen["a"]) == before
    p.leave("v")
    assert [v["client_id"] for v in seen["a"][-1]["viewers"]] == ["a"]


def test_a_refusal_is_told_to_the_viewer_that_asked_only() -> None:
    p, notices, floor, seen = setup()
    for cid in ("a", "b"):
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

    p, notices, floor, seen = setup()
    listen(notices, seen, "watcher")
    for i in range(1000):
        floor.join(f"v{i}")
        p.join(f"v{i}", Access({"name": f"viewer {i} " + "é" * 200}), "websocket")
    last = seen["watcher"][-1]
    assert last["type"] == "viewers" and last["total"] == 1000
    assert 0 < len(last["viewers"]) <= MAX_LISTED
    assert last["viewers"][0]["client_id"] == "v0"  # the first to join, first
    text = json.dumps(last, ensure_ascii=False, separators=(",", ":"))  # as it was sent
    assert len(text.encode()) <= MAX_TEXT_MESSAGE_BYTES
    for i in range(1000 - 3):
        p.leave(f"v{i}")
    last = seen["watcher"][-1]
    assert [v["client_id"] for v in last["viewers"]] == ["v997", "v998", "v999"]
    assert "total" not in last  # all of them are named
