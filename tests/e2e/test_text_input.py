"""Text and double clicks from Chromium reach poll_events(), over the WebSocket and over
the WebRTC data channel: typed, IME-composed and pasted text as `char`, captured keys,
double_click in frame pixels."""

from __future__ import annotations

import asyncio

import pytest

import rfb

from support.browser import H, Stream, W, collect, open_page, wait_for
from support.webrtc import LOOPBACK

pytestmark = pytest.mark.asyncio(loop_scope="module")

TRANSPORTS = {
    "websocket": ({}, "?nooverlay"),
    "webrtc": ({"transport": "webrtc", "ice": LOOPBACK}, "?transport=webrtc&nooverlay"),
}


async def chars(display: rfb.Display, text: str, timeout: float = 10.0) -> list[dict]:
    """The char events until their data adds up to ``text``."""
    got: list[dict] = []
    async with asyncio.timeout(timeout):
        while "".join(e["data"] for e in got) != text:
            got += [e.event for e in display.poll_events() if e.type == "char"]
            assert len("".join(e["data"] for e in got)) <= len(text), got
            await asyncio.sleep(0.02)
    return got


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_text_ime_paste_and_double_click_arrive(browser, transport: str) -> None:
    kwargs, query = TRANSPORTS[transport]
    stream = Stream(await rfb.serve(W, H, port=0, **kwargs))
    display = stream.display
    # contain: the 640x360 frame fills 800x450 at y=75 on an 800x600 page (scale 1.25)
    ctx, page = await open_page(browser, display.url + query, width=800, height=600)
    try:
        await wait_for(page, f"window.rfbView.stats?.transport === '{transport}'")
        await page.mouse.click(400, 300)  # gives the view the keyboard
        display.poll_events()

        # Typed text: a char per key, with key_down/key_up as before.
        await page.keyboard.type("hé!")
        typed = await chars(display, "hé!")
        assert [e["data"] for e in typed] == ["h", "é", "!"]

        # IME: composition updates send nothing; the committed text arrives once.
        cdp = await ctx.new_cdp_session(page)
        await cdp.send("Input.imeSetComposition", {"text": "にほ", "selectionStart": 2,
                                                   "selectionEnd": 2})  # fmt: skip
        await cdp.send("Input.imeSetComposition", {"text": "にほん", "selectionStart": 3,
                                                   "selectionEnd": 3})  # fmt: skip
        await asyncio.sleep(0.2)
        assert not [e for e in display.poll_events() if e.type == "char"]
        await cdp.send("Input.insertText", {"text": "日本"})
        (ime,) = await chars(display, "日本")
        assert ime["data"] == "日本"

        # Paste into the view: its text, in order, split where it is longer than one event
        # may carry (256 code points); emoji are never cut in half.
        pasted = "line one\nline two " + "😀" * 300
        await page.evaluate(
            """(text) => {
              const dt = new DataTransfer();
              dt.setData("text/plain", text);
              document.activeElement.dispatchEvent(
                new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
            }""",
            pasted,
        )
        parts = await chars(display, pasted)
        assert len(parts) == 2 and len(parts[0]["data"]) == 256

        # Tab stays with the stream: a key event, and the keyboard does not leave the view.
        display.poll_events()
        await page.keyboard.press("Tab")
        keys = await collect(display, 2, {"key_down", "key_up"})
        assert [e.event["key"] for e in keys] == ["Tab", "Tab"]
        assert await page.evaluate("document.activeElement.tagName") == "TEXTAREA"
        assert not [e for e in display.poll_events() if e.type == "char"]

        # Double click, in frame pixels, after its two clicks.
        display.poll_events()
        await page.mouse.dblclick(200, 200)
        (dbl,) = await collect(display, 1, {"double_click"})
        assert (dbl.event["x"], dbl.event["y"]) == (pytest.approx(160), pytest.approx(100))
        assert dbl.event["button"] == 1 and dbl.event["inside"] is True
    finally:
        await ctx.close()
        await stream.close()


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_two_fingers_are_two_pointers_and_a_pen_has_pressure(browser, transport) -> None:
    kwargs, query = TRANSPORTS[transport]
    stream = Stream(await rfb.serve(W, H, port=0, **kwargs))
    display = stream.display
    ctx, page = await open_page(browser, display.url + query, width=800, height=600,
                                has_touch=True)  # fmt: skip
    try:
        await wait_for(page, f"window.rfbView.stats?.transport === '{transport}'")
        cdp = await ctx.new_cdp_session(page)
        display.poll_events()
        # Two fingers down at (100, 200) and (300, 200) CSS px, spread apart, lifted.

        def touch(kind: str, points: list[tuple[float, float]]) -> dict:
            return {"type": kind, "touchPoints": [{"x": x, "y": y, "id": i, "force": 0.5}
                                                  for i, (x, y) in enumerate(points)]}  # fmt: skip
        await cdp.send("Input.dispatchTouchEvent", touch("touchStart", [(100, 200), (300, 200)]))
        for step in range(1, 6):
            await cdp.send("Input.dispatchTouchEvent",
                           touch("touchMove", [(100 - 10 * step, 200), (300 + 10 * step, 200)]))  # fmt: skip
            await asyncio.sleep(0.03)
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        evs: list = []
        async with asyncio.timeout(10):
            while sum(e.type in ("pointer_down", "pointer_up") for e in evs) < 4:
                evs += [e for e in display.poll_events() if e.type.startswith("pointer")]
                await asyncio.sleep(0.02)
        downs = [e.event for e in evs if e.type == "pointer_down"]
        moves = [e.event for e in evs if e.type == "pointer_move"]
        ups = [e.event for e in evs if e.type == "pointer_up"]
        assert len(downs) == 2 and len(ups) == 2
        assert {d["pointer_type"] for d in downs + moves + ups} == {"touch"}
        left, right = sorted(downs, key=lambda d: d["x"])
        assert left["pointer_id"] != right["pointer_id"]
        # contain: 640x360 in 800x450 at y=75, scale 1.25
        assert (left["x"], left["y"]) == (pytest.approx(80), pytest.approx(100))
        assert (right["x"], right["y"]) == (pytest.approx(240), pytest.approx(100))
        last = {m["pointer_id"]: m for m in moves}
        assert last[left["pointer_id"]]["x"] == pytest.approx((100 - 50) / 1.25)
        assert last[right["pointer_id"]]["x"] == pytest.approx((300 + 50) / 1.25)
        # The page neither scrolled nor zoomed under the fingers.
        assert await page.evaluate("[window.scrollX, window.scrollY, visualViewport.scale]") == [
            0, 0, 1]  # fmt: skip

        # A pen: pressure and tilt.
        display.poll_events()
        for kind, buttons in (("mousePressed", 1), ("mouseReleased", 0)):
            await cdp.send("Input.dispatchMouseEvent", {
                "type": kind, "x": 400, "y": 300, "button": "left", "buttons": buttons,
                "clickCount": 1, "pointerType": "pen", "force": 0.75, "tiltX": 20, "tiltY": -10})  # fmt: skip
        (pen,) = await collect(display, 1, {"pointer_down"})
        assert pen.event["pointer_type"] == "pen"
        assert pen.event["pressure"] == pytest.approx(0.75)
        assert (pen.event["tilt_x"], pen.event["tilt_y"]) == (20, -10)
        assert (pen.event["x"], pen.event["y"]) == (pytest.approx(320), pytest.approx(180))
    finally:
        await ctx.close()
        await stream.close()


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_messages_cursor_clipboard_and_pointer_lock(browser, transport) -> None:
    kwargs, query = TRANSPORTS[transport]
    stream = Stream(await rfb.serve(W, H, port=0, **kwargs))
    display = stream.display
    display.set_cursor("crosshair")  # before the viewer comes: it gets it on joining
    ctx, page = await open_page(browser, display.url + query, width=800, height=600,
                                permissions=("clipboard-read", "clipboard-write"))  # fmt: skip
    try:
        await wait_for(page, f"window.rfbView.stats?.transport === '{transport}'")
        await wait_for(page, "getComputedStyle(window.rfbView.canvas).cursor === 'crosshair'")
        # A message each way.
        await page.evaluate("() => { window.got = []; window.rfbView.onMessage((m) => { window.got.push(m); }); }")
        async with asyncio.timeout(10):
            while display.send({"hello": "viewer", "n": [1, 2]}) == 0:  # WebRTC: after its hello
                await asyncio.sleep(0.05)
        assert await wait_for(page, "window.got.length && window.got") == [
            {"hello": "viewer", "n": [1, 2]}]  # fmt: skip
        display.poll_events()
        await page.evaluate("window.rfbView.send({ slider: 0.25 })")
        (msg,) = await collect(display, 1, {"message"})
        assert msg.event["data"] == {"slider": 0.25}
        # An image cursor, with its hotspot and fallback.
        png = bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2217bc60000000049454e44ae426082"
        )
        display.set_cursor("pointer", image=png, hotspot=(0, 0))
        cursor = await wait_for(page, "(c => c.startsWith('url(') && c)"
                                      "(getComputedStyle(window.rfbView.canvas).cursor)")  # fmt: skip
        assert "data:image/png;base64," in cursor and cursor.endswith("pointer")
        # The clipboard: the app writes it, a paste reaches the app.
        await page.mouse.click(400, 300)  # focus: writing the clipboard needs it
        display.set_clipboard("from the app ✓")
        assert await wait_for(page, "navigator.clipboard.readText().then(t => "
                                    "t === 'from the app ✓' && t)") == "from the app ✓"  # fmt: skip
        display.poll_events()
        await page.evaluate(
            """() => {
              const dt = new DataTransfer();
              dt.setData("text/plain", "pasted in");
              document.activeElement.dispatchEvent(
                new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
            }"""
        )
        (paste,) = await collect(display, 1, {"clipboard"})
        assert paste.event["text"] == "pasted in"
        # Pointer lock: asked for by the app, taken at the next click; moves are relative.
        display.request_pointer_lock()
        await asyncio.sleep(0.3)
        await page.mouse.click(400, 300)
        await wait_for(page, "document.pointerLockElement === window.rfbView.canvas")
        display.poll_events()
        await page.mouse.move(430, 280, steps=3)
        evs: list = []
        async with asyncio.timeout(10):
            while sum(e.event.get("dx", 0) for e in evs) < 30:
                evs += [e for e in display.poll_events() if e.type == "pointer_move"]
                await asyncio.sleep(0.02)
        assert all(e.event["locked"] is True for e in evs)
        assert sum(e.event["dy"] for e in evs) == pytest.approx(-20)
        assert {(e.event["x"], e.event["y"]) for e in evs} == {(320.0, 180.0)}  # held still
        display.request_pointer_lock(False)
        await wait_for(page, "document.pointerLockElement === null")
    finally:
        await ctx.close()
        await stream.close()


