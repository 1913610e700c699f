"""The control floor and presence over real WebSockets (rfb.client viewers): forged and
malformed control messages, pdum.rfb 0.x clients, and a pointer storm, on a live server."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

import rfb
from rfb import client, protocol

pytestmark = pytest.mark.asyncio

FEATURES = ("control", "presence")


async def publish(display: rfb.Display) -> None:
    frame = np.zeros((32, 32, 3), np.uint8)
    n = 0
    while True:
        frame[..., 0] = n % 256
        display.publish(frame)
        n += 1
        await asyncio.sleep(1 / 30)


async def until(viewer: client.Viewer, pred: Any, timeout: float = 5.0) -> dict[str, Any]:
    """Frames are read (and acked) until a text message satisfies ``pred``."""
    async with asyncio.timeout(timeout):
        while True:
            for msg in viewer.texts:
                if pred(msg):
                    viewer.texts.remove(msg)
                    return msg
            await viewer.next_frame()


async def test_forged_requests_are_refused_malformed_ones_close_only_the_sender() -> None:
    display = await rfb.serve(32, 32, port=0, control="exclusive", token="t", view_token="w")
    task = asyncio.create_task(publish(display))
    try:
        async with (
            client.connect(display.ws_url, token="t", features=FEATURES) as a,
            client.connect(display.ws_url, token="t", features=FEATURES) as b,
            client.connect(display.ws_url, token="w", features=FEATURES) as v,
            client.connect(display.ws_url, token="t") as old,  # a pdum.rfb 0.x client
        ):
            await a.next_frame()
            await b.next_frame()
            ida, idb = a.config["client_id"], b.config["client_id"]
            await a.send({"type": "request_control"})
            await until(b, lambda m: m.get("type") == "control" and m["holder"] == ida)
            # forged: b hands on a floor it does not hold; v (view-only) asks for it
            await b.send({"type": "give_control", "client_id": idb})
            refused = await until(b, lambda m: m.get("refused") is not None)
            assert (refused["refused"], refused["holder"]) == ("not_holder", ida)
            await v.send({"type": "request_control"})
            assert (await until(v, lambda m: "refused" in m))["refused"] == "view_only"
            await a.send({"type": "give_control", "client_id": "nobody"})
            assert (await until(a, lambda m: "refused" in m))["refused"] == "unknown_viewer"
            assert display.control == ida
            assert display.metrics()["display"]["control"]["refused"] == {
                "not_holder": 1, "view_only": 1, "unknown_viewer": 1}  # fmt: skip
            # b's input is dropped and counted; a's arrives
            display.poll_events()
            await b.send_event({"type": "pointer_down", "x": 1, "y": 1, "button": 0})
            await a.send_event({"type": "pointer_down", "x": 2, "y": 2, "button": 0})
            await until(a, lambda m: m.get("type") == "stats", timeout=3)
            assert [e.client_id for e in display.poll_events() if e.type == "pointer_down"] == [ida]
            assert display.metrics()["display"]["input_dropped"]["control"] == 1
            # malformed: closes b alone, with 1008 and a reason
            await b.send({"type": "give_control", "client_id": 5})
            code, reason = await b.wait_closed()
            assert code == protocol.CLOSE_POLICY_VIOLATION and "client_id" in reason
            await a.next_frame()
            await v.next_frame()
            # the 0.x client was sent none of the new messages, and still gets frames
            await old.next_frame()
            assert {m["type"] for m in old.texts} <= {"config", "stats"}
            assert display.metrics()["display"]["protocol_errors"] == {"1008": 1}
    finally:
        task.cancel()
        await display.aclose()


async def test_a_pointer_storm_reaches_the_others_coalesced() -> None:
    display = await rfb.serve(32, 32, port=0, presence=True)
    task = asyncio.create_task(publish(display))
    try:
        async with (
            client.connect(display.ws_url, features=FEATURES) as a,
            client.connect(display.ws_url, features=FEATURES) as b,
        ):
            await a.next_frame()
            await b.next_frame()
            viewers = await until(b, lambda m: m.get("type") == "viewers"
                                  and len(m["viewers"]) == 2)  # fmt: skip
            assert viewers["pointers"] is True
            ida = a.config["client_id"]
            for i in range(300):  # far faster than 15 a second
                await a.send({"type": "presence", "x": i / 10, "y": 3})
            last = await until(b, lambda m: m.get("type") == "pointers"
                               and m["pointers"][-1][1] == 29.9)  # fmt: skip
            assert last["pointers"] == [[ida, 29.9, 3.0, True]]
            m = display.metrics()["display"]["presence"]
            assert m["pointer_messages"] <= 10 and m["pointers_coalesced"] >= 280
    finally:
        task.cancel()
        await display.aclose()
