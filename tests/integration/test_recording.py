"""display.record(): MP4 files of what is published, decoded back with PyAV."""

from __future__ import annotations

import asyncio
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import rfb
from rfb import client, encoders, patterns, protocol
from rfb.server import Server

W, H = 320, 240
H264 = [protocol.CAP_H264, protocol.CAP_JPEG]
# Quadrant centres of test_card, and how far a decoded colour may be from the published.
PROBES = ((W // 4, H // 4), (3 * W // 4, H // 4), (W // 4, 3 * H // 4), (3 * W // 4, 3 * H // 4))
COLOUR_TOLERANCE = 6


def decode(path: Path) -> tuple[list[av.VideoFrame], Fraction, av.video.stream.VideoStream]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return frames, stream.time_base, stream


def rgb(frame: av.VideoFrame) -> np.ndarray:
    return frame.reformat(format="rgb24", src_colorspace="ITU601",
                          src_color_range="MPEG").to_ndarray()  # fmt: skip


def assert_test_card(frame: av.VideoFrame, i: int) -> None:
    got, want = rgb(frame), patterns.test_card(W, H, i)
    for x, y in PROBES:
        assert np.abs(got[y, x].astype(int) - want[y, x]).max() <= COLOUR_TOLERANCE, (i, x, y)


async def publish_sparse(display: rfb.Display, gaps: list[float], first: int = 0) -> list[float]:
    """test_card frame first + i, then a pause of gaps[i]; returns each publish time."""
    times = []
    for i, gap in enumerate(gaps):
        times.append(display.clock())
        display.publish(patterns.test_card(W, H, first + i))
        await asyncio.sleep(gap)
    return times


async def test_headless_sparse_recording_keeps_frames_colours_and_real_durations(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sparse.mp4"
    gaps = [0.1, 0.25, 0.6, 0.1, 0.4]
    async with await rfb.serve(W, H, port=0) as display:
        rec = display.record(path)
        assert display.client_count == 0 and display.recordings == [rec]
        times = await publish_sparse(display, gaps)
        stopped_at = display.clock()
        await rec.stop()
        assert display.recordings == [] and encoders.open_encoder_count() == 0
    assert rec.frames_written == len(gaps) and rec.frames_skipped == 0
    frames, tb, stream = decode(path)
    assert len(frames) == len(gaps)
    assert (stream.width, stream.height) == (W, H) and stream.codec_context.name == "h264"
    for i, f in enumerate(frames):
        assert (f.width, f.height) == (W, H)
        assert_test_card(f, i)
    starts = [float(f.pts * tb) for f in frames]
    durations = [float(f.duration * tb) for f in frames]
    # Each frame lasts until the next was published, the last until stop().
    want = [b - a for a, b in zip(times, [*times[1:], stopped_at], strict=True)]
    assert durations == pytest.approx(want, abs=0.01)
    assert [s - starts[0] for s in starts] == pytest.approx(
        [t - times[0] for t in times], abs=0.005
    )


async def test_recording_reuses_the_viewers_encoder(tmp_path: Path) -> None:
    path = tmp_path / "shared.mp4"
    async with (
        await rfb.serve(W, H, port=0, still_after=None) as display,
        client.connect(display.ws_url, H264) as viewer,
    ):
        display.publish(patterns.test_card(W, H, 0))
        first = await viewer.next_frame(decode=True)
        assert first.header["codec"].startswith("avc1")
        assert encoders.open_encoder_count() == 1
        rec = display.record(path)
        assert rec.shared_encoder  # it starts from the IDR the viewer started from
        await publish_sparse(display, [0.1] * 5, first=1)
        assert encoders.open_encoder_count() == 1  # no second encode
        assert display.client_count == 1  # a recording is not a viewer
        assert len(display.metrics()["groups"]) == 1
        await rec.stop()
        for _ in range(20):  # the viewer got the same frames, up to the last
            got = await viewer.next_frame(decode=True)
            assert got.pixels is not None
            last = patterns.test_card(W, H, 5)[H // 4, W // 4]
            if np.abs(got.pixels[H // 4, W // 4].astype(int) - last).max() < 8:
                break
        else:
            raise AssertionError("the viewer never showed the last frame")
    frames, _, _ = decode(path)
    assert len(frames) == 5 + 1  # and frame 0, the IDR it joined on
    for i, f in enumerate(frames):
        assert_test_card(f, i)


async def test_recording_with_its_own_settings_runs_its_own_encoder(tmp_path: Path) -> None:
    path = tmp_path / "crf.mp4"
    async with (
        await rfb.serve(W, H, port=0) as display,
        client.connect(display.ws_url, H264) as viewer,
    ):
        display.publish(patterns.test_card(W, H, 0))
        await viewer.next_frame()
        rec = display.record(path, crf=20, preset="ultrafast")
        assert not rec.shared_encoder
        await publish_sparse(display, [0.1, 0.1, 0.1])
        assert encoders.open_encoder_count() == 2
        await rec.stop()
        assert encoders.open_encoder_count() == 1  # the viewer's goes on
        display.publish(patterns.test_card(W, H, 3))
        assert (await viewer.next_frame()).payload
    frames, _, _ = decode(path)
    assert [f.width for f in frames] == [W] * 3
    for i, f in enumerate(frames):
        assert_test_card(f, i)


async def test_closing_the_display_finishes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "aclose.mp4"
    display = await rfb.serve(W, H, port=0)
    rec = display.record(path)
    await publish_sparse(display, [0.1, 0.1])
    await display.aclose()
    assert not rec.recording
    frames, _, _ = decode(path)
    assert len(frames) == 2


async def test_a_resize_leaves_the_other_size_out_and_the_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "resize.mp4"
    async with await rfb.serve(W, H, port=0) as display:
        rec = display.record(path)
        await publish_sparse(display, [0.1, 0.1])
        display.publish(patterns.test_card(2 * W, 2 * H, 0))
        await asyncio.sleep(0.2)
        await rec.stop()
    assert rec.frames_written == 2 and rec.frames_skipped >= 1
    frames, _, _ = decode(path)
    assert [(f.width, f.height) for f in frames] == [(W, H)] * 2


async def test_nothing_published_leaves_no_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    async with await rfb.serve(W, H, port=0) as display:
        rec = display.record(path)
        await rec.stop()
    assert rec.frames_written == 0 and not path.exists()


@pytest.mark.parametrize(
    ("name", "options", "error", "words"),
    [
        ("missing/out.mp4", {}, FileNotFoundError, "does not exist"),
        ("out.avi", {}, ValueError, "should end in .mp4"),
        ("adir.mp4", {}, IsADirectoryError, "is a directory"),
        ("out.mp4", {"bitrate": 2_000_000, "crf": 20}, ValueError, "not both"),
        ("out.mp4", {"crf": 60}, ValueError, "0..51"),
        ("out.mp4", {"preset": "placebo"}, ValueError, "preset must be one of"),
    ],
)
async def test_a_bad_path_or_option_raises_before_anything_starts(
    tmp_path: Path, name: str, options: dict[str, object], error: type[Exception], words: str
) -> None:
    (tmp_path / "adir.mp4").mkdir()
    async with await rfb.serve(W, H, port=0) as display:
        with pytest.raises(error, match=words):
            display.record(tmp_path / name, **options)  # type: ignore[arg-type]
        assert display.recordings == [] and encoders.open_encoder_count() == 0
        display.publish(patterns.test_card(W, H, 0))  # the stream is untouched
    assert sorted(os.listdir(tmp_path)) == ["adir.mp4"]


async def test_record_before_serving_says_so(tmp_path: Path) -> None:
    display = Server(host="127.0.0.1", port=0).add_stream("cam", W, H)
    with pytest.raises(RuntimeError, match="start its server first"):
        display.record(tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_from_another_thread_after_serve_in_thread(tmp_path: Path) -> None:
    path = tmp_path / "thread.mp4"
    display = rfb.serve_in_thread(W, H, port=0)
    try:
        with display.record(path) as rec:
            for i in range(3):
                display.publish(patterns.test_card(W, H, i))
                import time

                time.sleep(0.1)
        assert not rec.recording and rec.frames_written == 3
    finally:
        display.close()
    frames, _, _ = decode(path)
    assert len(frames) == 3
    assert_test_card(frames[2], 2)


