"""Exact pixels at rest (issue 29): once the scene stops, the canvas shows the published
frame bit-exact (a lossless still drawn over the video), over the WebSocket (H.264 and
images) and over WebRTC (the picture on the data channel)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import numpy as np
import pytest
from PIL import Image, ImageDraw

import rfb
from rfb.prometheus import render

from support.browser import capture, open_page
from support.webrtc import LOOPBACK

pytestmark = pytest.mark.asyncio(loop_scope="module")

FW, FH = 640, 480
STILL_AFTER = 0.3


def scene(step: int) -> np.ndarray:
    """Small text, one-pixel lines in saturated red, green and blue, and a block of noise
    (what a plot or a terminal has: what lossy video blurs); ``step`` moves it."""
    img = Image.new("RGB", (FW, FH), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for row, y in enumerate(range(6, 230, 11)):
        d.text((6 + step, y), f"{row:02d} exact pixels at rest: 0123456789 ABCDEF {step}",
               fill=(0, 0, 0))  # fmt: skip
    for k, colour in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
        for x in range(300 + 2 * k, 620, 6):
            d.line([(x, 250 + step), (x, 330)], fill=colour, width=1)
        d.line([(20, 260 + 4 * k + step), (280, 260 + 4 * k)], fill=colour, width=1)
    pixels = np.asarray(img).copy()
    noise = np.random.default_rng(29).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    pixels[360 + step : 424 + step, 40:136] = noise
    return pixels


@contextlib.asynccontextmanager
async def moving(display: rfb.Display) -> AsyncIterator[None]:
    """Frames that change at 30 fps while the page starts; then the resting frame."""

    async def run() -> None:
        step = 0
        while True:
            display.publish(scene(step % 8))
            step += 1
            await asyncio.sleep(1 / 30)

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_exact(display: rfb.Display, page, final: np.ndarray) -> dict:  # type: ignore[no-untyped-def]
    """Wait until the server sent an exact still and the canvas shows ``final`` exactly;
    returns the viewer's figures. On a timeout, says how far the canvas is off."""
    deadline = asyncio.get_running_loop().time() + 10.0
    while True:
        (viewer,) = display.metrics()["viewers"]
        if viewer["last_still"] == "exact":
            img = await capture(page)
            assert img.shape[:2] == (FH, FW)
            diff = int(np.any(img[..., :3] != final, axis=2).sum())
            if diff == 0:
                return viewer
        else:
            diff = -1
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not exact: {diff} pixels differ; viewer {viewer}")
        await asyncio.sleep(0.2)


async def check_resting_frame_is_exact(browser, query: str, **serve: object) -> dict:  # type: ignore[no-untyped-def]
    display = await rfb.serve(FW, FH, port=0, still_after=STILL_AFTER, **serve)  # type: ignore[arg-type]
    ctx = None
    try:
        async with moving(display):
            ctx, page = await open_page(browser, display.url + query, width=FW, height=FH)
        final = scene(3)
        display.publish(final)
        viewer = await wait_exact(display, page, final)
        assert viewer["exact_stills_sent"] >= 1
        groups = display.metrics()["groups"]
        assert sum(g["exact_stills"] for g in groups) >= 1
        text, _ = render([display.stream], "text/plain")
        assert b"rfb_exact_stills_sent_total" in text and b'kind="exact"' in text
        # stays exact: nothing of the same frame is drawn over it
        await asyncio.sleep(1.0)
        assert np.array_equal((await capture(page))[..., :3], final)
        # and motion after the rest is drawn again
        display.publish(scene(5))
        await asyncio.sleep(0.5)
        assert not np.array_equal((await capture(page))[..., :3], final)
        return viewer
    finally:
        if ctx is not None:
            await ctx.close()
        await display.aclose()


async def test_resting_frame_is_exact_over_the_websocket_h264(browser) -> None:
    viewer = await check_resting_frame_is_exact(browser, "?nooverlay&fit=fill&transport=websocket")
    assert viewer["codec"] == rfb.protocol.CAP_H264


async def test_resting_frame_is_exact_over_webrtc(browser) -> None:
    viewer = await check_resting_frame_is_exact(
        browser, "?nooverlay&fit=fill&transport=webrtc", transport="webrtc", ice=LOOPBACK
    )
    assert viewer["codec"] == rfb.protocol.CAP_H264


async def test_resting_frame_is_exact_for_an_image_viewer(browser) -> None:
    viewer = await check_resting_frame_is_exact(
        browser, "?nooverlay&fit=fill&transport=websocket&imageOnly"
    )
    assert viewer["codec"] == rfb.protocol.CAP_JPEG
