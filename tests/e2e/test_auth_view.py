"""The browser client's ``token`` option on both transports, against an authenticate hook."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import rfb

from support.browser import Stream, collect, frames_displayed, open_page
from support.webrtc import LOOPBACK

pytestmark = pytest.mark.asyncio(loop_scope="module")


def authenticate(ctx: rfb.AuthContext) -> Any:
    return {"alice": "alice", "guest": rfb.ViewOnly("guest")}.get(ctx.token or "")


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_page_token_admits_drives_watches_or_is_refused(browser, transport: str) -> None:
    stream = Stream(await rfb.serve(320, 240, port=0, transport="webrtc", ice=LOOPBACK,
                                    authenticate=authenticate))  # fmt: skip
    display = stream.display
    base = display.url + f"?transport={transport}&nooverlay"
    try:
        ctx, page = await open_page(browser, base + "&token=alice", width=320, height=240)
        stats = await page.evaluate("window.rfbView.stats")
        assert stats["transport"] == ("webrtc" if transport == "webrtc" else "websocket")
        display.poll_events()
        await page.mouse.click(100, 100)
        down, _ = await collect(display, 2, {"pointer_down", "pointer_up"})
        assert down.principal == "alice"
        await ctx.close()

        ctx, page = await open_page(browser, base + "&token=guest", width=320, height=240)
        assert (await page.evaluate("window.rfbView.stats"))["viewOnly"] is True
        display.poll_events()
        await page.mouse.click(100, 100)
        await page.keyboard.press("a")
        await asyncio.sleep(0.5)
        assert display.poll_events() == []  # watched, drove nothing (and sent no input)
        await ctx.close()

        ctx = await browser.new_context(permissions=["camera", "microphone"])
        page = await ctx.new_page()
        await page.goto(base + "&token=mallory")
        async with asyncio.timeout(10):
            while display.stream.refused["unauthorized"] < 1:
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        assert await frames_displayed(page) == 0
        await ctx.close()
    finally:
        await stream.close()
