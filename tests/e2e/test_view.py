"""The browser client end to end: pixels drawn, input mapped, resize, two pages, restart."""

from __future__ import annotations

import asyncio
import socket

import pytest

import rfb

from support.browser import H, Stream, W, capture, collect, frames_displayed, open_page, wait_for
from support.pixels import assert_test_card, quadrant_colours

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize(("query", "codec", "tol"), [("?imageOnly&nooverlay", "image/jpeg", 6),
                                                      ("?nooverlay", "avc1.", 4)])  # fmt: skip
async def test_canvas_shows_the_test_card(browser, query: str, codec: str, tol: int) -> None:
    stream = Stream(await rfb.serve(W, H, port=0))
    ctx, page = await open_page(browser, stream.display.url + query)
    try:
        stats = await page.evaluate("window.rfbView.stats")
        assert stats["codec"].startswith(codec), stats  # H.264 really ran, not a fallback
        assert stats["transport"] == "websocket" and stats["state"] == "negotiated"
        img = await capture(page)
        assert img.shape == (H, W, 4)
        assert_test_card(quadrant_colours(img, 0, 0, W, H), tol)
        before = await frames_displayed(page)
        await asyncio.sleep(1.0)
        assert await frames_displayed(page) >= before + 10, "frames keep arriving"
        (viewer,) = stream.display.metrics()["viewers"]
        assert viewer["frames_acked"] >= 10  # the page acks what it draws
    finally:
        await ctx.close()
        await stream.close()


async def test_canvas_shows_the_test_card_from_the_nvenc_path(browser, monkeypatch) -> None:
    """NvencEncoder driving the stand-in PyNvVideoCodec (tests/support/fake_nvenc.py): High
    profile, tagged full range, packets three frames late. Chromium draws the published
    colours only because rfb re-tags the SPS with the signal it converted with."""
    from support.fake_nvenc import use_fake_nvenc

    use_fake_nvenc(monkeypatch)
    stream = Stream(await rfb.serve(W, H, port=0))
    ctx, page = await open_page(browser, stream.display.url + "?nooverlay")
    try:
        stats = await page.evaluate("window.rfbView.stats")
        assert stats["codec"].startswith("avc1.64"), stats  # what the SPS says: High
        (group,) = stream.display.metrics()["groups"]
        assert group["encoder"] == "nvenc"
        assert_test_card(quadrant_colours(await capture(page), 0, 0, W, H), 4)
    finally:
        await ctx.close()
        await stream.close()


async def test_h264_needs_a_secure_context_and_https_gives_one(tmp_path) -> None:
    """A page from another machine's http:// address gets JPEG (no WebCodecs there); the
    same server with a certificate serves https:// and the page decodes H.264."""
    from playwright.async_api import async_playwright

    from support.browser import ARGS, CHROMIUM
    from support.tls import self_signed

    # A name other than localhost makes the origin not "potentially trustworthy", while
    # the traffic still goes to 127.0.0.1 only.
    args = [*ARGS, "--host-resolver-rules=MAP rfb.test 127.0.0.1"]
    plain = Stream(await rfb.serve(W, H, port=0))
    tls = Stream(await rfb.serve(W, H, port=0, ssl_context=rfb.tls_context(*self_signed(tmp_path))))
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        ctx = await browser.new_context(viewport={"width": W, "height": H},
                                        ignore_https_errors=True)  # fmt: skip
        try:
            page = await ctx.new_page()
            await page.goto(f"http://rfb.test:{plain.display.port}/?nooverlay")
            await wait_for(page, "window.rfbView?.stats?.framesDisplayed > 3")
            assert not await page.evaluate("isSecureContext")
            assert (await page.evaluate("window.rfbView.stats.codec")) == "image/jpeg"
            await page.goto(f"https://rfb.test:{tls.display.port}/?nooverlay")
            await wait_for(page, "window.rfbView?.stats?.framesDisplayed > 3")
            assert await page.evaluate("isSecureContext")
            assert (await page.evaluate("window.rfbView.stats.codec")).startswith("avc1.")
            assert_test_card(quadrant_colours(await capture(page), 0, 0, W, H), 4)
        finally:
            await ctx.close()
            await browser.close()
            await plain.close()
            await tls.close()


