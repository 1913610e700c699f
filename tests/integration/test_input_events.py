"""Input over a real WebSocket: events and the viewport reach poll_events() and the
events() iterator, with the viewer's client id."""

from __future__ import annotations

import asyncio

import rfb
from rfb import client, protocol

H264 = [protocol.CAP_H264, protocol.CAP_JPEG, protocol.CAP_PNG]
JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]


async def test_input_events_and_viewport_reach_poll_events(serving) -> None:
    display, _ = await serving(320, 240)
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        await v.send({"type": "set_viewport", "width": 640, "height": 480, "pwidth": 1280,
                      "pheight": 960, "ratio": 2})  # fmt: skip
        sent = [
            {"type": "pointer_down", "x": 12.5, "y": 30, "inside": True, "button": 1,
             "buttons": [1], "modifiers": ["Shift"], "pixel_ratio": 2, "timestamp": 1.0},
            {"type": "wheel", "x": 5, "y": 6, "dx": 0, "dy": 48, "buttons": [],
             "modifiers": [], "timestamp": 1.1},
            {"type": "key_down", "key": "A", "code": "KeyA", "modifiers": ["Shift"],
             "timestamp": 1.2},
        ]  # fmt: skip
        for ev in sent:
            await v.send_event(ev)
        got: list[rfb.InputEvent] = []
        async with asyncio.timeout(5):
            while len(got) < 4:
                got += display.poll_events()
                await asyncio.sleep(0.01)
        assert got[0].event == {"type": "resize", "width": 640, "height": 480, "pwidth": 1280,
                                "pheight": 960, "ratio": 2.0}  # fmt: skip
        assert [g.event for g in got[1:]] == sent
        assert {g.client_id for g in got} == {v.config["client_id"]}
        assert all(g.received_us > 0 for g in got)
        assert display.poll_events() == []


async def test_events_async_iterator(serving) -> None:
    display, _ = await serving(64, 64)
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        await v.send_event({"type": "pointer_move", "x": 1, "y": 2})
        async with asyncio.timeout(5):
            async for ev in display.events():
                assert ev.type == "pointer_move" and ev.event["x"] == 1
                break
