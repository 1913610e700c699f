"""Named streams in Chromium: each stream's demo page shows that stream and lists the
others, and pdum.rfb 0.3's own browser client watches a named stream of rfb."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import rfb
from rfb import patterns

from support.browser import Stream, capture, open_page, wait_for
from support.pixels import assert_test_card, quadrant_colours

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Solid(Stream):
    def __init__(self, display: rfb.Display, rgb: tuple[int, int, int]) -> None:
        frame = np.full((display.height, display.width, 3), rgb, np.uint8)
        self.display = display
        self.render = lambda i: frame
        self.i = 0
        self.task = asyncio.create_task(self._run(30))


async def test_each_stream_page_shows_its_stream_and_switches_to_others(browser) -> None:
    async with rfb.serve_server(port=0) as server:
        card = Stream(server.add_stream("card", 640, 360))
        red = Solid(server.add_stream("red", 320, 240), (220, 30, 30))
        ctx, page = await open_page(browser, card.display.url + "?imageOnly")
        try:
            img = await capture(page)
            assert_test_card(quadrant_colours(img, 0, 0, img.shape[1], img.shape[0]), tol=8)
            options = await page.evaluate(
                "[...document.querySelectorAll('#stream-select option')].map(o => o.value)"
            )
            assert options == ["card", "red"]
            assert await page.evaluate("document.querySelector('#stream-select').value") == "card"
            # switch streams from the page: it navigates to red's page, which shows red
            await page.select_option("#stream-select", "red")
            await page.wait_for_url("**/red/?imageOnly")
            await wait_for(page, "window.rfbView?.stats?.framesDisplayed > 3")
            img = await capture(page)
            h, w = img.shape[:2]
            assert np.abs(img[h // 2, w // 2, :3].astype(int) - (220, 30, 30)).max() <= 8
            assert red.display.client_count == 1
        finally:
            await ctx.close()
            card.task.cancel()
            red.task.cancel()


PDUM_PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<style>html,body{margin:0;height:100%} #el{width:640px;height:360px}</style></head>
<body><div id="el"></div><script type="module">
  // A stand-in for anywidget's model: pdum.rfb's widget reads its traits from it.
  const traits = {stream: "card", host: "127.0.0.1", port: PORT, height: 360,
                  show_toolbar: false, show_stats: false};
  const handlers = {};
  const model = {
    get: (k) => traits[k],
    set: (k, v) => { traits[k] = v; },
    save_changes: () => {},
    on: (name, fn) => { (handlers[name] ??= []).push(fn); },
    off: () => {},
    send: () => {},
  };
  window.pdumTraits = traits;
  const widget = (await import("./pdum-widget.js")).default;
  widget.render({model, el: document.getElementById("el")});
</script></body></html>
"""


async def test_pdum_rfb_browser_client_watches_a_named_stream(browser) -> None:
    """pdum.rfb 0.3.0's widget.js, from its PyPI wheel, connects to ws://host:port/card
    as it does to pdum.rfb's own server, and draws rfb's test card. Its page comes from
    another loopback port (as a notebook's would), which the server's origins let in."""
    from io import BytesIO

    from aiohttp import web
    from PIL import Image

    from support import pdum_client

    widget = pdum_client.widget_js()
    rfb_port: list[int] = []  # known once the rfb server listens

    async def index(request: web.Request) -> web.Response:
        html = PDUM_PAGE.replace("PORT", str(rfb_port[0]))
        return web.Response(text=html, content_type="text/html")

    async def widget_js(request: web.Request) -> web.Response:
        return web.Response(text=widget, content_type="text/javascript")

    pages = web.Application()
    pages.router.add_get("/index.html", index)
    pages.router.add_get("/pdum-widget.js", widget_js)
    runner = web.AppRunner(pages)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    page_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    page_origin = f"http://127.0.0.1:{page_port}"
    try:
        async with rfb.serve_server(port=0, origins=[page_origin]) as server:
            card = Stream(server.add_stream("card", 640, 360))
            other = Solid(server.add_stream("other", 320, 240), (0, 0, 220))
            rfb_port.append(server.port)
            ctx = await browser.new_context(viewport={"width": 640, "height": 360})
            page = await ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            try:
                await page.goto(f"{page_origin}/index.html")
                await wait_for(page, "window.pdumTraits.stats?.framesDisplayed > 3", timeout=20)
                assert card.display.client_count == 1 and other.display.client_count == 0
                shot = await page.locator("#el").screenshot()
                img = np.asarray(Image.open(BytesIO(shot)).convert("RGB"))
                h, w = img.shape[:2]
                ref = patterns.TEST_CARD_COLOURS
                # each quadrant's centre shows one of the card's four colours
                for c in quadrant_colours(img, 0, 0, w, h):
                    err = min(max(abs(a - b) for a, b in zip(c, r, strict=True)) for r in ref)
                    assert err <= 12, (c, ref)
                assert not errors, errors
            finally:
                await ctx.close()
                card.task.cancel()
                other.task.cancel()
    finally:
        await runner.cleanup()


async def test_chromium_watches_a_stream_mounted_in_fastapi(browser) -> None:
    """The demo page and the client through a FastAPI app under uvicorn, at /rfb/cam/:
    H.264 over the app's WebSocket, then WebRTC through the app's WHEP, with input."""
    pytest.importorskip("fastapi", reason="needs the dev extra: pip install -e '.[dev]'")
    from support.apps import fastapi_app
    from support.browser import collect
    from support.servers import running_uvicorn
    from support.webrtc import LOOPBACK

    server = rfb.Server(ice=LOOPBACK)
    cam = server.add_stream("cam", 640, 360, transport="webrtc")
    async with running_uvicorn(fastapi_app(server)) as port:
        card = Stream(cam)  # publishing starts with the app (its lifespan binds rfb)
        url = f"http://127.0.0.1:{port}/rfb/cam/"
        try:
            for transport in ("websocket", "webrtc"):
                ctx, page = await open_page(browser, f"{url}?transport={transport}&nooverlay")
                try:
                    stats = await wait_for(page, f"window.rfbView.stats?.transport === "
                                                 f"'{transport}' && window.rfbView.stats")  # fmt: skip
                    if transport == "websocket":
                        assert stats["codec"].startswith("avc1"), stats
                    img = await capture(page)
                    assert_test_card(quadrant_colours(img, 0, 0, img.shape[1], img.shape[0]), 8)
                    card.display.poll_events()
                    await page.mouse.click(320, 180)
                    (down,) = await collect(card.display, 1, {"pointer_down"})
                    assert (down.event["x"], down.event["y"]) == (pytest.approx(320, abs=1),
                                                                  pytest.approx(180, abs=1))  # fmt: skip
                finally:
                    await ctx.close()
        finally:
            card.task.cancel()
    assert server.closed
