"""The browser client across rungs of the quality ladder: a lower rung may be coded at
half the frame's size, yet the page draws it at the same size, maps input to the same
frame pixels and never drops a frame or rebuilds its decoder on the way."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import rfb

from support.browser import Stream, capture, collect, frames_displayed, open_page, wait_for
from support.pixels import assert_test_card, quadrant_colours
from support.webrtc import LOOPBACK

pytestmark = pytest.mark.asyncio(loop_scope="module")

W, H = 1280, 720  # the published frame; the page shows it at half size
PAGE_W, PAGE_H = 640, 360


def lowest_scaled_rung(display: rfb.Display, capability: str) -> int:
    """The first rung coded at half size (640x360)."""
    lad = display.stream.hub.ladder(capability)
    return next(i for i in range(len(lad)) if lad.coded_size(i, W, H) == (W // 2, H // 2))


async def on_rung(page: Any, rung: int) -> dict[str, Any]:
    stats: dict[str, Any] = await wait_for(
        page,
        f"(() => {{ const s = window.rfbView?.stats; const a = s?.adaptation;"
        f" return a && a.rung === {rung} ? s : null; }})()",
    )
    return stats


async def check_view(page: Any, display: rfb.Display) -> None:
    """Pixels: the test card fills the canvas. Input: a click lands in frame pixels."""
    before = await frames_displayed(page)
    await wait_for(page, f"window.rfbView.stats.framesDisplayed > {before + 3}")
    img = await capture(page)
    assert img.shape == (PAGE_H, PAGE_W, 4)
    assert_test_card(quadrant_colours(img, 0, 0, PAGE_W, PAGE_H), 8)
    display.poll_events()
    await page.mouse.click(100, 50)
    down = (await collect(display, 1, {"pointer_down"}))[0].event
    assert (down["x"], down["y"]) == (pytest.approx(200), pytest.approx(100))
    assert down["inside"] is True


@pytest.mark.parametrize(
    ("query", "capability"),
    [("?nooverlay&transport=websocket", "webcodecs/h264-annexb"),
     ("?nooverlay&transport=websocket&imageOnly", "image/jpeg"),
     ("?nooverlay&transport=webrtc", "webcodecs/h264-annexb")],
    ids=["websocket-h264", "websocket-jpeg", "webrtc-h264"],
)  # fmt: skip
async def test_switching_rungs_keeps_pixels_and_input_in_frame_pixels(
    browser, query: str, capability: str
) -> None:
    webrtc = "webrtc" in query
    display = await rfb.serve(W, H, port=0, transport="webrtc" if webrtc else "websocket",
                              ice=LOOPBACK if webrtc else None)  # fmt: skip
    stream = Stream(display)
    ctx, page = await open_page(browser, display.url + query, width=PAGE_W, height=PAGE_H)
    try:
        (viewer_id,) = display.stream.hub._viewers
        stats = await on_rung(page, 0)
        assert (stats["width"], stats["height"]) == (W, H)
        assert (stats["adaptation"]["codedWidth"], stats["adaptation"]["codedHeight"]) == (W, H)
        await check_view(page, display)
        dropped = stats["framesDropped"]

        low = lowest_scaled_rung(display, capability)
        display.stream.hub.pin(viewer_id, low)
        stats = await on_rung(page, low)
        # coded at half size, drawn (and mapped) at the frame's size
        adaptation = stats["adaptation"]
        assert (adaptation["codedWidth"], adaptation["codedHeight"]) == (W // 2, H // 2)
        await check_view(page, display)
        stats = await page.evaluate("window.rfbView.stats")
        assert (stats["width"], stats["height"]) == (W, H)
        (viewer,) = display.metrics()["viewers"]
        assert viewer["rung_width"] == W // 2

        display.stream.hub.pin(viewer_id, 0)
        await on_rung(page, 0)
        await check_view(page, display)
        stats = await page.evaluate("window.rfbView.stats")
        if "h264" in capability:
            # The page took each rung from its first keyframe: nothing dropped, no decoder
            # rebuilt (a rebuild sends decoder_reset; a gap, request_keyframe; WebRTC, PLI).
            assert stats["framesDropped"] == dropped
            (viewer,) = display.metrics()["viewers"]
            assert viewer["keyframe_requests"] == 0
        assert len({g["rung"] for g in display.metrics()["groups"]}) == 1  # the low rung closed
        await asyncio.sleep(0)
    finally:
        await ctx.close()
        await stream.close()
