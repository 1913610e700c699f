"""Viewer (rfb/session/viewer.py): the credit window opens on long paths to keep the
frame rate, follows the least round trip and is capped."""

from __future__ import annotations

import math

from rfb.session import EncodedUnit, Viewer

H264 = "webcodecs/h264-annexb"
JPEG = "image/jpeg"


def unit_at(index: int, now: float) -> EncodedUnit:
    return EncodedUnit(index, b"x", index == 0, "c", 64, 48, index, 0, now, 1.0)


def run_path(v: Viewer, rtt: float, seconds: float, fps: float = 30.0) -> int:
    """Offer a unit every 1/fps; each sent unit is acked ``rtt`` later. Returns units sent."""
    now, index, sent = 0.0, 0, 0
    acks: list[tuple[float, int]] = []
    while now < seconds:
        for t, seq in [a for a in acks if a[0] <= now]:
            v.on_ack(seq, t)
            acks.remove((t, seq))
        seq = v.offer(unit_at(index, now), now)
        if seq is not None:
            sent += 1
            acks.append((now + rtt, seq))
        index += 1
        now += 1 / fps
    return sent


def test_window_opens_on_a_long_path_to_keep_the_frame_rate() -> None:
    # Images, so a skipped unit costs only itself (no wait for a keyframe).
    far = Viewer("far", JPEG, is_video=False, max_inflight=2, frame_rate=30)
    sent = run_path(far, rtt=0.1, seconds=4)
    assert far.credit_window == 4  # ceil(30 fps * 0.1 s) + 1
    assert sent >= 0.9 * 4 * 30  # every frame after the first round trip
    fixed = Viewer("fixed", JPEG, is_video=False, max_inflight=2)  # no frame rate: as before
    assert run_path(fixed, rtt=0.1, seconds=4) <= 0.6 * 4 * 30
    assert fixed.credit_window == 2


def test_window_follows_the_least_round_trip_and_is_capped() -> None:
    v = Viewer("v", H264, is_video=True, max_inflight=2, frame_rate=30)
    for i, rtt in enumerate([0.05, 0.4, 0.4, 0.4]):  # queued frames do not widen it
        v.offer(unit_at(i, i * 0.1), i * 0.1)
        v.on_ack(i, i * 0.1 + rtt)
    assert v.credit_window == math.ceil(30 * 0.05) + 1
    slow = Viewer("slow", H264, is_video=True, max_inflight=2, frame_rate=60)
    slow.offer(unit_at(0, 0.0), 0.0)
    slow.on_ack(0, 1.0)  # a 1 s path at 60 fps would need 61 frames
    assert slow.credit_window == 8
    # Ten seconds later the old samples are gone: a shorter path narrows it again.
    slow.offer(unit_at(1, 20.0), 20.0)
    slow.on_ack(1, 20.01)
    assert slow.credit_window == 2

