"""rfb.rendercanvas without a GPU, over a real WebSocket: rendercanvas's own bitmap
context presents through the canvas into the stream, and a viewer's input and size reach
the canvas as rendercanvas events, scaled into its logical pixels. (Events sans I/O:
tests/unit/test_rendercanvas.py; the wgpu/pygfx path: tests/e2e/test_rendercanvas.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

import rfb
from rfb import client, protocol

pytest.importorskip("rendercanvas", reason="needs the dev extra: pip install -e '.[dev]'")

JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]


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
