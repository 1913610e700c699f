"""Many viewers, one stream, in real Chromium: the control floor (control="exclusive") and
presence (who is watching, others' pointers), over the WebSocket and WebRTC's data channel."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import rfb

from support.browser import H, Stream, W, open_page, wait_for
from support.webrtc import LOOPBACK

pytestmark = pytest.mark.asyncio(loop_scope="module")

PEOPLE = {"alice": {"name": "Alice"}, "bob": {"name": "Bob"}}
SPOT = (480, 200)  # on the view, clear of the demo page's overlay (top left)


def hook(ctx: rfb.AuthContext) -> Any:
    if ctx.token == "vera":
        return rfb.ViewOnly({"name": "Vera"})
    return PEOPLE.get(ctx.token or "")


async def client_id(page: Any) -> str:
    return str(await wait_for(page, "window.rfbView.clientId"))


async def holder_is(page: Any, cid: str | None) -> None:
    want = "null" if cid is None else f"'{cid}'"
    await wait_for(page, f"window.rfbView.control && window.rfbView.control.holder === {want}")


async def clicks(display: rfb.Display, wait: float = 0.6) -> list[str]:
    """The client ids of the pointer_down events delivered in the next ``wait`` seconds."""
    await asyncio.sleep(wait)
    return [e.client_id for e in display.poll_events() if e.type == "pointer_down"]


async def test_only_the_holder_drives_and_a_request_is_granted_on_release(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0, control="exclusive", authenticate=hook))
    display = stream.display
    ctx_a, a = await open_page(browser, display.url + "?token=alice")
    ctx_b, b = await open_page(browser, display.url + "?token=bob")
    try:
        ida, idb = await client_id(a), await client_id(b)
        await holder_is(b, None)
        await a.evaluate("window.rfbView.requestControl()")
        await holder_is(a, ida)
        await holder_is(b, ida)
        assert display.control == ida
        # both pages show who holds it, in the demo page's overlay
        await wait_for(a, "document.getElementById('control').textContent === 'you'")
        await wait_for(b, "document.getElementById('control').textContent === 'Alice'")
        display.poll_events()
        dropped = display.metrics()["display"]["input_dropped"].get("control", 0)
        await a.mouse.click(*SPOT)
        await b.mouse.click(*SPOT)
        assert await clicks(display) == [ida]
        # b's page did not even send its click (the server would have dropped it)
        assert display.metrics()["display"]["input_dropped"].get("control", 0) == dropped
        await b.click("#control-button")  # request: a is active, so b waits in line
        await wait_for(b, f"window.rfbView.control.waiting.includes('{idb}')")
        await wait_for(b, "document.getElementById('control-button').textContent.startsWith('waiting')")
        await a.click("#control-button")  # release: the first in line gets it
        await holder_is(a, idb)
        await wait_for(a, "document.getElementById('control').textContent === 'Bob'")
        control = [e for e in display.poll_events() if e.type == "control"]
        assert [(e.event["holder"], e.event["reason"]) for e in control] == [(idb, "released")]
        assert control[0].principal == {"name": "Bob"}
        await b.mouse.click(*SPOT)
        await a.mouse.click(*SPOT)
        assert await clicks(display) == [idb]
        # The holder hands it on from the demo page's list of who is watching.
        await wait_for(a, f"!document.querySelector('#people li[data-client-id=\"{ida}\"] button')")
        button = f"#people li[data-client-id='{ida}'] button"
        await wait_for(b, f"document.querySelector(\"{button}\")?.textContent === 'hand over'")
        await b.click(button)
        await holder_is(a, ida)
        await wait_for(a, "document.getElementById('control').textContent === 'you'")
    finally:
        await ctx_a.close()
        await ctx_b.close()
        await stream.close()


async def test_an_idle_holder_loses_the_floor_and_the_app_gives_and_takes_it(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0, control="exclusive", control_idle_s=1.0,
                                    authenticate=hook))  # fmt: skip
    display = stream.display
    ctx_a, a = await open_page(browser, display.url + "?token=alice&nooverlay")
    ctx_b, b = await open_page(browser, display.url + "?token=bob&nooverlay")
    try:
        ida, idb = await client_id(a), await client_id(b)
        await a.evaluate("window.rfbView.requestControl()")
        await holder_is(b, ida)
        await b.evaluate("window.rfbView.requestControl()")  # waits: a got it just now
        await holder_is(a, idb)  # a sent nothing for a second: b gets it
        assert display.control == idb
        display.give_control(ida)
        await holder_is(b, ida)
        await holder_is(a, ida)
        display.take_control()
        await wait_for(b, "window.rfbView.control.app === true")
        events = [(e.event["holder"], e.event["app"], e.event["reason"])
                  for e in display.poll_events() if e.type == "control"]  # fmt: skip
        assert events == [(ida, False, "request"), (idb, False, "idle"), (ida, False, "app"),
                          (None, True, "app")]  # fmt: skip
        await a.mouse.click(*SPOT)
        assert await clicks(display, 0.4) == []  # the application holds it
        # the view's own badge, over the canvas and not on it
        text = await a.evaluate("document.querySelector('.rfb-control-holder').textContent")
        assert text == "The application has control"
    finally:
        await ctx_a.close()
        await ctx_b.close()
        await stream.close()


async def test_a_view_only_page_can_never_hold_the_floor(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0, control="exclusive", control_on_click=True,
                                    authenticate=hook))  # fmt: skip
    display = stream.display
    ctx_v, v = await open_page(browser, display.url + "?token=vera")
    try:
        idv = await client_id(v)
        await v.mouse.click(*SPOT)  # a first click takes a free floor, but not for it
        await v.evaluate("window.rfbView.requestControl()")
        await wait_for(v, "window.rfbView.control.refused === 'view_only'")
        await wait_for(v, "document.getElementById('control-button').hidden")
        with pytest.raises(ValueError, match="view-only"):
            display.give_control(idv)
        assert display.control is None and await clicks(display, 0.3) == []
        (me,) = display.viewers
        assert (me["role"], me["control"], me["name"]) == ("view", False, "Vera")
        # a driver's first click does take it
        ctx_a, a = await open_page(browser, display.url + "?token=alice")
        try:
            ida = await client_id(a)
            await a.mouse.click(*SPOT)
            await holder_is(v, ida)
            assert await clicks(display, 0.3) == [ida]
        finally:
            await ctx_a.close()
        assert display.metrics()["display"]["control"]["refused"] == {"view_only": 1}
    finally:
        await ctx_v.close()
        await stream.close()


async def test_a_pages_pointer_is_a_labelled_cursor_on_the_other_page(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0, presence=True, authenticate=hook))
    display = stream.display
    ctx_a, a = await open_page(browser, display.url + "?token=alice")
    ctx_b, b = await open_page(browser, display.url + "?token=bob")
    try:
        ida, idb = await client_id(a), await client_id(b)
        listed = {(v["client_id"], v["name"], v["transport"], v["role"], v["control"])
                  for v in display.viewers}  # fmt: skip
        assert listed == {(ida, "Alice", "websocket", "drive", True),
                          (idb, "Bob", "websocket", "drive", True)}  # fmt: skip
        assert {v["client_id"]: v["principal"] for v in display.viewers} == {
            ida: {"name": "Alice"}, idb: {"name": "Bob"}}  # fmt: skip
        await wait_for(b, "document.querySelectorAll('#people li').length === 2")
        await a.mouse.move(*SPOT)
        await a.mouse.move(SPOT[0] + 20, SPOT[1] + 10, steps=5)
        cursor = f".rfb-presence-cursor[data-client-id='{ida}']"
        await wait_for(b, f"document.querySelector(\"{cursor}\")?.style.display === 'block'")
        label = await b.evaluate(f"document.querySelector(\"{cursor}\").textContent")
        assert label == "Alice"
        # where a's pointer is (the views are the frame's size: one CSS pixel, one pixel)
        await wait_for(b, f"document.querySelector(\"{cursor}\").style.transform"
                          f" === 'translate({SPOT[0] + 20}px, {SPOT[1] + 10}px)'")  # fmt: skip
        assert await a.evaluate("document.querySelectorAll('.rfb-presence-cursor').length") == 0
        # the cursor is an element beside the canvas, not drawn on it
        assert await b.evaluate(f"document.querySelector(\"{cursor}\").closest('canvas')") is None
        await ctx_a.close()  # a leaves: its cursor goes
        await wait_for(b, f"document.querySelector(\"{cursor}\") === null")
        assert [v["client_id"] for v in display.viewers] == [idb]
        assert display.metrics()["display"]["presence"]["pointer_messages"] >= 1
    finally:
        await ctx_a.close()
        await ctx_b.close()
        await stream.close()


async def test_over_webrtc_the_floor_and_pointers_ride_the_data_channel(browser) -> None:
    stream = Stream(await rfb.serve(W, H, port=0, transport="webrtc", ice=LOOPBACK,
                                    control="exclusive", presence=True, authenticate=hook))  # fmt: skip
    display = stream.display
    query = "?transport=webrtc&token="
    ctx_a, a = await open_page(browser, display.url + query + "alice")
    ctx_b, b = await open_page(browser, display.url + query + "bob")
    try:
        await wait_for(a, "window.rfbView.stats?.transport === 'webrtc'")
        await wait_for(b, "window.rfbView.stats?.transport === 'webrtc'")
        ida, idb = await client_id(a), await client_id(b)
        await a.evaluate("window.rfbView.requestControl()")
        await holder_is(b, ida)
        await wait_for(b, "document.getElementById('control').textContent === 'Alice'")
        display.poll_events()
        await b.mouse.click(*SPOT)
        await a.mouse.click(*SPOT)
        assert await clicks(display) == [ida]
        assert {v["transport"] for v in display.viewers} == {"webrtc"}
        await b.mouse.move(*SPOT)
        await b.mouse.move(SPOT[0] - 30, SPOT[1], steps=3)
        cursor = f".rfb-presence-cursor[data-client-id='{idb}']"
        await wait_for(a, f"document.querySelector(\"{cursor}\")?.textContent === 'Bob'")
        # the application hands it on, and the WebRTC pages hear of it
        display.give_control(idb)
        await holder_is(a, idb)
    finally:
        await ctx_a.close()
        await ctx_b.close()
        await stream.close()
