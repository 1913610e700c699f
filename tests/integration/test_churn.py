"""Churn: hundreds of short-lived viewers must not crash, hang, leak or stall a watcher."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time

import aiohttp
import pytest

import rfb
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


def resources(display: rfb.Display) -> dict[str, int]:
    """What a leak would show in: tasks, threads, file descriptors, peer connections (on
    both sides: the test's own players live in this process too), encoder groups."""
    import gc

    from aiortc import RTCPeerConnection

    gc.collect()
    return {
        "tasks": len(asyncio.all_tasks()),
        # The loop's default executor (asyncio_N, for getaddrinfo) keeps idle workers.
        "threads": sum(not t.name.startswith("asyncio_") for t in threading.enumerate()),
        "fds": len(os.listdir("/proc/self/fd")),
        "peer_connections": sum(isinstance(o, RTCPeerConnection) for o in gc.get_objects()),
        "webrtc_sessions": len(display.stream.webrtc.sessions),
        "groups": len(display.stream.hub.groups),
        "encoders": encoders.open_encoder_count(),
        "viewers": display.client_count,
    }


def task_names() -> list[str]:
    from collections import Counter

    return sorted(Counter(getattr(t.get_coro(), "__qualname__", "?") for t in asyncio.all_tasks()).items())


async def settle_resources(
    display: rfb.Display, target: dict[str, int], timeout: float
) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    now = resources(display)
    while now != target and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        now = resources(display)
    return now


@pytest.mark.slow
async def test_500_mixed_websocket_and_whep_viewers_churn_while_two_watch(serving) -> None:
    pytest.importorskip("aiortc")
    from support.webrtc import LOOPBACK, whep

    # No stills: gc.collect() in resources() can hold the loop past still_after in a big
    # process, and the still's encoder (legitimate, kept while the size holds) would read
    # as a leak.
    display, _pub = await serving(320, 240, pattern="bouncing_box", fps=30, transport="webrtc",
                                  ice=LOOPBACK, max_webrtc_sessions=64,
                                  still_after=None)  # fmt: skip
    received = {"websocket": 0, "webrtc": 0}
    stop = asyncio.Event()

    async def watch_ws() -> None:
        async with client.connect(display.ws_url, H264) as v:
            while not stop.is_set():
                await v.next_frame(timeout=10)
                received["websocket"] += 1

    async def watch_rtc() -> None:
        async with whep(display) as v:
            while not stop.is_set():
                await v.frame(timeout=10)
                received["webrtc"] += 1

    base = await settle_resources(display, resources(display), 0)
    watchers = [asyncio.create_task(watch_ws()), asyncio.create_task(watch_rtc())]
    async with asyncio.timeout(20):
        while min(received.values()) < 5:
            await asyncio.sleep(0.05)
    with_watchers = resources(display)
    rng = random.Random(3)

    async def whep_viewer(kind: str) -> None:
        if kind == "never_connects":  # an offer, then DELETE before ICE completes
            async with whep(display):
                pass
            return
        async with whep(display, delete=kind != "abrupt") as v:
            await v.frame(timeout=20)

    kinds = ["abrupt"] * 4 + ["never_connects"] * 40 + ["full"] * 106  # 150 WHEP
    kinds += ["websocket"] * 350
    rng.shuffle(kinds)
    kinds.sort(key=lambda k: k != "abrupt")  # the abrupt ones first: they take ~30 s to expire
    total = 0
    seen_before = dict(received)
    async with asyncio.timeout(400):
        for i in range(0, len(kinds), 10):
            batch = [short_lived(display.ws_url, rng, H264) if k == "websocket"
                     else whep_viewer(k) for k in kinds[i : i + 10]]  # fmt: skip
            await asyncio.gather(*batch)
            total += len(batch)
            assert not any(w.done() for w in watchers), [w for w in watchers if w.done()]
    assert total == 500
    # Both watchers kept receiving all along.
    assert received["websocket"] > seen_before["websocket"] + 30
    assert received["webrtc"] > seen_before["webrtc"] + 30
    try:
        # Sessions that never said goodbye end when ICE consent fails (~30 s after their
        # last check); on 2 busy cores their closing can take a while longer.
        got = await settle_resources(display, with_watchers, 90)
        assert got == with_watchers, (got, with_watchers, task_names(), threading.enumerate())
        assert display.metrics()["display"]["refused"] == {}
    finally:  # a failure above must not leave the watchers to fail in the next test
        stop.set()
        await asyncio.gather(*watchers, return_exceptions=True)
    for w in watchers:
        assert w.exception() is None, w
    got = await settle_resources(display, base, 90)
    assert got == base, (got, base)
