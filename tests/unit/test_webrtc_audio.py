"""The WebRTC audio track's timestamps, sans I/O (rfb/transports/audio_track.py): both
tracks on the stream's clock, and sender reports that map now to now."""

from __future__ import annotations

from rfb.transports.audio_track import (
    AudioRtpClock,
    rtp_ticks,
    sender_report_rtp,
    wire_origin,
)


def test_audio_rtp_timestamps_follow_timestamp_us_at_48k() -> None:
    c = AudioRtpClock()
    t0 = 1_234_567_890
    stamps = [c.stamp(t0 + 20_000 * i) for i in range(5)]
    assert stamps == [t0 * 48 // 1000 + 960 * i for i in range(5)]
    assert c.held == 0


def test_a_timeline_started_again_earlier_never_goes_backwards() -> None:
    c = AudioRtpClock()
    a = c.stamp(1_000_000)
    b = c.stamp(1_000_000 - 40_000)  # the stream's timeline started 40 ms earlier
    assert b == a + 960 and c.held == 1
    c.stamp(1_000_000 - 20_000)
    assert c.held == 2
    assert c.stamp(1_000_000 + 60_000) == 48_000 + 2880  # back on the clock
    assert c.held == 2


def test_audio_and_video_map_one_instant_to_one_instant() -> None:
    # A frame and a sound published at the same instant: their RTP timestamps, each with
    # its own origin, and each track's sender report of a later "now", put them at the
    # same NTP time.
    t_us, now_us = 5_000_000, 5_730_000
    v_origin, a_origin = 123_456_789, 4_000_000_000
    v_rtp = (v_origin + rtp_ticks(t_us, 90_000)) % 2**32
    a_rtp = (a_origin + AudioRtpClock().stamp(t_us)) % 2**32
    v_sr = sender_report_rtp(v_origin, now_us, 90_000)
    a_sr = sender_report_rtp(a_origin, now_us, 48_000)

    def age_s(sr: int, rtp: int, rate: int) -> float:  # how long before the report
        return ((sr - rtp) % 2**32) / rate

    assert abs(age_s(v_sr, v_rtp, 90_000) - 0.73) < 1e-4
    assert abs(age_s(a_sr, a_rtp, 48_000) - 0.73) < 1e-4


def test_wire_origin_wraps() -> None:
    assert wire_origin(5, 10) == 2**32 - 5
    assert (wire_origin(5, 10) + 10) % 2**32 == 5
    assert sender_report_rtp(2**32 - 10, 1_000_000, 48_000) == 48_000 - 10
