"""Quality ladders (rfb/session/ladder.py): video steps down bitrate, then size, then frame
rate; image ladders step quality and size; the options bound them."""

from __future__ import annotations

from rfb.encoders.base import EncoderSettings
from rfb.session import ladder as ladders

W, H = 1280, 720
TOP = EncoderSettings(fps=30, bitrate=0)  # 0: from size and fps, as serve() does


def test_video_ladder_steps_down_bitrate_then_size_then_frame_rate() -> None:
    lad = ladders.video_ladder(TOP, W, H)
    rates = [lad.bitrate(i, W, H) for i in range(len(lad))]
    sizes = [lad.coded_size(i, W, H) for i in range(len(lad))]
    fps = [r.fps for r in lad.rungs]
    assert len(lad) == ladders.DEFAULT_MAX_RUNGS
    assert rates == sorted(rates, reverse=True) and len(set(rates)) == len(rates)
    assert rates[0] == ladders.target_bitrate(TOP, W, H)  # the ceiling is the configured rate
    assert rates[-1] >= ladders.DEFAULT_MIN_BITRATE
    assert sizes[0] == (W, H) and sizes[-1] == (640, 360)
    assert [w for w, _ in sizes] == sorted((w for w, _ in sizes), reverse=True)
    assert all(w % 2 == 0 and h % 2 == 0 for w, h in sizes)  # H.264 wants even sides
    assert fps[0] == 30 and fps[-1] == 15 and fps == sorted(fps, reverse=True)
    # A ladder follows the stream when it is resized: rates scale with the pixels.
    assert lad.bitrate(0, 640, 360) < rates[0] / 3


def test_ladder_options() -> None:
    assert len(ladders.video_ladder(TOP, W, H, max_rungs=3)) == 3
    lad = ladders.video_ladder(TOP, W, H, min_bitrate=1_000_000)
    assert min(lad.bitrate(i, W, H) for i in range(len(lad))) >= 1_000_000
    png = ladders.image_ladder(TOP, lossless=True, max_rungs=8)
    assert {r.quality for r in png.rungs} == {TOP.quality}  # PNG: only the size steps
    assert [r.scale for r in png.rungs] == [1.0, 0.75, 0.5]
    jpeg = ladders.image_ladder(TOP, lossless=False, max_rungs=8)
    costs = [jpeg.relative_cost(i) for i in range(len(jpeg))]
    assert costs[0] == 1.0 and costs == sorted(costs, reverse=True)
    assert len(ladders.single(TOP, True)) == 1
