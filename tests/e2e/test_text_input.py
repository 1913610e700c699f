"""Text and double clicks from Chromium reach poll_events(), over the WebSocket and over
the WebRTC data channel: typed, IME-composed and pasted text as `char`, captured keys,
double_click in frame pixels."""

from __future__ import annotations

import asyncio

import pytest

import rfb
from rfb.signaling import IceConfig

from .conftest import wait_for
from .test_view import H, Stream, W, collect, open_page

pytestmark = pytest.mark.asyncio(loop_scope="module")

LOOPBACK = IceConfig(host_addresses=("127.0.0.1",), allowed_remote_networks=("127.0.0.0/8",))
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
