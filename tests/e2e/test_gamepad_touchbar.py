"""Gamepads and the touch keyboard bar, from Chromium to poll_events(): a pad's connect, a
button press, an axis move and its disconnection arrive as `gamepad` events, one per
change (over the WebSocket and the WebRTC data channel); with touch emulation the bar's
Esc, and its sticky Ctrl with a "c" from the device's keyboard, arrive as key events.

Chromium has no virtual gamepad: an init script replaces ``navigator.getGamepads`` (the
browser boundary) with pads the test sets through ``window.__pads``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import rfb

from support.browser import H, Stream, W, collect, open_page, wait_for
from support.webrtc import LOOPBACK

pytestmark = pytest.mark.asyncio(loop_scope="module")

TRANSPORTS = {
    "websocket": ({}, "?nooverlay"),
    "webrtc": ({"transport": "webrtc", "ice": LOOPBACK}, "?transport=webrtc&nooverlay"),
}

# navigator.getGamepads() returns the pads the test sets: window.__pads.set(index, state)
# with state {buttons: [values], axes: [...]} (a standard 17-button pad by default), or
# null to unplug it. Gamepad objects are snapshots, as Chromium's are.
FAKE_GAMEPADS = """
(() => {
  const slots = [null, null, null, null];
  window.__pads = {
    reads: 0,
    set(index, state) {
      if (!state) { slots[index] = null; return; }
      const values = state.buttons ?? Array(17).fill(0);
      slots[index] = {
        index, id: state.id ?? "Fake Pad (STANDARD GAMEPAD Vendor: 045e Product: 028e)",
        mapping: "standard", connected: true, timestamp: performance.now(),
        buttons: values.map((v) => ({ pressed: v > 0.5, touched: v > 0, value: v })),
        axes: (state.axes ?? [0, 0, 0, 0]).slice(), vibrationActuator: null,
      };
    },
  };
  Object.defineProperty(Navigator.prototype, "getGamepads", {
    configurable: true,
    value() { window.__pads.reads++; return slots.map((p) => (p ? { ...p } : null)); },
  });
})();
"""


def buttons(*pressed: int, n: int = 17) -> list[float]:
    return [1.0 if i in pressed else 0.0 for i in range(n)]


async def pads(display: rfb.Display, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    return [e.event for e in await collect(display, n, {"gamepad"}, timeout)]


async def quiet(display: rfb.Display, seconds: float = 0.6) -> list[dict[str, Any]]:
    """The gamepad events that arrive in ``seconds`` (none, where nothing changed)."""
    await asyncio.sleep(seconds)
    return [e.event for e in display.poll_events() if e.type == "gamepad"]


async def set_pad(page: Any, index: int, state: dict[str, Any] | None) -> None:
    await page.evaluate("([i, s]) => window.__pads.set(i, s)", [index, state])


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_a_gamepad_arrives_as_gamepad_events_one_per_change(browser, transport) -> None:
    kwargs, query = TRANSPORTS[transport]
    stream = Stream(await rfb.serve(W, H, port=0, **kwargs))
    display = stream.display
    ctx = await browser.new_context(viewport={"width": 800, "height": 600},
                                    permissions=["camera", "microphone"])  # fmt: skip
    await ctx.add_init_script(FAKE_GAMEPADS)
    page = await ctx.new_page()
    try:
        await page.goto(display.url + query)
        await wait_for(page, f"window.rfbView?.stats?.transport === '{transport}'")
        await page.mouse.click(400, 300)  # the view has the keyboard: pads are read
        await asyncio.sleep(0.3)
        assert await quiet(display, 0.3) == []  # no pad: nothing

        # Plugged in: one connect event with the whole state.
        await set_pad(page, 0, {"buttons": buttons(), "axes": [0, 0, 0, 0]})
        (connect,) = await pads(display, 1)
        assert connect["connected"] is True and connect["index"] == 0
        assert connect["mapping"] == "standard" and connect["id"].startswith("Fake Pad")
        assert len(connect["buttons"]) == 17 and connect["axes"] == [0, 0, 0, 0]
        assert connect["buttons"][0] == {"pressed": False, "value": 0}
        assert await quiet(display) == []  # read every frame, sent only on change

        # A button press: one event, then nothing while it is held.
        await set_pad(page, 0, {"buttons": buttons(0), "axes": [0, 0, 0, 0]})
        (press,) = await pads(display, 1)
        assert press["buttons"][0] == {"pressed": True, "value": 1, "touched": True}
        assert [b["pressed"] for b in press["buttons"][1:]] == [False] * 16
        assert await quiet(display) == []

        # An axis move: one event; noise under the epsilon (0.02) sends nothing.
        await set_pad(page, 0, {"buttons": buttons(0), "axes": [0, -0.6, 0, 0]})
        (move,) = await pads(display, 1)
        assert move["axes"] == [0, -0.6, 0, 0] and move["buttons"][0]["pressed"] is True
        await set_pad(page, 0, {"buttons": buttons(0), "axes": [0.005, -0.61, 0, 0]})
        assert await quiet(display) == []

        # A second pad is its own; unplugging the first is one disconnect event.
        await set_pad(page, 1, {"id": "Second Pad", "buttons": buttons(3), "axes": [1, 0]})
        (second,) = await pads(display, 1)
        assert (second["index"], second["id"], second["axes"]) == (1, "Second Pad", [1, 0])
        await set_pad(page, 0, None)
        (gone,) = await pads(display, 1)
        assert (gone["index"], gone["connected"], gone["buttons"], gone["axes"]) == (
            0, False, [], [])  # fmt: skip
        assert await quiet(display) == []

        # The view loses the keyboard: its pads are let go (nothing stays held in the
        # application) and no longer read; it gets it back: they are connected again.
        await page.evaluate("document.activeElement.blur()")
        (released,) = await pads(display, 1)
        assert (released["index"], released["connected"]) == (1, False)
        await set_pad(page, 1, {"id": "Second Pad", "buttons": buttons(), "axes": [0, 0]})
        assert await quiet(display) == []
        await page.evaluate("window.rfbView.focus()")
        (back,) = await pads(display, 1)
        assert (back["index"], back["connected"], back["axes"]) == (1, True, [0, 0])
        # Every event the application got was within the protocol's bounds and timestamped.
        assert all(isinstance(e["timestamp"], float) for e in (connect, press, move, gone))
    finally:
        await ctx.close()
        await stream.close()


async def test_gamepad_false_reads_no_pads_and_a_view_only_viewer_sends_none(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0, token="drive", view_token="watch"))
    display = stream.display
    ctx = await browser.new_context(viewport={"width": 800, "height": 600})
    await ctx.add_init_script(FAKE_GAMEPADS)
    try:
        off = await ctx.new_page()
        await off.goto(display.url + "?nooverlay&gamepad=0&token=drive")
        watcher = await ctx.new_page()
        await watcher.goto(display.url + "?nooverlay&token=watch")
        for page in (off, watcher):
            await wait_for(page, "window.rfbView?.stats?.framesDisplayed > 3")
            await page.bring_to_front()
            await page.mouse.click(400, 300)
            await set_pad(page, 0, {"buttons": buttons(0)})
            await asyncio.sleep(0.6)
        assert await off.evaluate("window.__pads.reads") == 0  # never asked
        assert await watcher.evaluate("window.__pads.reads") > 0  # asked, sends nothing
        assert await quiet(display) == []
    finally:
        await ctx.close()
        await stream.close()


async def keys(display: rfb.Display, n: int) -> list[tuple[str, str, str, list[str]]]:
    evs = await collect(display, n, {"key_down", "key_up", "char"})
    return [(e.type, e.event.get("key", e.event.get("data")), e.event.get("code", ""),
             e.event.get("modifiers", [])) for e in evs]  # fmt: skip


async def test_the_touch_bar_sends_esc_and_a_sticky_ctrl_c(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0))
    display = stream.display
    # A phone: touch, a coarse pointer. contain: the 640x360 frame fills 400x225 at y=287.5.
    ctx, page = await open_page(browser, display.url + "?nooverlay", width=400, height=800,
                                has_touch=True, is_mobile=True)  # fmt: skip
    try:
        bar = page.locator(".rfb-keybar")
        await bar.wait_for()
        # The bar lies over the canvas's bottom edge, the width of the view; the canvas
        # keeps its size, so taps on the view still map to the same frame pixels.
        box = await bar.bounding_box()
        assert (
            box is not None and box["width"] == 400 and 800 - 60 < box["y"] + box["height"] <= 800
        )
        assert await page.evaluate("window.rfbView.keyboardBar.className") == "rfb-keybar"
        await page.tap("canvas", position={"x": 200, "y": 400})
        (down,) = await collect(display, 1, {"pointer_down"})
        assert (down.event["x"], down.event["y"]) == (pytest.approx(320), pytest.approx(180))
        # A tap on the view does not pop up the device's keyboard (the bar's button does).
        assert await page.evaluate("document.activeElement.inputMode") == "none"
        display.poll_events()

        # Esc: key_down and key_up, as a hardware keyboard sends them; the view keeps focus.
        await page.tap(".rfb-keybar button[data-key=Escape]")
        assert await keys(display, 2) == [("key_down", "Escape", "Escape", []),
                                          ("key_up", "Escape", "Escape", [])]  # fmt: skip
        assert await page.evaluate("document.activeElement.tagName") == "TEXTAREA"

        # Ctrl (sticky, shown pressed), then the device's keyboard types "c": Ctrl+C, no text.
        ctrl = page.locator(".rfb-keybar button[data-key=Control]")
        await ctrl.tap()
        assert await ctrl.get_attribute("aria-pressed") == "true"
        assert await ctrl.get_attribute("data-sticky") == "once"
        await page.tap(".rfb-keybar button[data-key=keyboard]")  # opens the device keyboard
        assert await page.evaluate("document.activeElement.inputMode") == "text"
        cdp = await ctx.new_cdp_session(page)
        await cdp.send("Input.insertText", {"text": "c"})  # what a virtual keyboard does
        assert await keys(display, 4) == [
            ("key_down", "Control", "ControlLeft", ["Control"]),
            ("key_down", "c", "KeyC", ["Control"]),
            ("key_up", "c", "KeyC", ["Control"]),
            ("key_up", "Control", "ControlLeft", []),
        ]
        assert await ctrl.get_attribute("data-sticky") == "off"  # used once, let go
        await asyncio.sleep(0.2)
        assert not [e for e in display.poll_events() if e.type == "char"]
        # With Ctrl let go, typing is text again.
        await cdp.send("Input.insertText", {"text": "c"})
        (char,) = await collect(display, 1, {"char"})
        assert char.event["data"] == "c"

        # Locked (two taps): Ctrl+F5 from the bar, a hardware Ctrl+Z too, then a third tap
        # lets go.
        display.poll_events()
        await ctrl.tap()
        await ctrl.tap()
        assert await ctrl.get_attribute("data-sticky") == "locked"
        await page.tap(".rfb-keybar button[data-key=F5]")
        await page.keyboard.press("z")
        await ctrl.tap()
        assert await keys(display, 6) == [
            ("key_down", "Control", "ControlLeft", ["Control"]),
            ("key_down", "F5", "F5", ["Control"]),
            ("key_up", "F5", "F5", ["Control"]),
            ("key_down", "z", "KeyZ", ["Control"]),
            ("key_up", "z", "KeyZ", ["Control"]),
            ("key_up", "Control", "ControlLeft", []),
        ]
        await asyncio.sleep(0.2)
        assert not [e for e in display.poll_events() if e.type == "char"]  # a shortcut types none
    finally:
        await ctx.close()
        await stream.close()


async def test_no_bar_with_a_mouse_and_the_option_forces_it(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0))
    display = stream.display
    ctx, page = await open_page(browser, display.url + "?nooverlay")
    try:
        assert await page.locator(".rfb-keybar").count() == 0
        assert await page.evaluate("window.rfbView.keyboardBar") is None
        await page.goto(display.url + "?nooverlay&keyboardBar=1")
        await wait_for(page, "window.rfbView?.stats?.framesDisplayed > 3")
        assert await page.locator(".rfb-keybar button").count() == 23  # 22 keys and the keyboard
        # A mouse click on a bar key sends it, and leaves the keyboard focus with the view.
        await page.mouse.click(400, 300)
        display.poll_events()
        await page.click(".rfb-keybar button[data-key=Tab]")
        assert await keys(display, 2) == [
            ("key_down", "Tab", "Tab", []),
            ("key_up", "Tab", "Tab", []),
        ]
        assert await page.evaluate("document.activeElement.tagName") == "TEXTAREA"
    finally:
        await ctx.close()
        await stream.close()
