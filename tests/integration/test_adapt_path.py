"""Adaptation over a real rate-limited path: a loopback proxy that passes 0.8 Mbit/s."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rfb import client, protocol

from support.throttle_proxy import ThrottleProxy

W, H = 1280, 720


async def until(v: client.Viewer, cond: Any, timeout: float) -> client.ReceivedFrame:
    """Read frames until cond(frame, latest stats) holds."""
    async with asyncio.timeout(timeout):
        while True:
            f = await v.next_frame(timeout=10)
            if cond(f, v.stats[-1] if v.stats else {}):
                return f


@pytest.mark.slow
async def test_viewer_behind_a_bottleneck_moves_down_then_back_up(serving) -> None:
    display, _pub = await serving(W, H, pattern="scene", fps=30)
    proxy = ThrottleProxy(("127.0.0.1", display.port), 0.8e6)
    await proxy.start()
    try:
        url = f"ws://127.0.0.1:{proxy.port}/"
        async with client.connect(url, [protocol.CAP_H264], scaled_frames=True) as v:
            first = await v.next_frame(decode=True, timeout=10)
            assert first.keyframe and first.pixels is not None
            # Behind the bottleneck: a rung that fits 0.8 Mbit/s, coded smaller...
            low = await until(v, lambda f, s: s.get("target_bitrate", 1e9) <= 0.8e6
                              and s.get("target_rung") is None, timeout=30)  # fmt: skip
            scaled = await until(v, lambda f, s: f.keyframe and "frame_width" in f.header, 30)
            pixels = v.decode(scaled)
            assert pixels is not None
            # ...and still about the published frame: the header says its size.
            assert (scaled.header["frame_width"], scaled.header["frame_height"]) == (W, H)
            assert pixels.shape[:2] == (scaled.header["height"], scaled.header["width"])
            assert pixels.shape[1] < W
            assert low.seq > first.seq
            # The bottleneck lifts: back on the top rung, full size.
            proxy.rate_bps = None
            top = await until(v, lambda f, s: s.get("rung") == 0 and f.keyframe, timeout=30)
            assert "frame_width" not in top.header and top.header["width"] == W
            # the lower rung's group closed once nobody was on it
            assert [g["rung"] for g in display.metrics()["groups"]] == [0]
    finally:
        await proxy.aclose()
