"""Named streams on one port: each viewer gets its own stream, unknown names are refused,
streams come and go, and the same routes mounted under a prefix in an aiohttp app."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
import pytest
from aiohttp import web

import rfb
from rfb import client, encoders, patterns, protocol

from support.pixels import near
from support.servers import Publisher, publishing, running_app

JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]
CLICK = {"type": "pointer_down", "x": 10, "y": 20, "button": 1, "buttons": [1]}


async def test_two_streams_on_one_port_each_viewer_gets_its_own() -> None:
    async with rfb.serve_server(port=0) as server:
        cam = server.add_stream("cam", 320, 240)
        depth = server.add_stream("depth", 160, 96, force_image=True)
        assert server.streams == ["cam", "depth"] and server.stream("cam") is cam
        cam_pub = Publisher(cam, patterns.make("test_card", 320, 240), 30)
        depth_pub = Publisher(depth, lambda i: np.full((96, 160, 3), (0, 0, 200), np.uint8), 30)
        try:
            assert cam.ws_url == server.ws_url + "cam"
            async with client.connect(cam.ws_url, JPEG) as a, \
                    client.connect(depth.ws_url, JPEG) as b:  # fmt: skip
                fa = await a.next_frame(decode=True)
                fb = await b.next_frame(decode=True)
                assert (fa.header["width"], fa.header["height"]) == (320, 240)
                assert (fb.header["width"], fb.header["height"]) == (160, 96)
                # test_card's top-left quadrant against depth's flat blue
                assert any(near(fa.pixels[60, 80], c) for c in patterns.TEST_CARD_COLOURS)
                assert near(fb.pixels[48, 80], (0, 0, 200))
                await a.send_event(CLICK)
                async with asyncio.timeout(5):
                    while not (events := cam.poll_events()):
                        await asyncio.sleep(0.02)
                assert [e.event["type"] for e in events] == ["pointer_down"]
                assert depth.poll_events() == [], "input goes to the viewer's own stream only"
                assert (cam.client_count, depth.client_count) == (1, 1)
        finally:
            await cam_pub.stop()
            await depth_pub.stop()


async def test_unknown_stream_closes_4404_and_http_404() -> None:
    async with rfb.serve_server(port=0, streams=[{"name": "cam", "width": 64, "height": 64}]) as s:
        async with client.connect(s.ws_url + "nope", JPEG) as v:
            code, reason = await v.wait_closed()
        assert code == protocol.CLOSE_UNKNOWN_PATH == 4404 and "nope" in reason
        # no default stream: "/" is unknown too, for viewers
        async with client.connect(s.ws_url, JPEG) as v:
            assert (await v.wait_closed())[0] == 4404
        async with aiohttp.ClientSession() as http:
            async with http.get(s.url + "nope") as r:
                assert r.status == 404
            async with http.get(s.url + "?fit=cover", allow_redirects=False) as r:
                # no default stream: the root's page is the first stream's
                assert (r.status, r.headers["Location"]) == (302, "/cam/?fit=cover")
            async with http.post(s.url + "cam/whep", data="v=0",
                                 headers={"Content-Type": "application/sdp"}) as r:  # fmt: skip
                assert r.status == 404, "a WebSocket-only stream serves no WHEP"


async def test_stream_names_are_validated() -> None:
    async with rfb.serve_server(port=0) as server:
        for bad in ("", "a/b", "../x", "health", "streams", "whep", "static", "x" * 65, "-x",
                    "caf\u00e9", "a b"):  # fmt: skip
            with pytest.raises(ValueError, match="stream name"):
                server.add_stream(bad, 64, 64)
        server.add_stream("ok.name_1-2", 64, 64)
        with pytest.raises(ValueError, match="already exists"):
            server.add_stream("ok.name_1-2", 64, 64)
        with pytest.raises(ValueError, match=r"width must be 1\.\.16384, got 0"):
            server.add_stream("big", 0, 64)
        assert server.streams == ["ok.name_1-2"]


async def test_get_streams_lists_them_and_metrics_per_stream() -> None:
    async with rfb.serve_server(port=0) as server:
        a = server.add_stream("a", 320, 240, fps=24)
        server.add_stream("b", 64, 48)
        async with publishing(a), client.connect(a.ws_url, JPEG) as v:
            await v.next_frame()
            async with aiohttp.ClientSession() as http:
                async with http.get(server.url + "streams") as r:
                    listed = await r.json()
                assert [(s["name"], s["width"], s["height"], s["fps"], s["clients"])
                        for s in listed] == [("a", 320, 240, 24, 1), ("b", 64, 48, 30, 0)]  # fmt: skip
                for path in ("streams/a/metrics", "a/metrics"):
                    async with http.get(server.url + path) as r:
                        m = await r.json()
                    assert m["display"]["name"] == "a" and len(m["viewers"]) == 1
                async with http.get(server.url + "metrics") as r:
                    assert set((await r.json())["streams"]) == {"a", "b"}
                async with http.get(server.url + "metrics?format=prometheus") as r:
                    text = await r.text()
                assert 'rfb_viewers{stream="a",transport="websocket"} 1.0' in text
                assert 'rfb_viewers{stream="b",transport="websocket"} 0.0' in text


async def test_removing_a_stream_closes_its_viewers_and_leaves_the_others() -> None:
    base_encoders = encoders.open_encoder_count()
    async with rfb.serve_server(port=0) as server:
        keep = server.add_stream("keep", 128, 96)
        gone = server.add_stream("gone", 128, 96)
        async with publishing(keep, gone), client.connect(keep.ws_url, JPEG) as k, \
                client.connect(gone.ws_url, JPEG) as g:  # fmt: skip
            await k.next_frame()
            await g.next_frame()
            task = server.remove_stream("gone")
            assert task is not None
            code, _ = await g.wait_closed()
            await task
            assert code == protocol.CLOSE_GOING_AWAY and gone.closed
            assert server.streams == ["keep"] and server.remove_stream("gone") is None
            for _ in range(3):
                await k.next_frame()
            async with client.connect(server.ws_url + "gone", JPEG) as late:
                assert (await late.wait_closed())[0] == 4404
            with pytest.raises(RuntimeError, match="closed"):
                gone.publish(np.zeros((96, 128, 3), np.uint8))
            # the name is free again
            again = server.add_stream("gone", 64, 64)
            assert again is not gone and server.stream("gone") is again
    assert encoders.open_encoder_count() == base_encoders


async def test_per_stream_auth_is_independent() -> None:
    seen: list[rfb.AuthContext] = []

    def hook(ctx: rfb.AuthContext) -> str | None:
        seen.append(ctx)
        return "alice" if ctx.cookies and ctx.cookies.get("session") == "s1" else None

    async with rfb.serve_server(port=0) as server:
        open_ = server.add_stream("open", 64, 64)
        locked = server.add_stream("locked", 64, 64, token="secret")
        hooked = server.add_stream("hooked", 64, 64, authenticate=hook)
        async with publishing(open_, locked, hooked):
            async with client.connect(open_.ws_url, JPEG) as v:
                await v.next_frame()
            async with client.connect(locked.ws_url, JPEG) as v:
                assert (await v.wait_closed())[0] == protocol.CLOSE_UNAUTHORIZED
            async with client.connect(locked.ws_url, JPEG, token="secret") as v:
                await v.next_frame()
            async with client.connect(hooked.ws_url, JPEG, headers={"Cookie": "session=s1"}) as v:
                await v.next_frame()
                await v.send_event(CLICK)
                async with asyncio.timeout(5):
                    while not (events := hooked.poll_events()):
                        await asyncio.sleep(0.02)
                assert events[0].principal == "alice"
        assert [c.stream for c in seen] == ["hooked"] and seen[0].path == "/hooked"
        assert locked.stream.refused["unauthorized"] == 1 and not open_.stream.refused


async def test_serve_has_the_default_stream_at_root_and_by_name() -> None:
    async with rfb.serve(96, 64, port=0) as display, publishing(display):
        assert display.name == "default" and display.server.streams == ["default"]
        for url in (display.ws_url, display.ws_url + "default"):
            async with client.connect(url, JPEG) as v:
                f = await v.next_frame()
                assert f.header["width"] == 96
        # pdum.rfb's way to a second stream: display.server.add_stream(...)
        extra = display.server.add_stream("extra", 48, 32)
        async with publishing(extra), client.connect(extra.ws_url, JPEG) as v:
            assert (await v.next_frame()).header["width"] == 48
        await extra.aclose()  # removes only that stream
        assert display.server.streams == ["default"] and not display.closed


async def test_mounted_in_an_aiohttp_app_under_a_prefix() -> None:
    seen: list[rfb.AuthContext] = []

    def hook(ctx: rfb.AuthContext) -> str | None:
        seen.append(ctx)
        return ctx.cookies.get("user") if ctx.cookies else None

    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="the app's own route")

    app.router.add_get("/", hello)
    server = rfb.Server()
    cam = server.add_stream("cam", 160, 120, authenticate=hook)
    server.mount(app, "/rfb")
    async with running_app(app) as port:  # the app's cleanup closes the rfb server
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/") as r:
                assert await r.text() == "the app's own route"
            async with http.get(base + "/rfb/streams") as r:  # cam's hook refuses: not listed
                assert await r.json() == []
            async with http.get(base + "/rfb/streams", headers={"Cookie": "user=bob"}) as r:
                assert [s["name"] for s in await r.json()] == ["cam"]
            async with http.get(base + "/rfb/cam/") as r:
                page = await r.text()
            assert '<base href="/rfb/">' in page and '<meta name="rfb-stream" content="cam">' in page
            async with http.get(base + "/rfb/static/rfb.js") as r:
                assert r.status == 200
            async with http.get(base + "/rfb?x=1", allow_redirects=False) as r:
                assert (r.status, r.headers["Location"]) == (302, "/rfb/?x=1")
            async with http.get(base + "/rfb", headers={"Origin": "https://evil.example",
                                "Upgrade": "websocket", "Connection": "Upgrade"}) as r:  # fmt: skip
                assert r.status == 403, "the bare prefix is origin-checked too"
        async with publishing(cam):
            ws = f"ws://127.0.0.1:{port}/rfb/cam"
            async with client.connect(ws, JPEG, headers={"Cookie": "user=bob"}) as v:
                f = await v.next_frame(decode=True)
                assert f.pixels.shape == (120, 160, 3)
                await v.send_event(CLICK)
                async with asyncio.timeout(5):
                    while not (events := cam.poll_events()):
                        await asyncio.sleep(0.02)
                assert events[0].principal == "bob"
            async with client.connect(ws, JPEG) as v:  # no cookie: refused
                assert (await v.wait_closed())[0] == protocol.CLOSE_UNAUTHORIZED
            for missing in ("/rfb/other", "/rfb"):  # "/rfb": the default stream, absent here
                async with client.connect(f"ws://127.0.0.1:{port}{missing}", JPEG) as v:
                    assert (await v.wait_closed())[0] == 4404
        assert [(c.transport, c.path) for c in seen[:2]] == [("metrics", "/rfb/streams")] * 2
        assert seen[2].path == "/rfb/cam" and seen[2].stream == "cam"
    assert cam.closed and server.closed