async def test_letterbox_is_drawn_in_the_background_colour(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0))
    # 800x600 page, 640x360 frame under contain: scale 1.25, frame at y 75..525
    ctx, page = await open_page(browser, stream.display.url + "?nooverlay", width=800, height=600)
    try:
        img = await capture(page)
        assert img.shape == (600, 800, 4)
        assert tuple(img[30, 400, :3]) == (0, 0, 0) and tuple(img[570, 400, :3]) == (0, 0, 0)
        assert_test_card(quadrant_colours(img, 0, 75, 800, 450), 6)
    finally:
        await ctx.close()
        await stream.close()


@pytest.mark.parametrize("dpr", [1.0, 2.0])
async def test_mouse_and_keys_arrive_in_frame_pixels(browser, dpr: float) -> None:
    stream = Stream(await rfb.serve(W, H, port=0))
    display = stream.display
    # contain: the 640x360 frame fills 800x450 at y=75 on an 800x600 page (scale 1.25)
    ctx, page = await open_page(browser, display.url + "?nooverlay", width=800, height=600,
                                dpr=dpr)  # fmt: skip
    try:
        display.poll_events()
        mouse = page.mouse
        # move
        await mouse.move(400, 300)
        (move,) = await collect(display, 1, {"pointer_move"})
        assert move.event["x"] == pytest.approx(320, abs=0.01)
        assert move.event["y"] == pytest.approx(180, abs=0.01)
        assert move.event["inside"] is True and move.event["pixel_ratio"] == dpr
        # click
        display.poll_events()
        await mouse.click(100, 100)
        down, up = await collect(display, 2, {"pointer_down", "pointer_up"})
        assert (down.type, up.type) == ("pointer_down", "pointer_up")
        assert (down.event["x"], down.event["y"]) == (pytest.approx(80), pytest.approx(20))
        assert down.event["button"] == 1 and down.event["buttons"] == [1]
        assert up.event["button"] == 1 and up.event["buttons"] == []
        # right-button drag with Shift held
        display.poll_events()
        await page.keyboard.down("Shift")
        await mouse.move(200, 200)
        await mouse.down(button="right")
        await mouse.move(300, 250, steps=4)
        await mouse.up(button="right")
        await page.keyboard.up("Shift")
        evs = await collect(display, 3, {"pointer_down", "pointer_up", "pointer_move"})
        await asyncio.sleep(0.2)
        evs += [e for e in display.poll_events() if e.type.startswith("pointer")]
        kinds = [e.type for e in evs]
        d = evs[kinds.index("pointer_down")].event
        u = evs[kinds.index("pointer_up")].event
        drags = [e.event for e in evs if e.type == "pointer_move" and e.event["buttons"] == [2]]
        assert d["button"] == 2 and d["modifiers"] == ["Shift"]
        assert (d["x"], d["y"]) == (pytest.approx(160), pytest.approx(100))
        assert (u["x"], u["y"]) == (pytest.approx(240), pytest.approx(140))
        assert drags, "moves during the drag report the held button"
        # wheel
        display.poll_events()
        await mouse.move(400, 300)
        await mouse.wheel(0, 120)
        (wheel,) = await collect(display, 1, {"wheel"})
        # Playwright's wheel delta is in device pixels; the DOM (and rfb) report CSS pixels.
        assert wheel.event["dy"] == pytest.approx(120 / dpr) and wheel.event["dx"] == 0
        assert (wheel.event["x"], wheel.event["y"]) == (pytest.approx(320), pytest.approx(180))
        assert await page.evaluate("window.scrollY") == 0
        # a click in the letterbox bar is outside the frame
        display.poll_events()
        await mouse.click(400, 30)
        bar = (await collect(display, 1, {"pointer_down"}))[0].event
        assert bar["inside"] is False and bar["y"] == pytest.approx((30 - 75) / 1.25)
        # Shift+A
        display.poll_events()
        await page.keyboard.press("Shift+A")
        keys = await collect(display, 4, {"key_down", "key_up"})
        a_down = next(e.event for e in keys if e.type == "key_down" and e.event["key"] == "A")
        assert a_down["code"] == "KeyA" and a_down["modifiers"] == ["Shift"]
        assert keys[0].type == "key_down" and keys[0].event["key"] == "Shift"
        assert {e.client_id for e in keys} == {next(iter(display.stream.hub._viewers))}
    finally:
        await ctx.close()
        await stream.close()


