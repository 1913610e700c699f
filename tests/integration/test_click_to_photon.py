"""Click-to-photon over a real WebSocket: the first frame a viewer gets after the program
took its input carries that input's number (to that viewer only, once); a program that
does not poll stamps nothing; the viewer's samples reach the metrics; a malformed number
closes only the viewer that sent it."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

import rfb
from rfb import client, protocol

from support.events import CLICK

JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]


def picture(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


async def taken(display: rfb.Display, n: int) -> list[rfb.InputEvent]:
    got: list[rfb.InputEvent] = []
    async with asyncio.timeout(5):
        while len(got) < n:
            got += display.poll_events()
            await asyncio.sleep(0.005)
    return got


async def frame_after(display: rfb.Display, value: int, *viewers: Any) -> list[dict[str, Any]]:
    display.publish(picture(value))
    return [(await v.next_frame()).header for v in viewers]


async def test_the_first_frame_after_input_was_taken_carries_its_number(serving) -> None:
    display, _ = await serving(64, 48, pattern=None)
    async with client.connect(display.ws_url, JPEG) as a, client.connect(display.ws_url, JPEG) as b:
        first = await frame_after(display, 1, a, b)
        assert all("input_seq" not in h for h in first)
        await a.send({"type": "event", "event": CLICK, "input_seq": 5})
        await a.send({"type": "event", "event": CLICK, "input_seq": 6})
        await b.send({"type": "event", "event": CLICK})  # an old client: no number
        # Not taken yet: the program publishes without polling; nothing is stamped.
        h = await frame_after(display, 2, a, b)
        assert all("input_seq" not in x for x in h)
        events = await taken(display, 3)
        assert sorted(e.input_seq or 0 for e in events) == [0, 5, 6]
        ha, hb = await frame_after(display, 3, a, b)
        assert ha["input_seq"] == 6 and "input_seq" not in hb  # the newest, to its viewer only
        ha, hb = await frame_after(display, 4, a, b)  # an animation frame: nothing new
        assert "input_seq" not in ha and "input_seq" not in hb
        await a.send({"type": "input_photon", "input_seq": 6, "ms": 37.5})
        async with asyncio.timeout(5):
            while not (m := _viewer(display, a.config["client_id"]))["input_to_photon"]["samples"]:
                await asyncio.sleep(0.005)
        assert m["input_to_photon"] == {"samples": 1, "p50_ms": 37.5, "p95_ms": 37.5,
                                        "last_ms": 37.5}  # fmt: skip
        assert _viewer(display, b.config["client_id"])["input_to_photon"]["samples"] == 0


async def test_a_malformed_input_number_closes_only_its_sender(serving) -> None:
    display, _ = await serving(64, 48, pattern=None)
    async with client.connect(display.ws_url, JPEG) as a, client.connect(display.ws_url, JPEG) as b:
        await frame_after(display, 1, a, b)
        await b.send({"type": "event", "event": CLICK, "input_seq": "7"})
        code, _ = await b.wait_closed()
        assert code == protocol.CLOSE_POLICY_VIOLATION
        await a.send({"type": "event", "event": CLICK, "input_seq": 1})
        await taken(display, 1)
        (h,) = await frame_after(display, 2, a)
        assert h["input_seq"] == 1


def _viewer(display: rfb.Display, client_id: str) -> dict[str, Any]:
    (v,) = [v for v in display.stream.metrics()["viewers"] if v["id"] == client_id]
    return v
