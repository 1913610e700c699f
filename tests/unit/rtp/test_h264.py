"""H.264 over RTP (rfb/rtp/h264.py), sans I/O: access units become RFC 6184 packets
(single, STAP-A, FU-A) and back, and RTCP feedback is read (malformed RTCP ignored)."""

from __future__ import annotations

import struct

from rfb.encoders.h264 import iter_nals
from rfb.rtp import h264 as rtp_h264


def depacketize(packets: list[bytes]) -> list[bytes]:
    """NAL units back from RFC 6184 packets (single, STAP-A, FU-A)."""
    out: list[bytes] = []
    fu = bytearray()
    for p in packets:
        payload = p[12:]
        kind = payload[0] & 0x1F
        if kind == 24:
            at = 1
            while at < len(payload):
                (n,) = struct.unpack_from("!H", payload, at)
                out.append(payload[at + 2 : at + 2 + n])
                at += 2 + n
        elif kind == 28:
            if payload[1] & 0x80:
                fu = bytearray(((payload[0] & 0xE0) | (payload[1] & 0x1F),))
            fu += payload[2:]
            if payload[1] & 0x40:
                out.append(bytes(fu))
        else:
            out.append(payload)
    return out


def test_access_units_become_rfc6184_packets_and_back() -> None:
    sps, pps, sei = b"\x67" + b"\x42" * 12, b"\x68" + b"\xce" * 4, b"\x06" + b"\x05" * 20
    idr = b"\x65" + bytes(range(256)) * 20  # 5 kB: FU-A
    unit = b"".join(b"\x00\x00\x00\x01" + n for n in (sps, pps, sei)) + b"\x00\x00\x01" + idr
    assert list(iter_nals(unit)) == [sps, pps, sei, idr]
    p = rtp_h264.H264Packetizer(ssrc=0x1234, pt=96, mtu=1200, first_seq=65534)
    packets = p.packetize(unit, 90_000)
    assert all(len(x) <= 1200 for x in packets)
    assert packets[0][12] & 0x1F == 24  # SPS, PPS and SEI share one STAP-A
    assert [x[12] & 0x1F for x in packets[1:]] == [28] * (len(packets) - 1)
    assert depacketize(packets) == [sps, pps, sei, idr]
    seqs = [struct.unpack_from("!H", x, 2)[0] for x in packets]
    assert seqs[:3] == [65534, 65535, 0]  # wraps
    assert [bool(x[1] & 0x80) for x in packets] == [False] * (len(packets) - 1) + [True]
    assert {struct.unpack_from("!II", x, 4) for x in packets} == {(90_000, 0x1234)}
    assert {x[1] & 0x7F for x in packets} == {96}
    # A small delta frame is one packet.
    (one,) = p.packetize(b"\x00\x00\x00\x01\x41\x9a" + b"\x01" * 50, 93_000)
    assert one[12:] == b"\x41\x9a" + b"\x01" * 50 and one[1] & 0x80


def test_rtcp_feedback_is_read_and_malformed_rtcp_ignored() -> None:
    ours = 0xCAFE
    pli = struct.pack("!BBHII", 0x81, 206, 2, 1, ours)
    fir = struct.pack("!BBHIIIB3x", 0x84, 206, 4, 1, 0, ours, 7)
    rr = struct.pack("!BBHI", 0x81, 201, 7, 99) + struct.pack("!IB3xIIII", ours, 64, 0, 0, 0, 0)
    assert rtp_h264.feedback(pli, ours).keyframe
    assert not rtp_h264.feedback(struct.pack("!BBHII", 0x81, 206, 2, 1, 0xBEEF), ours).keyframe
    assert rtp_h264.feedback(fir, ours).keyframe
    got = rtp_h264.feedback(rr + pli, ours)  # compound
    assert got.report and got.keyframe and got.loss == 0.25
    for junk in (b"", b"\x00" * 3, b"\xff" * 40, pli[:7], struct.pack("!BBH", 0x81, 206, 200)):
        assert rtp_h264.feedback(junk, ours) == rtp_h264.Feedback()
    sr = rtp_h264.sender_report(ours, 1_700_000_000.5, 1234, 10, 5000)
    assert len(sr) == 28 and sr[1] == 200
    assert struct.unpack_from("!IIIIII", sr, 4) == (ours, 1_700_000_000 + 2_208_988_800,
                                                    2**31, 1234, 10, 5000)  # fmt: skip
