"""The playout-delay RTP header extension rfb writes into its WebRTC packets: golden
bytes, and packets that aiortc (the reference parser here) still reads the same."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfb.options import StreamOptions
from rfb.rtp import header as rtp_header

rtp = pytest.importorskip("aiortc.rtp", reason="needs aiortc: pip install 'rfb[webrtc]'")
from support.rtp_maps import PLAYOUT_DELAY, chromium_extension_map  # noqa: E402


def test_playout_delay_golden_bytes() -> None:
    assert rtp_header.playout_delay_value(0, 0) == b"\x00\x00\x00"
    # 100 ms and 1000 ms: 10 and 100 units; the middle byte holds min's low nibble high.
    assert rtp_header.playout_delay_value(100, 1000) == bytes((0x00, 0xA0, 0x64))
    assert rtp_header.playout_delay_value(40950, 40950) == b"\xff\xff\xff"
    assert rtp_header.parse_playout_delay(bytes((0x00, 0xA0, 0x64))) == (100, 1000)
    for bad in ((-10, 0), (20, 10), (0, 40960)):
        with pytest.raises(ValueError, match="playout delay must be"):
            rtp_header.playout_delay_value(*bad)


def test_stream_option_is_validated() -> None:
    assert StreamOptions(width=64, height=48).playout_delay_ms == (0, 100)
    StreamOptions(width=64, height=48, playout_delay_ms=None)
    with pytest.raises(ValueError, match=r"playout_delay_ms must be \(min, max\)"):
        StreamOptions(width=64, height=48, playout_delay_ms=(100, 50))


def test_a_packet_without_extensions_gets_a_one_byte_block() -> None:
    packet = rtp.RtpPacket(payload_type=102, sequence_number=7, timestamp=90_000, ssrc=0x1234)
    packet.payload = b"\x65" + bytes(range(200))
    data = packet.serialize()
    out = rtp_header.with_header_extension(data, PLAYOUT_DELAY, b"\x00\x00\x00")
    assert out[0] & 0x10 and out[12:14] == b"\xbe\xde" and out[14:16] == b"\x00\x01"
    assert out[16:20] == bytes(((PLAYOUT_DELAY << 4) | 2, 0, 0, 0))
    assert out[20:] == packet.payload
    assert rtp_header.header_extensions(out) == {PLAYOUT_DELAY: b"\x00\x00\x00"}


@given(
    payload=st.binary(min_size=1, max_size=1200),
    csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=3),
    mid=st.one_of(st.none(), st.text("0123456789", min_size=1, max_size=3)),
    abs_send_time=st.one_of(st.none(), st.integers(0, 2**24 - 1)),
    delay=st.tuples(st.integers(0, 4095), st.integers(0, 4095)).map(sorted),
)
def test_aiortc_reads_everything_else_unchanged(payload, csrcs, mid, abs_send_time, delay) -> None:  # type: ignore[no-untyped-def]
    ext_map = chromium_extension_map()
    packet = rtp.RtpPacket(payload_type=102, sequence_number=65535, timestamp=2**32 - 1,
                           ssrc=0xDEADBEEF, marker=1)  # fmt: skip
    packet.csrc = csrcs
    packet.payload = payload
    packet.extensions.mid = mid
    packet.extensions.abs_send_time = abs_send_time
    data = packet.serialize(ext_map)
    value = rtp_header.playout_delay_value(delay[0] * 10, delay[1] * 10)
    out = rtp_header.with_header_extension(data, PLAYOUT_DELAY, value)
    back = rtp.RtpPacket.parse(out, ext_map)
    assert (back.payload, back.csrc, back.marker) == (payload, csrcs, 1)
    assert (back.sequence_number, back.timestamp, back.ssrc) == (65535, 2**32 - 1, 0xDEADBEEF)
    assert (back.extensions.mid, back.extensions.abs_send_time) == (mid, abs_send_time)
    found = rtp_header.header_extensions(out)
    assert rtp_header.parse_playout_delay(found[PLAYOUT_DELAY]) == (delay[0] * 10, delay[1] * 10)
    assert (len(out) - len(data)) % 4 == 0
    # Adding it again is a no-op: one element per id.
    assert rtp_header.with_header_extension(out, PLAYOUT_DELAY, value) == out


def test_packets_it_cannot_extend_are_left_as_they_are() -> None:
    base = bytes((0x80, 102)) + bytes(10)
    two_byte = bytes((0x90, 102)) + bytes(10) + b"\x10\x00\x00\x01" + b"\x01\x01\xaa\x00"
    truncated = bytes((0x90, 102)) + bytes(10) + b"\xbe\xde\x00\x09" + b"\x22\x00\x00\x00"
    for data in (two_byte, truncated, base[:11]):
        assert rtp_header.with_header_extension(data, PLAYOUT_DELAY, b"\x00\x00\x00") == data
    for ext_id, value in ((0, b"\x00"), (15, b"\x00"), (3, b""), (3, bytes(17))):
        assert rtp_header.with_header_extension(base, ext_id, value) == base
