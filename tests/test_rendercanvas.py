"""rfb.rendercanvas without a GPU: rendercanvas's own bitmap context presents through the
canvas into the stream, and a viewer's input and size reach the canvas as rendercanvas
events, scaled into its logical pixels. (The wgpu/pygfx path: tests/e2e/test_rendercanvas.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from test_streams import JPEG

import rfb
from rfb import client

pytest.importorskip("rendercanvas", reason="needs the dev extra: pip install -e '.[dev]'")


def test_events_become_rendercanvas_events_in_logical_pixels() -> None:
    from rfb.rendercanvas import to_canvas_event

    down = {"type": "pointer_down", "x": 300, "y": 150, "button": 1, "buttons": [1],
            "modifiers": ["Shift"], "timestamp": 123.0}  # fmt: skip
    e = to_canvas_event(down, 2.0)
    assert e is not None
    assert (e["event_type"], e["x"], e["y"], e["pixel_ratio"]) == ("pointer_down", 150, 75, 2.0)
    assert e["buttons"] == (1,) and e["modifiers"] == ("Shift",) and e["ntouches"] == 0
    assert "type" not in e and e["time_stamp"] != 123.0
    key = to_canvas_event({"type": "key_down", "key": "a"}, 2.0)
    assert key == {"key": "a", "event_type": "key_down", "time_stamp": key["time_stamp"],
                   "modifiers": ()}  # fmt: skip
    assert to_canvas_event({"type": "resize", "width": 1, "height": 1}, 1.0) is None


def test_two_fingers_become_rendercanvas_touches() -> None:
    from rfb.rendercanvas import Touches, to_canvas_event

    touches = Touches()

    def ev(kind: str, pid: int, x: float, viewer: str = "v1") -> dict:
        e = to_canvas_event({"type": kind, "x": x, "y": 10, "pointer_id": pid,
                             "pointer_type": "touch", "pressure": 0.5}, 2.0)  # fmt: skip
        assert e is not None
        touches.update(viewer, e)
        return e

    assert ev("pointer_down", 7, 100)["ntouches"] == 1
    two = ev("pointer_down", 8, 300)
    assert two["ntouches"] == 2 and set(two["touches"]) == {7, 8}
    assert two["touches"][8] == {"x": 150, "y": 5, "pressure": 0.5}  # logical pixels
    assert ev("pointer_move", 7, 50)["touches"][7]["x"] == 25
    assert ev("pointer_down", 1, 0, viewer="v2")["ntouches"] == 1  # viewers apart
    assert ev("pointer_up", 7, 50)["ntouches"] == 1
    assert ev("pointer_up", 8, 300)["ntouches"] == 0
    mouse = to_canvas_event({"type": "pointer_move", "x": 1, "y": 1, "pointer_type": "mouse"}, 1.0)
    assert mouse is not None
    touches.update("v1", mouse)
    assert mouse["ntouches"] == 0 and mouse["touches"] == {}


async def test_bitmap_canvas_streams_and_follows_the_viewer() -> None:
    from rfb.rendercanvas import RfbRenderCanvas

    display = await rfb.serve(160, 120, port=0)
    try:
        canvas = RfbRenderCanvas(display=display, update_mode="manual", max_pixel_ratio=2.0)
        assert canvas.get_logical_size() == (160, 120)
        bitmap: Any = canvas.get_context("bitmap")
        got: list[dict[str, Any]] = []
        canvas.add_event_handler(got.append, "pointer_down", "wheel", "resize")

        def draw() -> None:
            w, h = canvas.get_physical_size()
            frame = np.zeros((h, w, 4), np.uint8)
            frame[..., 2] = 200  # blue, opaque
            frame[..., 3] = 255
            bitmap.set_bitmap(frame)

        canvas.request_draw(draw)
        canvas.force_draw()
        assert canvas.frames_presented == 1
        assert [(e["event_type"], e["width"]) for e in got] == [("resize", 160)]
        got.clear()
        async with client.connect(display.ws_url, JPEG) as v:
            f = await v.next_frame(decode=True)
            assert f.pixels.shape == (120, 160, 3) and f.pixels[60, 80, 2] > 180
            # A HiDPI viewer 300x200 CSS px at ratio 3 (capped to 2): 600x400 frames.
            await v.send({"type": "set_viewport", "width": 300, "height": 200,
                          "pwidth": 900, "pheight": 600, "ratio": 3})  # fmt: skip
            # rendercanvas's scheduler, ticking on this loop, takes the viewer's input.
            async with asyncio.timeout(5):
                while canvas.get_physical_size() != (600, 400):
                    await asyncio.sleep(0.02)
            canvas.force_draw()  # draws at the new size
            assert canvas.get_physical_size() == (600, 400)
            assert canvas.get_logical_size() == (300, 200)
            assert [(e["event_type"], e["width"], e["height"], e["pixel_ratio"]) for e in got] \
                == [("resize", 300, 200, 2.0)]  # fmt: skip
            async with asyncio.timeout(5):
                while (f := await v.next_frame(decode=True)).pixels.shape != (400, 600, 3):
                    pass
            # A click in the new frame's pixels: the canvas gets it in logical pixels.
            await v.send_event({"type": "pointer_down", "x": 200, "y": 100, "button": 1,
                                "buttons": [1], "modifiers": []})  # fmt: skip
            async with asyncio.timeout(5):
                while len(got) < 2:
                    await asyncio.sleep(0.02)
            assert [e["event_type"] for e in got] == ["resize", "pointer_down"]
            assert (got[1]["x"], got[1]["y"]) == (100, 50), "frame pixels / ratio"
            assert canvas.resized_by is not None
        assert display.poll_events() == [], "the canvas took them"
    finally:
        await display.aclose()
    assert canvas.get_closed()
