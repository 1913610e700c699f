"""Cross-site WebSocket hijacking, over real sockets: a page on another origin gets nothing
and drives nothing; limits refuse with a code and a count. (The policy sans I/O:
tests/unit/test_origins.py.)"""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest

import rfb
from rfb import client, protocol

KEY = {"type": "key_down", "key": "x", "code": "KeyX", "modifiers": [], "timestamp": 1.0}
HELLO = json.dumps({"type": "hello", "supported": [protocol.CAP_JPEG]})


async def _upgrade(display: rfb.Display, origin: str | None) -> tuple[int, list[str]]:
    """Open the WebSocket as a page on ``origin`` would; the HTTP status (101 when let
    in) and the text messages it got in the first moment."""
    headers = {} if origin is None else {"Origin": origin}
    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(display.ws_url, headers=headers) as ws:
                await ws.send_str(HELLO)
                await ws.send_str(json.dumps({"type": "event", "event": KEY}))
                texts: list[str] = []
                async with asyncio.timeout(5):
                    while not texts:
                        msg = await ws.receive()
                        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                            raise AssertionError(f"closed: {ws.close_code}")
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            texts.append(json.loads(msg.data)["type"])
                return 101, texts
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status, []


async def test_a_page_on_another_origin_is_refused_before_the_upgrade(serving) -> None:
    display, _ = await serving(64, 64)
    status, texts = await _upgrade(display, "http://evil.example")
    assert status == 403 and texts == []
    await asyncio.sleep(0.2)
    assert display.poll_events() == []  # its key_down never arrived
    assert display.client_count == 0
    # the server's own page, and clients that are not web pages, are let in
    own = f"http://127.0.0.1:{display.port}"
    assert (await _upgrade(display, own))[0] == 101
    assert (await _upgrade(display, None))[0] == 101
    got: list[rfb.InputEvent] = []
    async with asyncio.timeout(5):
        while len(got) < 2:
            got += display.poll_events()
            await asyncio.sleep(0.05)
    assert [g.event for g in got] == [KEY, KEY]  # theirs arrived


async def test_listed_origins_and_the_wildcard(serving, caplog) -> None:
    display, _ = await serving(64, 64, origins=["https://app.example"])
    assert (await _upgrade(display, "https://app.example"))[0] == 101
    assert (await _upgrade(display, "https://other.example"))[0] == 403
    with caplog.at_level(logging.WARNING, logger="rfb"):
        anyone, _ = await serving(64, 64, origins=["*"])
    assert "any web page" in caplog.text
    assert (await _upgrade(anyone, "https://other.example"))[0] == 101


async def test_whep_from_another_origin_is_refused_and_cors_names_the_allowed_one(
    serving,
) -> None:
    pytest.importorskip("aiortc")
    display, _ = await serving(64, 64, transport="webrtc", origins=["https://player.example"])
    offer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n"
    async with aiohttp.ClientSession() as http:
        headers = {"Content-Type": "application/sdp", "Origin": "http://evil.example"}
        async with http.post(display.url + "whep", data=offer, headers=headers) as r:
            assert r.status == 403
        assert not display.stream.webrtc.sessions
        async with http.options(
            display.url + "whep", headers={"Origin": "https://player.example"}
        ) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == "https://player.example"
            assert "Origin" in r.headers.getall("Vary")
        async with http.options(
            display.url + "whep", headers={"Origin": "http://evil.example"}
        ) as r:
            assert r.status == 403


async def test_limits_refuse_with_a_code_count_and_keep_serving_the_rest(serving) -> None:
    display, _ = await serving(64, 64, max_viewers=2, max_pending=2)
    async with client.connect(display.ws_url, [protocol.CAP_JPEG]) as a:
        await a.next_frame()
        async with aiohttp.ClientSession() as http:
            # two sockets that never say hello fill the pending slots; a third is refused
            idle = [await http.ws_connect(display.ws_url) for _ in range(2)]
            await asyncio.sleep(0.1)
            async with http.ws_connect(display.ws_url) as third:
                msg = await third.receive()
                assert msg.type == aiohttp.WSMsgType.CLOSE
                assert third.close_code == protocol.CLOSE_TRY_AGAIN_LATER
                assert "max_pending" in str(msg.extra)
            for ws in idle:
                await ws.close()
        await asyncio.sleep(0.1)
        async with client.connect(display.ws_url, [protocol.CAP_JPEG]) as b:
            await b.next_frame()
            async with client.connect(display.ws_url, [protocol.CAP_JPEG]) as c:
                code, reason = await c.wait_closed()
            assert code == protocol.CLOSE_TRY_AGAIN_LATER and "max_viewers=2" in reason
            for _ in range(3):
                await a.next_frame()  # the viewers already in keep receiving
                await b.next_frame()
    assert display.metrics()["display"]["refused"] == {"max_pending": 1, "max_viewers": 1}


async def test_whep_is_refused_when_the_server_is_full(serving) -> None:
    pytest.importorskip("aiortc")
    display, _ = await serving(64, 64, transport="webrtc", max_viewers=1)
    offer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n"
    async with client.connect(display.ws_url, [protocol.CAP_JPEG]) as v:
        await v.next_frame()
        async with aiohttp.ClientSession() as http, http.post(
            display.url + "whep", data=offer, headers={"Content-Type": "application/sdp"}
        ) as r:  # fmt: skip
            assert r.status == 429 and "max_viewers=1" in await r.text()
        await v.next_frame()
    assert not display.stream.webrtc.sessions
    assert display.metrics()["display"]["refused"] == {"max_viewers": 1}
