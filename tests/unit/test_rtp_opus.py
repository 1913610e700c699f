"""rfb/rtp/opus.py: Opus packets as RTP (RFC 7587), sans I/O."""

from __future__ import annotations

import pytest

from rfb.rtp import opus as rtp_opus


def test_a_packet_is_the_opus_bytes_behind_a_plain_rtp_header() -> None:
    p = rtp_opus.OpusPacketizer(0x12345678, first_seq=65535)
    a = p.packetize(b"\xf8opus", 2**32 - 960)
    b = p.packetize(b"\xf8more", 0)  # the timestamp wraps: still continuous
    c = p.packetize(b"\xf8late", 960 * 5)  # after a pause: a new talkspurt
    assert a[:2] == b"\x80\xef" and b[1] == 111 and c[1] == 0x80 | 111  # V=2; marker; PT 111
    assert rtp_opus.depacketize(a) == (111, 65535, 2**32 - 960, 0x12345678, b"\xf8opus")
    assert rtp_opus.depacketize(b)[1:3] == (0, 0)
    assert (p.packets, p.octets) == (3, 15)


def test_the_sdp_section_and_bad_input() -> None:
    assert rtp_opus.sdp_media(5006) == ("m=audio 5006 RTP/AVP 111\r\n"
                                        "a=rtpmap:111 opus/48000/2\r\na=recvonly\r\n")  # fmt: skip
    with pytest.raises(ValueError, match=r"0\.\.127"):
        rtp_opus.OpusPacketizer(1, pt=128)
    with pytest.raises(ValueError, match="not an RTP"):
        rtp_opus.depacketize(b"\x00" * 12)
