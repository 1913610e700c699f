"""What the application says to viewers (messages, cursor, clipboard, pointer lock) and
what they send it (messages, pastes): sans I/O first, then over a real WebSocket."""

from __future__ import annotations

import asyncio
import json

import pytest

from rfb import client, protocol
from rfb.notices import Notices, cursor_message

JPEG = (protocol.CAP_JPEG,)
ALL = tuple(sorted(protocol.FEATURES))
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2217bc60000000049454e44ae426082"
)


def test_only_viewers_that_announced_a_kind_get_it() -> None:
    n = Notices()
    got: dict[str, list[dict]] = {"new": [], "old": [], "cursor-only": []}
    n.open("new", lambda t: got["new"].append(json.loads(t)), frozenset(ALL))
    n.open("old", lambda t: got["old"].append(json.loads(t)), frozenset())  # pdum.rfb 0.x
    n.open("cursor-only", lambda t: got["cursor-only"].append(json.loads(t)),
           frozenset({"cursor"}))  # fmt: skip
    assert n.send(protocol.AppMessage([1, "é"])) == 1
    assert n.send(cursor_message("crosshair")) == 2
    assert got["new"] == [{"type": "message", "data": [1, "é"]},
                          {"type": "cursor", "cursor": "crosshair"}]  # fmt: skip
    assert got["old"] == []
    assert got["cursor-only"] == [{"type": "cursor", "cursor": "crosshair"}]
    assert n.send(protocol.AppMessage(2), client_id="old") == 0
    with pytest.raises(KeyError, match="no viewer 'gone'"):
        n.send(protocol.AppMessage(2), client_id="gone")
    assert n.send(protocol.Clipboard("x")) == 1 and n.send(protocol.PointerLock(False)) == 1
    assert got["new"][-2:] == [{"type": "clipboard", "text": "x"},
                               {"type": "pointer_lock", "lock": False}]  # fmt: skip
    assert got["cursor-only"] == [{"type": "cursor", "cursor": "crosshair"}]
    assert n.sent == {"messages": 1, "cursor": 2, "clipboard": 1, "pointer_lock": 1}


def test_each_notice_is_sent_for_its_hello_feature() -> None:
    kinds = (protocol.AppMessage, protocol.Cursor, protocol.Clipboard, protocol.PointerLock)
    assert {k.feature for k in kinds} == protocol.FEATURES


def test_a_newcomer_gets_the_current_cursor_its_own_first() -> None:
    n = Notices()
    n.send(cursor_message("grab"))  # before anyone is watching
    seen: list[dict] = []
    first = n.open("a", lambda t: seen.append(json.loads(t)), frozenset({"cursor"}))
    assert [json.loads(t) for t in first] == [{"type": "cursor", "cursor": "grab"}]
    n.send(cursor_message("text"), client_id="a")
    assert seen == [{"type": "cursor", "cursor": "text"}]
    n.close("a")  # its own cursor goes with it
    first = n.open("a", lambda t: seen.append(json.loads(t)), frozenset({"cursor"}))
    assert [json.loads(t) for t in first] == [{"type": "cursor", "cursor": "grab"}]
    assert n.open("b", seen.append, frozenset({"messages"})) == []  # did not ask for cursors


