"""Publishing frames to viewers over a real WebSocket: a new shape resizes the stream (with
a keyframe), a newcomer to a static scene still gets a frame, publish() from another
thread, bad frames refused with the expected shape, copies unless told not to, and a
resting scene's high-quality still."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import numpy as np
import pytest

from rfb import client, patterns, protocol
from rfb.bench import psnr

H264 = [protocol.CAP_H264, protocol.CAP_JPEG, protocol.CAP_PNG]
JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]


async def test_resize_by_publishing_a_new_shape(serving) -> None:
    display, _ = await serving(160, 120, pattern=None)
    display.publish(patterns.test_card(160, 120, 0))
    async with client.connect(display.ws_url, H264) as v:
        f = await v.next_frame(decode=True)
        assert (f.header["width"], f.header["height"]) == (160, 120)
        display.publish(patterns.solid(256, 128, 0, (40, 40, 220)))
        for _ in range(20):
            f = await v.next_frame(decode=True)
            if f.header["width"] == 256:
                break
        assert (f.header["width"], f.header["height"]) == (256, 128) and f.keyframe
        assert f.pixels.shape == (128, 256, 3)
        assert np.abs(f.pixels[64, 128].astype(int) - (40, 40, 220)).max() <= 4
        assert (display.width, display.height) == (256, 128)


async def test_static_scene_newcomer_still_gets_a_frame(serving) -> None:
    display, _ = await serving(160, 120, pattern=None)
    display.publish(patterns.test_card(160, 120, 0))
    for caps in (H264, JPEG):
        async with client.connect(display.ws_url, caps) as v:
            f = await v.next_frame(decode=True)
            assert f.keyframe and f.pixels.shape == (120, 160, 3)


async def test_publish_from_another_thread(serving) -> None:
    display, _ = await serving(160, 120, pattern=None)
    done = threading.Event()

    def render_loop() -> None:
        for i in range(200):
            if done.is_set():
                return
            display.publish(patterns.test_card(160, 120, i))
            done.wait(1 / 60)

    t = threading.Thread(target=render_loop)
    t.start()
    try:
        async with client.connect(display.ws_url, JPEG) as v:
            frames = [await v.next_frame() for _ in range(10)]
    finally:
        done.set()
        await asyncio.to_thread(t.join)
    assert len({f.header["timestamp_us"] for f in frames}) == 10


async def test_publish_rejects_bad_frames_with_the_expected_shape(serving) -> None:
    display, _ = await serving(64, 64, pattern=None)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        display.publish(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W, 4\)"):
        display.publish(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        display.publish(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(TypeError, match="numpy"):
        display.publish([[0, 0, 0]])
    with pytest.raises(ValueError, match="C-contiguous"):
        display.publish(np.zeros((64, 64, 3), np.uint8)[:, ::2])
    display.publish(np.zeros((64, 64, 3), np.uint8))  # still fine afterwards


async def test_publish_copies_unless_told_not_to(serving) -> None:
    display, _ = await serving(64, 64, pattern=None)
    frame = patterns.solid(64, 64, 0, (0, 200, 0))
    display.publish(frame)
    frame[:] = 0  # the user reuses their buffer
    async with client.connect(display.ws_url, [protocol.CAP_PNG]) as v:
        f = await v.next_frame(decode=True)
    assert tuple(f.pixels[10, 10]) == (0, 200, 0)


@pytest.mark.parametrize("caps", [H264, JPEG], ids=["h264", "jpeg"])
async def test_resting_frame_comes_again_at_high_quality(serving, caps) -> None:
    """When the scene stops, the last frame is sent once more as a still: fine detail and
    text sharper than in the moving stream (IDR at CRF 18; JPEG q92 4:4:4). At 720p: the
    still's budget is two seconds of the rung's bitrate, which at 360p buys less on this
    scene."""
    w, h = 1280, 720
    display, _ = await serving(w, h, pattern=None, still_after=0.3)
    render = patterns.make("scene", w, h)
    sources = [render(i) for i in range(30)]
    got: list[tuple[float, np.ndarray]] = []
    stopped_at = 0.0

    async def publish() -> None:
        nonlocal stopped_at
        for img in sources:
            display.publish(img)
            await asyncio.sleep(1 / 30)
        stopped_at = time.monotonic()

    async with client.connect(display.ws_url, caps) as v:
        task = asyncio.create_task(publish())
        with contextlib.suppress(TimeoutError):
            while True:
                f = await v.next_frame(decode=True, timeout=1.5)
                got.append((f.received_at, f.pixels))
        await task
    moving = [p for t, p in got if t < stopped_at]
    later = [p for t, p in got if t >= stopped_at + 0.2]
    assert len(later) == 1, "exactly one still once the scene rests"
    still = later[0]
    # the still shows the resting frame, far closer to it than moving frames to theirs
    assert psnr(still, sources[-1]) == max(psnr(still, s) for s in sources)
    moving_psnr = sorted(max(psnr(p, s) for s in sources[-12:]) for p in moving[-10:])
    assert psnr(still, sources[-1]) > moving_psnr[len(moving_psnr) // 2] + 2.5, (
        psnr(still, sources[-1]), moving_psnr)
