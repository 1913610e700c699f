"""ULPFEC in RED (rfb/transports/ulpfec.py), sans I/O: any one lost packet of a group is
rebuilt bit for bit, FEC comes after its frame, and renumbering maps NACKs and RTX."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfb.transports import rtp_header, ulpfec

rtp = pytest.importorskip("aiortc.rtp", reason="needs aiortc: pip install 'rfb[webrtc]'")
from rtp_maps import ABS_SEND_TIME as ABS  # noqa: E402
from rtp_maps import chromium_extension_map  # noqa: E402

H264, RED, FEC = 102, 118, 120  # Chromium 156's payload types


def packet(seq: int, payload: bytes, marker: bool = False, ts: int = 9000, sent: int = 5) -> bytes:
    p = rtp.RtpPacket(payload_type=H264, sequence_number=seq & 0xFFFF, timestamp=ts,
                      ssrc=0xABCD, marker=int(marker))  # fmt: skip
    p.payload = payload
    p.extensions.mid = "0"
    p.extensions.abs_send_time = sent
    return bytes(p.serialize(chromium_extension_map()))


@given(
    payloads=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=16),
    first=st.integers(0, 65535),
    lost=st.integers(0, 15),
)
def test_any_one_lost_packet_is_rebuilt_exactly(payloads, first, lost) -> None:  # type: ignore[no-untyped-def]
    media = [packet(first + i, p, marker=i == len(payloads) - 1, ts=1000 * i)
             for i, p in enumerate(payloads)]  # fmt: skip
    fec = ulpfec.fec_payload(media)
    lost %= len(media)
    have = {(first + i) & 0xFFFF: m for i, m in enumerate(media) if i != lost}
    assert ulpfec.recover(fec, have, 0xABCD) == media[lost]
    assert ulpfec.recover(fec, {(first + i) & 0xFFFF: m for i, m in enumerate(media)}, 0xABCD) is None


def test_fec_follows_its_frame_and_renumbers_the_stream() -> None:
    enc = ulpfec.FecEncoder(RED, FEC, first_seq=65534, group=2, mutable_ids=frozenset({ABS}))
    frame = [packet(100 + i, bytes([i]) * 50, marker=i == 4, sent=i) for i in range(5)]
    out = [p for m in frame for p in enc.media(m)]
    parts = [ulpfec.split(p) for p in out]
    assert [p.pt for p in parts] == [RED] * 8  # 5 media, then 3 FEC (groups of 2, 2, 1)
    assert [p.payload[0] for p in parts] == [H264] * 5 + [FEC] * 3
    assert [p.seq for p in parts] == [65534, 65535, 0, 1, 2, 3, 4, 5]  # wraps
    assert not any(p.marker for p in parts[5:])
    # The RED media packet is the renumbered original, one byte in front of its payload.
    assert parts[0].payload[1:] == ulpfec.split(frame[0]).payload
    # NACKs name our numbers; aiortc's RTX names its own.
    assert enc.theirs(0) == 102 and enc.theirs(5) is None  # 5 is an FEC packet
    rtx = rtp.RtpPacket(payload_type=103, sequence_number=7, timestamp=0, ssrc=0x1111)
    rtx.payload = (102).to_bytes(2, "big") + b"media"
    renamed = enc.rtx(bytes(rtx.serialize()))
    assert renamed is not None and ulpfec.split(renamed).payload == (0).to_bytes(2, "big") + b"media"
    # What a receiver rebuilds (abs-send-time zeroed on both sides, as libwebrtc does).
    first_fec = parts[5].payload[1:]
    plain = {s: rtp_header.zero_extensions(ulpfec.with_seq(m, s), frozenset({ABS}))
             for s, m in zip((65534, 65535), frame[:2], strict=True)}  # fmt: skip
    rebuilt = ulpfec.recover(first_fec, {65535: plain[65535]}, 0xABCD)
    assert rebuilt == plain[65534]


def test_no_fec_packets_while_the_path_is_clean() -> None:
    enc = ulpfec.FecEncoder(RED, FEC, first_seq=0, group=0)
    out = [p for i in range(3) for p in enc.media(packet(i, b"x", marker=i == 2))]
    assert len(out) == 3 and enc.fec_sent == 0
    assert [ulpfec.group_for_loss(x) for x in (0.0, 0.009, 0.015, 0.03, 0.05, 0.3)] == [
        0, 0, 6, 4, 3, 2]  # fmt: skip


def test_zero_extensions_touches_only_the_named_values() -> None:
    p = packet(1, b"payload", sent=0xABCDEF)
    z = rtp_header.zero_extensions(p, frozenset({ABS}))
    back = rtp.RtpPacket.parse(z, chromium_extension_map())
    assert back.extensions.abs_send_time == 0 and back.extensions.mid == "0"
    assert back.payload == b"payload" and len(z) == len(p)
    assert rtp_header.zero_extensions(p, frozenset()) == p