async def test_resizing_the_page_sends_a_resize_event(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0))
    ctx, page = await open_page(browser, stream.display.url + "?nooverlay", width=800,
                                height=600, dpr=2)  # fmt: skip
    try:
        first = (await collect(stream.display, 1, {"resize"}))[0].event
        assert first == {"type": "resize", "width": 800, "height": 600, "pwidth": 1600,
                         "pheight": 1200, "ratio": 2.0}  # fmt: skip
        await page.set_viewport_size({"width": 1000, "height": 500})
        ev = (await collect(stream.display, 1, {"resize"}))[-1].event
        assert ev == {"type": "resize", "width": 1000, "height": 500, "pwidth": 2000,
                      "pheight": 1000, "ratio": 2.0}  # fmt: skip
        # still drawing, at the new backing size
        before = await frames_displayed(page)
        await wait_for(page, f"window.rfbView.stats.framesDisplayed > {before + 5}")
        assert (await capture(page)).shape == (1000, 2000, 4)
    finally:
        await ctx.close()
        await stream.close()


async def test_two_pages_watch_one_display(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0))
    ctx1, page1 = await open_page(browser, stream.display.url)
    ctx2, page2 = await open_page(browser, stream.display.url + "?imageOnly")
    try:
        assert stream.display.client_count == 2
        b1, b2 = await frames_displayed(page1), await frames_displayed(page2)
        await asyncio.sleep(1.0)
        assert await frames_displayed(page1) > b1 + 10
        assert await frames_displayed(page2) > b2 + 10
        assert (await page1.evaluate("window.rfbView.stats.viewers")) == 2
    finally:
        await ctx1.close()
        await ctx2.close()
        await stream.close()


async def test_page_recovers_when_the_server_restarts(browser) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stream = Stream(await rfb.serve(W, H, port=port))
    ctx, page = await open_page(browser, stream.display.url)
    try:
        await stream.close()
        await wait_for(page, "window.rfbView.state === 'closed'")
        await asyncio.sleep(1.0)  # down for a while: the page keeps retrying
        stream = Stream(await rfb.serve(W, H, port=port))
        await wait_for(page, "window.rfbView.state === 'negotiated'", timeout=20)
        before = await frames_displayed(page)
        await wait_for(page, f"window.rfbView.stats.framesDisplayed > {before + 10}", timeout=20)
        assert stream.display.client_count == 1
        assert (await page.evaluate("window.rfbView.stats.reconnects")) >= 1
    finally:
        await ctx.close()
        await stream.close()


async def test_worker_from_its_own_file_and_dispose(browser) -> None:
    """Sites whose CSP forbids blob: workers load static/rfb-worker.js instead."""
    stream = Stream(await rfb.serve(W, H, port=0))
    ctx, page = await open_page(browser, stream.display.url + "?worker=file&nooverlay")
    try:
        assert_test_card(quadrant_colours(await capture(page), 0, 0, W, H), 4)
        assert stream.display.client_count == 1
        await page.evaluate("window.rfbView.dispose()")
        assert await page.evaluate("window.rfbView.state") == "closed"
        async with asyncio.timeout(5):
            while stream.display.client_count:
                await asyncio.sleep(0.02)
    finally:
        await ctx.close()
        await stream.close()
