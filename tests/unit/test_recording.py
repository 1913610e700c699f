"""Recordings (rfb/recording.py) sans I/O: the timeline places frames at their publish
times, and a recording shares the top rung's encoder unless asked otherwise. (Files
written and decoded back: tests/integration/test_recording.py.)"""

from __future__ import annotations

from rfb.encoders.base import EncoderSettings
from rfb.recording import CLOCK_HZ, Timeline, recording_settings


def test_timeline_places_frames_at_their_publish_times() -> None:
    t = Timeline(start=10.0)
    assert t.pts(1, published_at=9.0, now=10.0) == 0  # published before: starts the file
    assert t.pts(2, published_at=10.5, now=10.52) == CLOCK_HZ // 2
    assert t.pts(2, published_at=10.5, now=11.0) == CLOCK_HZ  # the same frame again: arrival
    assert t.pts(3, published_at=11.0, now=11.0) == CLOCK_HZ + 1  # strictly growing
    assert t.end(now=13.0, fps=30) == 3 * CLOCK_HZ
    assert t.end(now=11.0, fps=30) == CLOCK_HZ + 1 + CLOCK_HZ // 30  # at least one frame
    assert Timeline(0.0).end(now=5.0, fps=30) == 0


def test_recording_settings_share_the_top_rung_unless_asked_otherwise() -> None:
    top = EncoderSettings(bitrate=0, fps=30, preset="superfast")
    assert recording_settings(top, fps=None, bitrate=None, crf=None, preset=None) is None
    assert recording_settings(top, fps=30, bitrate=None, crf=None, preset="superfast") is None
    own = recording_settings(top, fps=None, bitrate=None, crf=18, preset=None)
    assert own is not None and own.crf == 18 and own.bitrate == 0
    own = recording_settings(top, fps=10, bitrate=1_000_000, crf=None, preset=None)
    assert own is not None and (own.fps, own.bitrate) == (10.0, 1_000_000)
