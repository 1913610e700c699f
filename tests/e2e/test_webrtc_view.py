"""The browser client over WebRTC (WHEP + data channel), and auto's fallback."""

from __future__ import annotations

import asyncio
import json

import pytest

import rfb
from rfb.signaling import IceConfig

from support.browser import H, Stream, W, capture, collect, frames_displayed, open_page, wait_for
from support.pixels import assert_test_card, quadrant_colours
from support.webrtc import LOOPBACK

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Tests send WebRTC traffic only over loopback.


async def test_webrtc_page_shows_pixels_and_sends_input(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0, transport="webrtc", ice=LOOPBACK))
    display = stream.display
    ctx, page = await open_page(browser, display.url + "?transport=webrtc&nooverlay",
                                width=800, height=600)  # fmt: skip
    try:
        stats = await wait_for(
            page, "window.rfbView.stats?.transport === 'webrtc' && window.rfbView.stats"
        )
        assert stats["state"] == "negotiated"
        assert len(display.stream.webrtc.sessions) == 1 and display.client_count == 1
        img = await capture(page)
        assert_test_card(quadrant_colours(img, 0, 75, 800, 450), 6)
        before = await frames_displayed(page)
        await asyncio.sleep(1.0)
        assert await frames_displayed(page) >= before + 10
        # input over the data channel, mapped through contain at scale 1.25
        display.poll_events()
        await page.mouse.click(400, 300)
        down, up = await collect(display, 2, {"pointer_down", "pointer_up"})
        assert (down.event["x"], down.event["y"]) == (pytest.approx(320), pytest.approx(180))
        assert down.event["button"] == 1 and up.type == "pointer_up"
        await page.keyboard.press("Shift+A")
        keys = await collect(display, 4, {"key_down", "key_up"})
        assert any(k.event["key"] == "A" and k.event["modifiers"] == ["Shift"] for k in keys)
        rtc = await wait_for(page, "window.rfbView.stats?.rtc")
        assert rtc["framesDecoded"] > 10
        # Each drawn frame is reported by its RTP timestamp, so publish -> display is
        # measured, not estimated.
        stats = await wait_for(
            page, "window.rfbView.stats?.latencyMeasured && window.rfbView.stats"
        )
        assert 0 < stats["latencyMs"] < 1000
        (viewer,) = display.metrics()["viewers"]
        assert viewer["frames_shown"] > 10 and 0 < viewer["latency_p50_ms"] < 1000
    finally:
        await ctx.close()
        await stream.close()


async def test_webrtc_carries_the_nvenc_path(browser, monkeypatch) -> None:
    """The stand-in NVENC (tests/support/fake_nvenc.py: High profile, late packets, re-tagged SPS)
    over WebRTC: Chromium decodes the same access units and draws the published colours."""
    from support.fake_nvenc import use_fake_nvenc

    use_fake_nvenc(monkeypatch)
    stream = Stream(await rfb.serve(W, H, port=0, transport="webrtc", ice=LOOPBACK))
    ctx, page = await open_page(browser, stream.display.url + "?transport=webrtc&nooverlay")
    try:
        await wait_for(page, "window.rfbView.stats?.transport === 'webrtc'")
        m = stream.display.metrics()
        assert len(m["groups"]) == 1, json.dumps(m["viewers"])
        (group,) = m["groups"]
        assert group["encoder"] == "nvenc"
        assert_test_card(quadrant_colours(await capture(page), 0, 0, W, H), 6)
        before = await frames_displayed(page)
        await asyncio.sleep(1.0)
        assert await frames_displayed(page) >= before + 10
    finally:
        await ctx.close()
        await stream.close()


async def test_closing_the_tab_ends_the_webrtc_session_at_once(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0, transport="webrtc", ice=LOOPBACK))
    ctx, page = await open_page(browser, stream.display.url + "?transport=webrtc&nooverlay")
    try:
        await wait_for(page, "window.rfbView.stats?.transport === 'webrtc'")
        assert len(stream.display.stream.webrtc.sessions) == 1
        await page.close()  # pagehide: the view sends the WHEP DELETE
        async with asyncio.timeout(5):  # not the ~30 s of ICE consent expiry
            while stream.display.stream.webrtc.sessions or stream.display.client_count:
                await asyncio.sleep(0.05)
    finally:
        await ctx.close()
        await stream.close()


@pytest.mark.parametrize(
    ("serve_kwargs", "why"),
    [
        ({}, "the server serves no WebRTC: WHEP answers 404"),
        ({"transport": "webrtc", "ice": LOOPBACK, "max_webrtc_sessions": 0}, "WHEP refuses (429)"),
        # ICE never connects: every check is dropped, so no frame comes; auto waits, then
        # falls back.
        (
            {
                "transport": "webrtc",
                "ice": IceConfig(
                    host_addresses=("127.0.0.1",), allowed_remote_networks=("203.0.113.0/24",)
                ),
            },
            "WebRTC is blocked",
        ),
    ],
    ids=["no-whep", "whep-refuses", "blocked"],
)
async def test_auto_falls_back_to_the_websocket(browser, serve_kwargs: dict, why: str) -> None:
    stream = Stream(await rfb.serve(W, H, port=0, **serve_kwargs))
    ctx = await browser.new_context(viewport={"width": W, "height": H},
                                    permissions=["camera", "microphone"])  # fmt: skip
    page = await ctx.new_page()
    try:
        await page.goto(stream.display.url + "?transport=auto&nooverlay")
        await wait_for(page, "window.rfbView?.stats?.transport === 'websocket'", timeout=20)
        assert await page.evaluate("window.rfbView.activeTransport") == "websocket", why
        before = await frames_displayed(page)
        await wait_for(page, f"window.rfbView.stats.framesDisplayed > {before + 5}")
        assert_test_card(quadrant_colours(await capture(page), 0, 0, W, H), 6)
    finally:
        await ctx.close()
        await stream.close()


async def test_auto_takes_webrtc_when_the_server_prefers_it(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0, transport="webrtc", ice=LOOPBACK))
    ctx, page = await open_page(browser, stream.display.url + "?nooverlay")  # demo default: auto
    try:
        await wait_for(page, "window.rfbView.stats?.transport === 'webrtc'")
        assert await page.evaluate("window.rfbView.activeTransport") == "webrtc"
    finally:
        await ctx.close()
        await stream.close()