async def test_demo_speed_slider_is_a_message_each_way(browser, tmp_path) -> None:
    """python -m rfb.server tells each page the pattern's speed; the page's slider sends a
    new one, and the server tells every page (here a second one) what it now is."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "rfb.server", "--port", str(port),
                             "--width", "320", "--height", "240"], stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    ctx = await browser.new_context(viewport={"width": 800, "height": 600})
    try:
        url = f"http://127.0.0.1:{port}/"
        pages = []
        for _ in range(2):
            page = await ctx.new_page()
            async with asyncio.timeout(20):
                while True:
                    try:
                        await page.goto(url)
                        break
                    except Exception:  # the server is still starting
                        await asyncio.sleep(0.2)
            await wait_for(page, "!document.getElementById('speed-row').hidden")
            pages.append(page)
        first, second = pages
        assert await first.evaluate("document.getElementById('speed').value") == "1"
        await first.evaluate("""() => { const s = document.getElementById('speed');
                                s.value = '2.5'; s.dispatchEvent(new Event('input')); }""")
        await wait_for(second, "document.getElementById('speed').value === '2.5'")
        text = await second.evaluate("document.getElementById('speed-value').textContent")
        assert text == "2.5\u00d7"  # 2.5x
    finally:
        await ctx.close()
        proc.terminate()
        proc.wait(10)
        log.close()
