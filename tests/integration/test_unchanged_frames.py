"""A render loop that republishes an unchanged frame at 30 fps, watched over a real
WebSocket: the viewer gets the frame, then the resting scene's still within still_after
(plus a frame interval and the still's own encode), then nothing more; the group encodes
nothing further; the dropped frames are counted in the stream's metrics and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rfb import client, patterns, protocol
from rfb.bench import psnr

H264 = [protocol.CAP_H264, protocol.CAP_JPEG, protocol.CAP_PNG]
JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]
STILL_AFTER = 0.3
INTERVAL = 1 / 30
SLACK = 0.4  # the still's own encode and the trip to the viewer, on a slow shared machine


async def unchanged_total(url: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(
        url + "metrics", headers={"Accept": "text/plain;version=0.0.4"}
    ) as r:  # fmt: skip
        text = await r.text()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "rfb_frames_unchanged_total" or s.name == "rfb_frames_unchanged":
                return s.value
    raise AssertionError("no rfb_frames_unchanged in /metrics")


@pytest.mark.parametrize("caps", [H264, JPEG], ids=["h264", "jpeg"])
async def test_an_unchanged_frame_republished_rests_and_gets_its_still(serving, caps) -> None:
    w, h = 640, 480
    display, _ = await serving(w, h, pattern=None, still_after=STILL_AFTER)
    img = patterns.make("scene", w, h)(0)
    stop = asyncio.Event()
    first_at = 0.0

    async def render_loop() -> None:
        nonlocal first_at
        first_at = time.monotonic()
        while not stop.is_set():
            display.publish(img)  # a fresh copy each tick, as a render loop gives
            await asyncio.sleep(INTERVAL)

    got: list[tuple[float, bool, np.ndarray]] = []
    async with client.connect(display.ws_url, caps) as v:
        task = asyncio.create_task(render_loop())
        try:
            with contextlib.suppress(TimeoutError):
                while True:
                    f = await v.next_frame(decode=True, timeout=1.2)
                    got.append((f.received_at, f.keyframe, f.pixels))
            encoded = display.metrics()["groups"][0]["frames_encoded"]
            await asyncio.sleep(0.5)  # still republishing: the encoder does nothing
            group = display.metrics()["groups"][0]
        finally:
            stop.set()
            await task
    assert len(got) == 2, [round(t - first_at, 3) for t, _, _ in got]
    (_, first_key, first), (still_at, still_key, still) = got
    assert first_key and still_key
    assert still_at - first_at < STILL_AFTER + INTERVAL + SLACK, still_at - first_at
    assert psnr(still, img) >= psnr(first, img)  # the still is at least as close
    # the still: near-lossless for H.264 (this client does not ask for exact stills), exact
    # (the lossless PNG, made apart from the group's encodes) for an image viewer of PNG
    exact = caps == JPEG
    assert group["stills"] == (0 if exact else 1) and group["exact_stills"] == int(exact)
    assert group["frames_encoded"] == encoded == 2 - exact
    unchanged = display.metrics()["display"]["frames_unchanged"]
    published = display.metrics()["display"]["frames_published"]
    assert unchanged == published - 1 and unchanged >= 30
    assert await unchanged_total(display.url) == unchanged
