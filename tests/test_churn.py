"""Churn: hundreds of short-lived viewers must not crash, hang, leak or stall a watcher."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import aiohttp
import pytest

from rfb import client, encoders, protocol

H264 = [protocol.CAP_H264, protocol.CAP_JPEG]
W, H = 1280, 720


def counts() -> tuple[int, int, int]:
    return len(asyncio.all_tasks()), threading.active_count(), encoders.open_encoder_count()


async def settle(target: tuple[int, int, int], timeout: float = 10.0) -> tuple[int, int, int]:
    """Wait until the counts come back down to ``target`` (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    now = counts()
    while now != target and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        now = counts()
    return now


async def short_lived(url: str, rng: random.Random, caps: list[str]) -> None:
    async with client.connect(url, caps) as v:
        for _ in range(rng.choice((1, 2))):
            await v.next_frame(timeout=10)
        if rng.random() < 0.5:  # vanish without a close handshake
            v.ws._response.connection.transport.abort()


@pytest.mark.slow
async def test_churn_with_a_watcher(serving) -> None:
    display, _pub = await serving(W, H, pattern="bouncing_box", fps=30)
    base = await settle(counts(), 0)
    gaps: list[float] = []
    received = 0
    stop = asyncio.Event()

    async def watch() -> None:
        nonlocal received
        async with client.connect(display.ws_url, H264) as v:
            await v.next_frame(timeout=10)
            last = time.monotonic()
            while not stop.is_set():
                f = await v.next_frame(timeout=10)
                gaps.append(f.received_at - last)
                last = f.received_at
                received += 1

    watcher = asyncio.create_task(watch())
    async with asyncio.timeout(10):
        while received < 5:
            await asyncio.sleep(0.05)
    with_watcher = counts()
    rng = random.Random(1)
    total = 0
    async with asyncio.timeout(240):
        while total < 300:
            batch = [short_lived(display.ws_url, rng, H264) for _ in range(10)]
            await asyncio.gather(*batch)
            total += len(batch)
            assert not watcher.done(), "the watcher died during churn"
    async with asyncio.timeout(15):
        while display.client_count != 1:
            await asyncio.sleep(0.05)
    got = await settle(with_watcher)
    assert got == with_watcher, [t.get_coro() for t in asyncio.all_tasks()]
    frames_during = received
    stop.set()
    await watcher
    # The watcher kept receiving all along: no stall anywhere near a second.
    assert frames_during > 100
    assert max(gaps) < 1.0, f"watcher stalled for {max(gaps):.2f} s"
    async with asyncio.timeout(10):
        while display.client_count:
            await asyncio.sleep(0.05)
    got = await settle(base)
    assert got == base, [t.get_coro() for t in asyncio.all_tasks()]
    assert display.metrics()["groups"] == []


@pytest.mark.slow
async def test_churn_without_a_watcher_rebuilds_groups_safely(serving) -> None:
    """Each viewer creates and destroys the group (and its encoder) while frames flow."""
    display, _pub = await serving(W, H, pattern="bouncing_box", fps=30)
    base = counts()
    rng = random.Random(2)
    async with asyncio.timeout(240):
        for _ in range(40):
            await asyncio.gather(*(short_lived(display.ws_url, rng, H264) for _ in range(3)))
    async with asyncio.timeout(10):
        while display.client_count:
            await asyncio.sleep(0.05)
    assert await settle(base) == base
    # still serving
    async with client.connect(display.ws_url, H264) as v:
        f = await v.next_frame(decode=True, timeout=10)
        assert f.keyframe and f.pixels.shape == (H, W, 3)
    async with aiohttp.ClientSession() as http, http.get(display.url + "health") as r:
        assert await r.text() == "ok"