def test_bad_notices_are_refused_with_what_is_wrong() -> None:
    n = Notices()
    with pytest.raises(TypeError, match="must be JSON"):
        n.send(protocol.AppMessage(object()))
    with pytest.raises(TypeError, match="must be JSON"):
        n.send(protocol.AppMessage(float("nan")))  # no NaN literal for a browser's JSON.parse
    with pytest.raises(ValueError, match="over the 65536-byte limit"):
        n.send(protocol.AppMessage("x" * 70_000))
    with pytest.raises(TypeError, match="must be a str"):
        protocol.Clipboard(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown cursor 'hand'"):
        cursor_message("hand")
    with pytest.raises(ValueError, match="must be a PNG"):
        cursor_message("pointer", image=b"GIF89a")
    with pytest.raises(ValueError, match="data: URL"):
        cursor_message("pointer", image="javascript:alert(1)")
    with pytest.raises(ValueError, match="hotspot"):
        cursor_message("pointer", image=PNG_1PX, hotspot=(-1, 0))
    with pytest.raises(ValueError, match="hotspot"):
        protocol.Cursor("pointer", "data:image/png;base64,AA==", (True, 0))  # a bool is no int
    with pytest.raises(ValueError, match="over 32768 bytes"):
        cursor_message("pointer", image="data:image/png;base64," + "A" * 32768)
    msg = cursor_message("pointer", image=PNG_1PX, hotspot=(3, 4))
    assert msg.image is not None and msg.image.startswith("data:image/png;base64,")
    assert msg.as_dict()["hotspot"] == [3, 4]
    # A name alone sends no hotspot; an image's hotspot defaults to its top-left corner.
    assert json.loads(cursor_message("wait").encode()) == {"type": "cursor", "cursor": "wait"}
    assert protocol.Cursor("grab", msg.image).as_dict()["hotspot"] == [0, 0]


async def texts_of(v: client.Viewer, kind: str, n: int = 1) -> list[dict]:
    async with asyncio.timeout(5):
        while len([t for t in v.texts if t["type"] == kind]) < n:
            await v.next_frame()
    return [t for t in v.texts if t["type"] == kind]


async def test_display_tells_viewers_over_the_websocket(serving) -> None:
    display, _ = await serving(160, 120)
    async with (
        client.connect(display.ws_url, JPEG, features=ALL) as new,
        client.connect(display.ws_url, JPEG) as old,
    ):
        await new.next_frame()
        await old.next_frame()
        assert display.send({"speed": 2}) == 1  # the 0.x-style client is skipped
        assert (await texts_of(new, "message"))[0] == {"type": "message", "data": {"speed": 2}}
        display.set_cursor("crosshair")
        display.set_clipboard("copied ✓")
        display.request_pointer_lock()
        assert (await texts_of(new, "cursor"))[0]["cursor"] == "crosshair"
        assert (await texts_of(new, "clipboard"))[0]["text"] == "copied ✓"
        assert (await texts_of(new, "pointer_lock"))[0]["lock"] is True
        for _ in range(5):
            await old.next_frame()
        assert {t["type"] for t in old.texts} <= {"config", "stats"}
        # One viewer only, by its client_id.
        cid = new.config["client_id"]
        assert display.send("just you", client_id=cid) == 1
        assert (await texts_of(new, "message", 2))[1]["data"] == "just you"
        with pytest.raises(KeyError):
            display.send("nobody", client_id="no-such-viewer")
        # A viewer that joins now gets the cursor at once, after its config.
        async with client.connect(display.ws_url, JPEG, features=("cursor",)) as late:
            await late.next_frame()
            assert [t["type"] for t in late.texts[:2]] == ["config", "cursor"]
    with pytest.raises(TypeError, match="JSON"):
        display.send({1, 2})


async def test_viewers_messages_and_pastes_reach_poll_events(serving) -> None:
    display, _ = await serving(160, 120, token="drive", view_token="watch")
    async with (
        client.connect(display.ws_url, JPEG, token="drive") as driver,
        client.connect(display.ws_url, JPEG, token="watch") as watcher,
    ):
        await driver.next_frame()
        await watcher.next_frame()
        display.poll_events()
        for v in (watcher, driver):  # the watcher's are dropped: view-only writes nothing
            await v.ws.send_str(protocol.dumps({"type": "event", "event": {
                "type": "message", "data": {"slider": 0.5, "who": v.config["client_id"]}}}))  # fmt: skip
            await v.ws.send_str(protocol.dumps({"type": "event", "event": {
                "type": "clipboard", "text": "pasted\\ntext"}}))  # fmt: skip
        async with asyncio.timeout(5):
            while len(evs := [e for e in display.stream.inputs._events]) < 2:
                await asyncio.sleep(0.02)
        evs = display.poll_events()
        assert [(e.type, e.client_id) for e in evs] == [
            ("message", driver.config["client_id"]), ("clipboard", driver.config["client_id"])]  # fmt: skip
        assert evs[0].event["data"] == {"slider": 0.5, "who": driver.config["client_id"]}
        assert evs[1].event["text"] == "pasted\\ntext"
        assert display.stream.inputs.dropped["view_only"] == 2
        # An oversized paste closes only that viewer, naming the field.
        await driver.ws.send_str(protocol.dumps({"type": "event", "event": {
            "type": "clipboard", "text": "x" * (protocol.MAX_CLIPBOARD + 1)}}))  # fmt: skip
        code, reason = await driver.wait_closed()
        assert code == 1008 and "'text' longer than 60000" in reason
        await watcher.next_frame()  # the other viewer keeps receiving


async def test_a_message_storm_is_cut_to_the_input_rate_and_hurts_no_one(serving) -> None:
    display, _ = await serving(160, 120, max_input_rate=50)
    async with (
        client.connect(display.ws_url, JPEG) as stormy,
        client.connect(display.ws_url, JPEG) as calm,
    ):
        await stormy.next_frame()
        await calm.next_frame()
        display.poll_events()
        burst = [protocol.dumps({"type": "event", "event": {"type": "message", "data": i}})
                 for i in range(2000)]  # fmt: skip
        for text in burst:
            await stormy.ws.send_str(text)
        for _ in range(10):  # the other viewer keeps receiving meanwhile
            await calm.next_frame(timeout=2)
        await asyncio.sleep(0.3)
        got = [e for e in display.poll_events() if e.type == "message"]
        assert 0 < len(got) < 200  # the budget (50/s, with its burst), not 2000
        assert display.stream.inputs.dropped["rate"] >= 1800
        assert [e.event["data"] for e in got] == sorted(e.event["data"] for e in got)
        await stormy.next_frame()  # not closed: over-rate input is dropped and counted
