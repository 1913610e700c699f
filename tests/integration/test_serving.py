"""Serving: /health, /metrics, /recorded-events and the demo page over HTTP; aclose() says
going away; async with and port 0; bad settings refused before serving."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
import pytest

import rfb
from rfb import client, encoders, protocol

H264 = [protocol.CAP_H264, protocol.CAP_JPEG, protocol.CAP_PNG]
JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]


async def test_health_metrics_and_demo_page(serving) -> None:
    display, _ = await serving(160, 120, record_events=True)
    async with client.connect(display.ws_url, H264) as v:
        for _ in range(3):
            await v.next_frame()
        await v.send_event({"type": "pointer_move", "x": 3, "y": 4})
        async with aiohttp.ClientSession() as http:
            async with http.get(display.url + "health") as r:
                assert r.status == 200 and await r.text() == "ok"
            async with http.get(display.url) as r:
                assert r.status == 200 and "text/html" in r.headers["Content-Type"]
            async with http.get(display.url + "metrics") as r:
                m = await r.json()
            (viewer,) = m["viewers"]
            assert viewer["codec"] == protocol.CAP_H264 and viewer["frames_sent"] >= 3
            assert viewer["frames_acked"] >= 2 and viewer["bytes_sent"] > 0
            (group,) = m["groups"]
            assert group["encoder"] == "x264" and group["frames_encoded"] >= 3
            assert group["keyframes"] >= 1 and group["encode_ms"] > 0
            async with asyncio.timeout(5):
                while True:
                    async with http.get(display.url + "recorded-events") as r:
                        rec = await r.json()
                    if rec:
                        break
                    await asyncio.sleep(0.02)
            assert rec[0]["event"] == {"type": "pointer_move", "x": 3, "y": 4}
            async with http.post(display.url + "recorded-events/reset") as r:
                assert r.status == 200
            async with http.get(display.url + "recorded-events") as r:
                assert await r.json() == []


async def test_aclose_closes_viewers_with_going_away() -> None:
    open_before = encoders.open_encoder_count()
    display = await rfb.serve(64, 64, port=0)
    display.publish(np.zeros((64, 64, 3), np.uint8))
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        _, (code, _) = await asyncio.gather(display.aclose(), v.wait_closed())
    assert code == 1001
    assert encoders.open_encoder_count() == open_before
    with pytest.raises(RuntimeError):
        display.publish(np.zeros((64, 64, 3), np.uint8))


async def test_async_with_and_port_zero() -> None:
    async with rfb.serve(32, 32, port=0) as display:
        assert display.port > 0 and display.url.endswith(f":{display.port}/")
        assert display.client_count == 0


async def test_serve_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="transport"):
        await rfb.serve(32, 32, port=0, transport="carrier-pigeon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"width must be 1\.\.16384, got 0"):
        await rfb.serve(0, 32, port=0)


async def test_demo_page_says_whether_whep_is_served(serving) -> None:
    pytest.importorskip("aiortc")
    plain, _ = await serving(64, 64)
    rtc, _ = await serving(64, 64, transport="webrtc")
    async with aiohttp.ClientSession() as http:
        async with http.get(plain.url) as r:
            assert '<meta name="rfb-webrtc" content="">' in await r.text()
        async with http.get(rtc.url) as r:
            assert '<meta name="rfb-webrtc" content="whep">' in await r.text()
