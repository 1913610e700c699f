"""Opus over plain RTP (RFC 7587) for an RTP consumer (Janus's Streaming plugin, ffmpeg,
GStreamer). Sans I/O: bytes in, bytes out.

An Opus packet is an RTP payload as it is: no fragmentation (a 20 ms packet is a few
hundred bytes at most) and no payload header. The RTP clock is 48 kHz whatever the
channel count, and the rtpmap always says ``opus/48000/2`` (RFC 7587 4.1: the decoder
decides mono or stereo from each packet). The marker bit is set on the first packet of
a talkspurt: the first one, and the first after a pause in the sound.
"""

from __future__ import annotations

import struct

RTP_CLOCK = 48_000
DEFAULT_PT = 111  # what Janus's and browsers' SDPs use for Opus
FRAME_TICKS = 960  # one 20 ms packet


class OpusPacketizer:
    """RTP packets of one Opus stream: its SSRC, payload type and sequence numbers."""

    def __init__(self, ssrc: int, pt: int = DEFAULT_PT, first_seq: int = 0) -> None:
        if not 0 <= pt <= 127:
            raise ValueError(f"RTP payload type is 0..127, got {pt}")
        self.ssrc = ssrc & 0xFFFFFFFF
        self.pt = pt
        self.seq = first_seq & 0xFFFF
        self.packets = 0
        self.octets = 0  # payload bytes sent, for the sender report
        self._next: int | None = None  # the timestamp that continues the sound

    def packetize(self, opus_packet: bytes, timestamp: int) -> bytes:
        """The RTP packet for one Opus packet whose first sample is at ``timestamp``
        (48 kHz RTP time)."""
        timestamp &= 0xFFFFFFFF
        marker = self._next is None or timestamp != self._next
        self._next = (timestamp + FRAME_TICKS) & 0xFFFFFFFF
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | self.pt, self.seq,
                             timestamp, self.ssrc)  # fmt: skip
        self.seq = (self.seq + 1) & 0xFFFF
        self.packets += 1
        self.octets += len(opus_packet)
        return header + opus_packet


def sdp_media(port: int, pt: int = DEFAULT_PT) -> str:
    """The audio m= section of an SDP description (after the video's)."""
    return f"m=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} opus/{RTP_CLOCK}/2\r\na=recvonly\r\n"


def depacketize(datagram: bytes) -> tuple[int, int, int, int, bytes]:
    """(payload type, sequence number, timestamp, SSRC, Opus packet) of one RTP datagram
    with no CSRCs or extensions (what OpusPacketizer makes; tests and receivers)."""
    if len(datagram) < 12 or datagram[0] >> 6 != 2:
        raise ValueError("not an RTP packet")
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", datagram)
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # a header extension
        (length,) = struct.unpack_from("!H", datagram, offset + 2)
        offset += 4 + 4 * length
    payload = datagram[offset:]
    if b0 & 0x20 and payload:  # padding
        payload = payload[: -payload[-1]]
    return b1 & 0x7F, seq, ts, ssrc, payload
