"""Encoder settings (rfb/encoders/base.py): x264's slice threads for a frame size and a
machine."""

from __future__ import annotations


def test_x264_slice_threads_follow_the_frame_size_and_the_cpus() -> None:
    from rfb.encoders.base import x264_threads

    assert x264_threads(1280, 720, 2) == 2  # this 2-core machine: measured best
    assert x264_threads(640, 480, 1) == 2
    assert x264_threads(1280, 720, 16) == 4  # on 16 cores (an H200 host): docs/internals/encoders.md
    assert x264_threads(1920, 1080, 16) == 8
    assert x264_threads(3840, 2160, 16) == 8  # 16 threads measured slower than 8 at 4K
    assert x264_threads(3840, 2160, 64) == 16
