"""What the application says to viewers (messages, cursor, clipboard, pointer lock) and
what they send it (messages, pastes), over a real WebSocket. (Sans I/O:
tests/unit/test_notices.py.)"""

from __future__ import annotations

import asyncio

import pytest

from rfb import client, protocol

JPEG = (protocol.CAP_JPEG,)
ALL = tuple(sorted(protocol.FEATURES))


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
