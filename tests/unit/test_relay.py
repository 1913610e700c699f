"""The relay's sans-I/O parts (rfb/relay.py): RTP URLs are checked; the rungs a
simulcast relay sends and the substreams a keyframe request is for. (The relay over
loopback UDP: tests/integration/test_relay.py and test_relay_simulcast.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from rfb.encoders.base import EncoderSettings
from rfb.relay import keyframes_asked, parse_rtp_url, simulcast_rungs, substream_rungs
from rfb.rtp import h264 as rtp_h264
from rfb.session.ladder import Ladder, video_ladder


def test_rtp_urls_are_checked() -> None:
    assert parse_rtp_url("rtp://127.0.0.1:5004") == ("127.0.0.1", 5004)
    assert parse_rtp_url("rtp://[::1]:6000") == ("::1", 6000)
    for bad in ("udp://127.0.0.1:5004", "rtp://127.0.0.1", "rtp://:5004", "rtp://h:99999"):
        with pytest.raises(ValueError, match=r"rtp://HOST:PORT"):
            parse_rtp_url(bad)


# -- simulcast: which rungs, which substreams a keyframe request is for ---------------------


def ladder_of(width: int, height: int, bitrate: int, **kw: Any) -> Ladder:
    return video_ladder(EncoderSettings(bitrate=bitrate, fps=30), width, height, **kw)


def test_simulcast_takes_the_top_the_lowest_full_rate_rung_and_one_between() -> None:
    lad = ladder_of(640, 360, 2_000_000)  # 7 rungs, 2 Mbit/s down to 250 kbit/s, all 30 fps
    assert len(lad) == 7 and all(r.fps == 30 for r in lad.rungs)
    assert simulcast_rungs(lad) == (0, 3, 6)
    assert simulcast_rungs(lad, 2) == (0, 6)
    assert simulcast_rungs(lad, 1) == (0,)
    # 720p from 1 Mbit/s: the bottom rungs halve the frame rate; those are left out.
    low = ladder_of(1280, 720, 1_000_000)
    floor = max(i for i, r in enumerate(low.rungs) if r.fps == 30)
    assert floor < len(low) - 1
    assert simulcast_rungs(low) == (0, round(floor / 2), floor)
    assert simulcast_rungs(ladder_of(640, 360, 2_000_000, max_rungs=1)) == (0,)
    with pytest.raises(ValueError):
        simulcast_rungs(lad, 0)


def test_substreams_go_lowest_quality_first_each_rung_once_held_to_the_ladder() -> None:
    assert substream_rungs((0, 2, 4), 7) == (4, 2, 0)
    assert substream_rungs((4, 0), 7) == (4, 0)
    assert substream_rungs((0, 5, 9), 3) == (2, 0)  # 5 and 9 are both the last rung
    assert substream_rungs((1,), 1) == (0,)
    for bad in ((), (0, -1)):
        with pytest.raises(ValueError):
            substream_rungs(bad, 7)


def test_a_keyframe_request_naming_the_first_substream_is_for_every_substream() -> None:
    # Janus names substream 0's SSRC whichever substream its watcher switches to.
    assert keyframes_asked([0], 3) == (0, 1, 2)
    assert keyframes_asked([0, 2], 3) == (0, 1, 2)
    # A receiver that names the one it means (mediasoup) gets that one.
    assert keyframes_asked([2], 3) == (2,)
    assert keyframes_asked([1, 1], 3) == (1,)
    assert keyframes_asked([], 3) == ()
    assert keyframes_asked([0], 1) == (0,)


def test_the_sdp_of_a_simulcast_relay_has_a_section_per_substream() -> None:
    sdp = rtp_h264.sdp("127.0.0.1", 5010, 96, ssrc=7) + rtp_h264.sdp_media(5012, 96, ssrc=8)
    assert sdp.count("m=video") == 2
    assert "m=video 5010 RTP/AVP 96\r\n" in sdp and "m=video 5012 RTP/AVP 96\r\n" in sdp
    assert "a=ssrc:7 cname:rfb\r\n" in sdp and "a=ssrc:8 cname:rfb\r\n" in sdp
    assert "a=ssrc" not in rtp_h264.sdp("127.0.0.1", 5004)  # one rung: as before
