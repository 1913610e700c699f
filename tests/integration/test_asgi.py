"""rfb mounted in a FastAPI app under uvicorn: the app's own routes and cookies, and rfb's
streams at /rfb over WebSocket and WHEP, through the app's server."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

import rfb
from rfb import client, patterns, protocol

from support.pixels import near
from support.servers import publisher, publishing, running_uvicorn
from support.webrtc import LOOPBACK, whep

fastapi = pytest.importorskip("fastapi", reason="needs the dev extra: pip install -e '.[dev]'")

from support.apps import fastapi_app, session_user  # noqa: E402  (needs FastAPI)

JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]
CLICK = {"type": "pointer_down", "x": 10, "y": 20, "button": 1, "buttons": [1]}


async def test_fastapi_app_serves_its_routes_and_rfb_over_websocket() -> None:
    seen: list[rfb.AuthContext] = []

    def hook(ctx: rfb.AuthContext) -> str | None:
        seen.append(ctx)
        return session_user(ctx)

    server = rfb.Server()
    cam = server.add_stream("cam", 320, 240, authenticate=hook)
    depth = server.add_stream("depth", 160, 96, force_image=True)
    async with running_uvicorn(fastapi_app(server)) as port:
        base = f"http://127.0.0.1:{port}"
        assert cam.url == "http://127.0.0.1:8765/rfb/cam/"  # no port= given: the default
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/") as r:
                assert await r.json() == {"app": "the app's own route"}
            async with http.post(base + "/login/ada") as r:
                cookie = r.cookies["session"].value
            # cam's figures are for whom its hook admits (the app's session), depth's for all.
            session = {"Cookie": f"session={cookie}"}
            async with http.get(base + "/rfb/streams") as r:
                assert [s["name"] for s in await r.json()] == ["depth"]
            async with http.get(base + "/rfb/streams", headers=session) as r:
                assert [s["name"] for s in await r.json()] == ["cam", "depth"]
            async with http.get(base + "/rfb/cam/") as r:
                page = await r.text()
                assert r.headers["Content-Type"].startswith("text/html")
            assert '<base href="/rfb/">' in page and '<meta name="rfb-stream" content="cam">' in page
            async with http.get(base + "/rfb/static/rfb.js") as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript")
                etag = r.headers["ETag"]
            async with http.get(base + "/rfb/static/rfb.js", headers={"If-None-Match": etag}) as r:
                assert r.status == 304
            async with http.get(base + "/rfb/static/../asgi.py") as r:
                assert r.status == 404
            async with http.get(base + "/rfb/nope/") as r:
                assert r.status == 404
            async with http.get(base + "/rfb/cam/metrics") as r:
                assert r.status == 401 and r.headers["WWW-Authenticate"] == 'Bearer realm="rfb"'
            async with http.get(base + "/rfb/cam/metrics", headers=session) as r:
                assert (await r.json())["display"]["name"] == "cam"
            async with http.get(base + "/rfb/metrics?format=prometheus") as r:
                assert 'stream="depth"' in await r.text()
        async with publishing(cam, depth):
            ws = f"ws://127.0.0.1:{port}/rfb/cam"
            async with client.connect(ws, JPEG, headers={"Cookie": f"session={cookie}"}) as v, \
                    client.connect(f"ws://127.0.0.1:{port}/rfb/depth", JPEG) as d:  # fmt: skip
                f = await v.next_frame(decode=True)
                assert (f.header["width"], f.header["height"]) == (320, 240)
                assert any(near(f.pixels[60, 80], c) for c in patterns.TEST_CARD_COLOURS)
                assert (await d.next_frame(decode=True)).pixels.shape == (96, 160, 3)
                await v.send_event(CLICK)
                async with asyncio.timeout(5):
                    while not (events := cam.poll_events()):
                        await asyncio.sleep(0.02)
                assert events[0].principal == "ada"
                assert (events[0].event["x"], events[0].event["y"]) == (10, 20)
                assert depth.poll_events() == []
            async with client.connect(ws, JPEG) as v:  # no session cookie: refused
                assert (await v.wait_closed())[0] == protocol.CLOSE_UNAUTHORIZED
            async with client.connect(f"ws://127.0.0.1:{port}/rfb/other", JPEG) as v:
                assert (await v.wait_closed())[0] == protocol.CLOSE_UNKNOWN_PATH
            async with aiohttp.ClientSession() as http:
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(ws, headers={"Origin": "https://evil.example"})
                assert refused.value.status == 403
        # The figures asked the hook first (transport "metrics"), then the viewer did.
        assert [c.transport for c in seen[:3]] == ["metrics"] * 3
        ctx = next(c for c in seen if c.transport == "websocket")
        assert ctx.path == "/rfb/cam" and ctx.stream == "cam"
        assert ctx.headers is not None and ctx.headers.get("host") == f"127.0.0.1:{port}"
        assert ctx.remote is not None and ctx.remote[0] == "127.0.0.1"
        assert cam.stream.refused["origin"] == 1
    assert cam.closed and depth.closed and server.closed, "the app's shutdown closes rfb"


async def test_fastapi_app_serves_whep_with_the_apps_cookie() -> None:
    pytest.importorskip("aiortc", reason="WebRTC needs aiortc: pip install -e '.[dev]'")
    server = rfb.Server(ice=LOOPBACK)
    cam = server.add_stream("cam", 160, 120, transport="webrtc", authenticate=session_user)
    async with running_uvicorn(fastapi_app(server)) as port:
        page = f"http://127.0.0.1:{port}/rfb/cam/"
        offer = {"data": "v=0\r\n", "headers": {"Content-Type": "application/sdp"}}
        async with aiohttp.ClientSession() as http, http.post(page + "whep", **offer) as r:
            assert r.status == 401, "no session cookie: no WebRTC either"
        async with publisher(cam, (0, 200, 0)), \
                whep(page, headers={"Cookie": "session=signed-ada"}) as v:  # fmt: skip
            assert v.resource.startswith("/rfb/cam/whep/")
            f = await v.frame()
            assert f[60, 80, 1] > 150 > f[60, 80, 0]
            await v.config()  # the data channel works too
            assert len(cam.stream.webrtc.sessions) == 1
        async with asyncio.timeout(5):
            while cam.stream.webrtc.sessions:  # whep() DELETEs its resource through the app
                await asyncio.sleep(0.05)
    assert cam.closed


async def test_asgi_app_alone_is_the_whole_server() -> None:
    """Served directly by uvicorn (no framework): lifespan events reach rfb itself."""
    server = rfb.Server()
    cam = server.add_stream("default", 160, 120)
    async with running_uvicorn(server.asgi(port=0)) as port, publishing(cam):
        async with client.connect(f"ws://127.0.0.1:{port}/", JPEG) as v:
            f = await v.next_frame(decode=True)
            assert f.pixels.shape == (120, 160, 3)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/health") as r:
            assert await r.text() == "ok"
    assert server.closed


async def test_pdum_style_starlette_websocket_routes() -> None:
    """pdum.rfb's rfb_hub_endpoint / rfb_endpoint on routes the app chooses."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    from rfb.asgi import rfb_endpoint, rfb_hub_endpoint

    server = rfb.Server()
    cam = server.add_stream("cam", 160, 120)
    other = server.add_stream("other", 96, 64)
    app = Starlette(lifespan=server.lifespan, routes=[
        WebSocketRoute("/live/{stream}", rfb_hub_endpoint(server)),
        WebSocketRoute("/the-cam", rfb_endpoint(cam)),
    ])  # fmt: skip
    async with running_uvicorn(app) as port, publishing(cam, other):
        base = f"ws://127.0.0.1:{port}"
        for path, shape in (("/live/other", (64, 96, 3)), ("/the-cam", (120, 160, 3))):
            async with client.connect(base + path, JPEG) as v:
                assert (await v.next_frame(decode=True)).pixels.shape == shape
        async with client.connect(base + "/live/nope", JPEG) as v:
            assert (await v.wait_closed())[0] == protocol.CLOSE_UNKNOWN_PATH
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(base + "/the-cam", headers={"Origin": "https://evil.example"})
            assert refused.value.status == 403
    assert server.closed


