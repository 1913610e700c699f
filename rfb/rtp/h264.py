"""H.264 over plain RTP (RFC 6184) for an RTP consumer: a media server (Janus's Streaming
plugin, MediaMTX), ffmpeg, GStreamer. Sans I/O: bytes in, bytes out.

``H264Packetizer`` turns the stream's Annex B access units (the very units the viewers
get) into RTP packets: a NAL unit that fits goes alone, small ones in a row (SPS, PPS,
SEI) share one STAP-A, a large one is cut into FU-A fragments; the marker bit ends each
access unit. ``sender_report`` builds the RTCP SR that lets a receiver map RTP time to
wall time (and tells Janus where to send its feedback). ``feedback`` reads what comes
back: PLI and FIR (a keyframe, please), receiver reports. ``sdp`` describes the stream
for receivers that take an SDP file (ffmpeg, PyAV, GStreamer's ``sdpdemux``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..encoders.h264 import iter_nals

RTP_CLOCK = 90_000
DEFAULT_PT = 96
DEFAULT_MTU = 1200  # RTP packet size: leaves room for any tunnel or VPN on the way
_RTP_HEADER = 12
_STAP_A, _FU_A = 24, 28
_NTP_EPOCH = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix)


class H264Packetizer:
    """RTP packets of one H.264 stream: its SSRC, payload type and sequence numbers."""

    def __init__(self, ssrc: int, pt: int = DEFAULT_PT, mtu: int = DEFAULT_MTU,
                 first_seq: int = 0) -> None:  # fmt: skip
        if not 0 <= pt <= 127:
            raise ValueError(f"RTP payload type is 0..127, got {pt}")
        if mtu < 100:
            raise ValueError(f"mtu is the RTP packet size in bytes, at least 100 (got {mtu})")
        self.ssrc = ssrc & 0xFFFFFFFF
        self.pt = pt
        self.mtu = mtu
        self.seq = first_seq & 0xFFFF
        self.packets = 0
        self.octets = 0  # payload bytes sent, for the sender report

    def packetize(self, access_unit: bytes, timestamp: int) -> list[bytes]:
        """The RTP packets for one Annex B access unit at RTP ``timestamp`` (90 kHz)."""
        room = self.mtu - _RTP_HEADER
        payloads: list[bytes] = []
        small: list[bytes] = []  # NAL units waiting to share a STAP-A

        def flush_small() -> None:
            if len(small) == 1:
                payloads.append(small[0])
            elif small:
                nri = max(u[0] & 0x60 for u in small)
                stap = bytearray((nri | _STAP_A,))
                for u in small:
                    stap += struct.pack("!H", len(u)) + u
                payloads.append(bytes(stap))
            small.clear()

        for nal in iter_nals(access_unit):
            if len(nal) > room:
                flush_small()
                payloads.extend(_fu_a(nal, room))
                continue
            stap_size = 1 + sum(2 + len(u) for u in small) + 2 + len(nal)
            if small and stap_size > room:
                flush_small()
            small.append(nal)
        flush_small()
        return [self._packet(p, timestamp, i == len(payloads) - 1)
                for i, p in enumerate(payloads)]  # fmt: skip

    def _packet(self, payload: bytes, timestamp: int, marker: bool) -> bytes:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | self.pt, self.seq,
                             timestamp & 0xFFFFFFFF, self.ssrc)  # fmt: skip
        self.seq = (self.seq + 1) & 0xFFFF
        self.packets += 1
        self.octets += len(payload)
        return header + payload


def _fu_a(nal: bytes, room: int) -> list[bytes]:
    """A NAL unit too large for one packet as FU-A fragments (RFC 6184 5.8)."""
    indicator = (nal[0] & 0xE0) | _FU_A
    kind = nal[0] & 0x1F
    body = nal[1:]
    step = room - 2
    out = []
    for at in range(0, len(body), step):
        start, end = at == 0, at + step >= len(body)
        header = (0x80 if start else 0) | (0x40 if end else 0) | kind
        out.append(bytes((indicator, header)) + body[at : at + step])
    return out


def sender_report(ssrc: int, unix_time: float, rtp_timestamp: int, packets: int,
                  octets: int) -> bytes:  # fmt: skip
    """An RTCP sender report with no report blocks (RFC 3550 6.4.1)."""
    ntp = unix_time + _NTP_EPOCH
    seconds = int(ntp)
    fraction = int((ntp - seconds) * 2**32) & 0xFFFFFFFF
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc & 0xFFFFFFFF, seconds & 0xFFFFFFFF,
                       fraction, rtp_timestamp & 0xFFFFFFFF, packets & 0xFFFFFFFF,
                       octets & 0xFFFFFFFF)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Feedback:
    """What one RTCP datagram from the receiver says."""

    keyframe: bool = False  # a PLI or FIR for our SSRC (or for none in particular)
    report: bool = False  # a receiver report (the receiver is there)
    loss: float | None = None  # its fraction lost, for our SSRC


def feedback(datagram: bytes, ssrc: int) -> Feedback:
    """Read a (compound) RTCP datagram; anything malformed ends the reading there."""
    keyframe = report = False
    loss: float | None = None
    at = 0
    while at + 4 <= len(datagram):
        first, pt, words = struct.unpack_from("!BBH", datagram, at)
        size = 4 * (words + 1)
        if first >> 6 != 2 or at + size > len(datagram):
            break
        fmt = first & 0x1F
        body = datagram[at + 4 : at + size]
        if pt == 206 and len(body) >= 8:  # payload-specific feedback
            media = struct.unpack_from("!I", body, 4)[0]
            if fmt == 1 and media in (ssrc, 0):  # PLI
                keyframe = True
            elif fmt == 4:  # FIR: entries of (SSRC, seq nr, reserved)
                entries = body[8:]
                targets = [struct.unpack_from("!I", entries, i)[0]
                           for i in range(0, len(entries) - 7, 8)]  # fmt: skip
                keyframe = keyframe or ssrc in targets or not targets
        elif pt == 201:  # receiver report
            report = True
            for i in range(fmt):  # report blocks after the reporter's own SSRC
                block = 4 + 24 * i
                if block + 24 <= len(body):
                    source, lost = struct.unpack_from("!IB", body, block)
                    if source == ssrc:
                        loss = lost / 256
        at += size
    return Feedback(keyframe, report, loss)


def sdp(host: str, port: int, pt: int = DEFAULT_PT, *, name: str = "rfb",
        profile_level_id: str = "42e01f", ssrc: int | None = None) -> str:  # fmt: skip
    """An SDP description of the relayed stream as received at ``host``:``port`` (what
    ffmpeg, PyAV or GStreamer open to read it); more sections: ``sdp_media``."""
    family = "IP6" if ":" in host else "IP4"
    return (
        "v=0\r\n"
        f"o=- 0 0 IN {family} {host}\r\n"
        f"s={name}\r\n"
        f"c=IN {family} {host}\r\n"
        "t=0 0\r\n"
    ) + sdp_media(port, pt, profile_level_id=profile_level_id, ssrc=ssrc)


def sdp_media(port: int, pt: int = DEFAULT_PT, *, profile_level_id: str = "42e01f",
              ssrc: int | None = None) -> str:  # fmt: skip
    """One ``m=video`` section: a simulcast relay's substream has one each, with its SSRC."""
    return (
        f"m=video {port} RTP/AVP {pt}\r\n"
        f"a=rtpmap:{pt} H264/{RTP_CLOCK}\r\n"
        f"a=fmtp:{pt} packetization-mode=1;profile-level-id={profile_level_id}\r\n"
        + (f"a=ssrc:{ssrc & 0xFFFFFFFF} cname:rfb\r\n" if ssrc is not None else "")
        + "a=recvonly\r\n"
    )
