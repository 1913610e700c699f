"""ULPFEC (RFC 5109) in RED (RFC 2198) for rfb's WebRTC packets: bytes in, bytes out.

Chromium offers ``red`` and ``ulpfec``; aiortc sends neither. With them, a packet lost
on the way is rebuilt by the browser from the others of its group and one XOR packet,
without the NACK round trip (docs/guides/webrtc.md). FEC packets share the media stream's SSRC
and sequence numbers, so this module also renumbers: ``FecEncoder`` takes each media
packet as aiortc made it, gives it the next number of its own sequence, and maps numbers
both ways (NACKs from the browser name ours; aiortc's retransmissions carry its own).
Sans I/O: the paced transport sends what ``FecEncoder.media()`` returns, in order.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from dataclasses import dataclass

from .header import zero_extensions

RED_MIME = "video/red"
ULPFEC_MIME = "video/ulpfec"
RTP_HEADER = 12
MAX_GROUP = 16  # a 16-bit mask (L=0)
SEQ_MEMORY = 4096  # sequence numbers remembered both ways (NACKs come within seconds)
# The largest RTP packet aiortc's SRTP (pylibsrtp: a 1500-byte buffer less its 144-byte
# trailer allowance) encrypts; an FEC packet is as long as the longest it protects, plus
# its headers, so a group of full-size packets can only just fit.
MAX_PACKET = 1356


@dataclass(frozen=True, slots=True)
class RtpParts:
    """An RTP packet split where RED goes: the header (with CSRCs and extensions) and the
    payload. ``pt`` and ``seq`` are the header's."""

    header: bytes
    payload: bytes
    pt: int
    seq: int
    timestamp: int
    marker: bool


def split(packet: bytes) -> RtpParts | None:
    """None for what is not a plain RTP packet (padding included: aiortc sends none)."""
    if len(packet) < RTP_HEADER or packet[0] >> 6 != 2 or packet[0] & 0x20:
        return None
    end = RTP_HEADER + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        if len(packet) < end + 4:
            return None
        end += 4 + 4 * int.from_bytes(packet[end + 2 : end + 4], "big")
    if end > len(packet):
        return None
    return RtpParts(
        packet[:end], packet[end:], packet[1] & 0x7F,
        int.from_bytes(packet[2:4], "big"), int.from_bytes(packet[4:8], "big"),
        bool(packet[1] & 0x80),
    )  # fmt: skip


def with_seq(packet: bytes, seq: int) -> bytes:
    return packet[:2] + (seq & 0xFFFF).to_bytes(2, "big") + packet[4:]


def red(parts: RtpParts, red_pt: int, block_pt: int) -> bytes:
    """The packet as RED with one primary block of ``block_pt`` (RFC 2198: F=0)."""
    header = bytearray(parts.header)
    header[1] = (header[1] & 0x80) | red_pt
    return bytes(header) + bytes((block_pt & 0x7F,)) + parts.payload


@dataclass(slots=True)
class _Xor:
    """The XOR of packets' recovery fields (RFC 5109): bytes 0-1, the timestamp, the
    length after the fixed header, and everything after it (zero-padded to ``length``)."""

    length: int
    b0: int = 0
    b1: int = 0
    ts: int = 0
    size: int = 0
    body: int = 0  # the bytes after the fixed header, as one big integer (fast to XOR)

    def add(self, packet: bytes) -> None:
        self.b0 ^= packet[0]
        self.b1 ^= packet[1]
        self.ts ^= int.from_bytes(packet[4:8], "big")
        self.size ^= len(packet) - RTP_HEADER
        self.body ^= int.from_bytes(packet[RTP_HEADER:].ljust(self.length, b"\0"), "big")

    def body_bytes(self) -> bytes:
        return self.body.to_bytes(self.length, "big")


def fec_payload(media: list[bytes]) -> bytes:
    """The ULPFEC payload (FEC header + level-0 header + XOR) protecting ``media``: RTP
    packets of one SSRC with consecutive-or-not sequence numbers within MAX_GROUP."""
    if not 1 <= len(media) <= MAX_GROUP:
        raise ValueError(f"a group is 1..{MAX_GROUP} packets, got {len(media)}")
    base = int.from_bytes(media[0][2:4], "big")
    mask = 0
    for p in media:
        offset = (int.from_bytes(p[2:4], "big") - base) & 0xFFFF
        if offset >= MAX_GROUP:
            raise ValueError("sequence numbers span more than the 16-bit mask")
        mask |= 1 << (15 - offset)
    x = _Xor(max(len(p) - RTP_HEADER for p in media))
    for p in media:
        x.add(p)
    # E=0, L=0 (16-bit mask); P, X and CC recovery are the low 6 bits of byte 0.
    fec_header = (
        bytes((x.b0 & 0x3F, x.b1))
        + base.to_bytes(2, "big")
        + x.ts.to_bytes(4, "big")
        + x.size.to_bytes(2, "big")
    )
    level0 = x.length.to_bytes(2, "big") + mask.to_bytes(2, "big")
    return fec_header + level0 + x.body_bytes()


def gap_filler(packet: bytes) -> bytes:
    """A padding-only packet with ``packet``'s sequence number, sent after it.

    FEC packets take numbers in the media stream's sequence, and an H.264 receiver
    cannot tell a missing FEC packet from a missing media one: libwebrtc holds every
    frame after a gap until it is filled (it hands on frames only in unbroken order),
    so one lost FEC packet would stall the next frame for a NACK round trip. A packet
    with no payload fills a gap as an FEC packet does (libwebrtc counts both as empty).
    Where the FEC packet arrived, its filler is a repeat, which the receiver's SRTP
    discards; where it was lost, the filler closes the gap at once."""
    header = bytearray(packet[:RTP_HEADER])
    header[0] = (header[0] & 0xC0) | 0x20  # P = 1, X = 0, CC = 0
    header[1] &= 0x7F  # marker 0
    return bytes(header) + b"\x01"  # one byte of padding: its own count


@dataclass(frozen=True, slots=True)
class FecLayout:
    """Which media packets of a frame each FEC packet protects: consecutive rows of
    ``row`` packets, one FEC packet each; with ``columns``, also one per column (the
    packets a row apart within each block of MAX_GROUP; a short block's rows are shorter,
    a square grid). Rows alone repair one loss per row; rows and columns repair any two
    losses in a block and most three, since two packets never share both their row and
    their column (the browser repairs one packet
    at a time, and each repair can complete another FEC packet's group)."""

    row: int = 0  # 0: no FEC
    columns: bool = False


NO_FEC = FecLayout()


def layout_for_loss(loss: float) -> FecLayout:
    """The protection for the path's loss fraction; none on a clean path, which then pays
    nothing. A frame with a loss left unrepaired waits a NACK round trip, and holds up the
    frames behind it, so the layout keeps that to about one frame in a hundred or fewer
    (simulated for 8-16 packet frames with independent loss, FEC packets lost too):

    * under 2 %: rows of 6 (17-25 % more packets);
    * under 3.5 %: rows of 4 (25 %): 1-3.5 % of frames still wait at 3 %;
    * above: rows of 4 and columns (50-60 %): at 5 % loss 0.1-0.3 % of frames wait,
      against 4-7 % with rows of 2 or 3 (33-50 %); at 10 %, 1-2.5 %.
    """
    if loss < 0.01:
        return NO_FEC
    if loss < 0.02:
        return FecLayout(6)
    if loss < 0.035:
        return FecLayout(4)
    return FecLayout(4, columns=True)


def protected_sets(n: int, layout: FecLayout) -> list[list[int]]:
    """For a frame of ``n`` media packets, the indices each FEC packet protects, in the
    order the FEC packets go: the rows, then the columns."""
    row = min(max(0, layout.row), MAX_GROUP)
    if row == 0 or n == 0:
        return []
    if not layout.columns:
        return [list(range(i, min(n, i + row))) for i in range(0, n, row)]
    rows: list[list[int]] = []
    columns: list[list[int]] = []
    for block in range(0, n, MAX_GROUP):  # a mask spans 16 sequence numbers
        idx = list(range(block, min(n, block + MAX_GROUP)))
        # A short block gets a square grid: every column then reaches the last row, or
        # is a packet on its own (its FEC packet a copy), so any two losses are repaired.
        r = min(row, math.isqrt(len(idx) - 1) + 1)
        block_rows = [idx[i : i + r] for i in range(0, len(idx), r)]
        rows += block_rows
        columns += [c for c in (idx[k::r] for k in range(r)) if c not in block_rows]
    return rows + columns


class FecEncoder:
    """Renumbers a media stream and adds ULPFEC packets to each frame as ``layout`` says,
    sent after the frame, all as RED. NO_FEC: RED alone."""

    def __init__(
        self,
        red_pt: int,
        fec_pt: int,
        first_seq: int,
        layout: FecLayout = NO_FEC,
        mutable_ids: frozenset[int] = frozenset(),
    ) -> None:
        self.red_pt, self.fec_pt = red_pt, fec_pt
        # Extensions a libwebrtc receiver zeroes before FEC (abs-send-time): zeroed here too.
        self.mutable_ids = mutable_ids
        self.layout = layout
        self._next = first_seq & 0xFFFF
        self._pending: list[bytes] = []  # renumbered media packets of the current group
        self._ours: OrderedDict[int, int] = OrderedDict()  # aiortc's number -> ours
        self._theirs: OrderedDict[int, int] = OrderedDict()  # ours -> aiortc's (media only)
        self._sent_fec: OrderedDict[int, bytes] = OrderedDict()  # ours -> FEC packet, to resend
        self.fec_sent = 0
        self.fec_skipped = 0  # FEC packets that would be over MAX_PACKET

    def media(self, packet: bytes) -> list[bytes]:
        """The packets to send for one media packet from aiortc: itself as RED, then a
        FEC packet where a group ends. Anything unparsable is returned as it is."""
        parts = split(packet)
        if parts is None:
            return [packet]
        ours = self._take()
        self._remember(parts.seq, ours)
        renumbered = with_seq(packet, ours)
        out = [red(dataclasses.replace(parts, header=with_seq(parts.header, ours), seq=ours),
                   self.red_pt, parts.pt)]  # fmt: skip
        if self.layout.row > 0:
            self._pending.append(zero_extensions(renumbered, self.mutable_ids))
        if parts.marker and self._pending:
            # After the frame's last packet, never inside it: a receiver assembling H.264
            # by sequence number takes a packet in the middle of a frame for a gap.
            frame, self._pending = self._pending, []
            layout = self.layout if self.layout.row else FecLayout(1)
            fecs = [self._fec(parts, [frame[i] for i in indices])
                    for indices in protected_sets(len(frame), layout)]  # fmt: skip
            sent = [f for f in fecs if f is not None]
            out += sent
            out += [gap_filler(f) for f in sent]
        return out

    def _fec(self, last: RtpParts, media: list[bytes]) -> bytes | None:
        payload = fec_payload(media)
        # The fixed header only: an FEC packet needs no extensions (the browser finds its
        # stream by SSRC), and the bytes they would take are what keeps it under MAX_PACKET.
        header = bytearray(last.header[:RTP_HEADER])
        header[0] &= 0xEF  # X = 0
        header[0] &= 0xF0  # CC = 0 (aiortc sends no CSRCs)
        if RTP_HEADER + 1 + len(payload) > MAX_PACKET:
            self.fec_skipped += 1
            return None
        header[1] = self.red_pt  # marker 0
        seq = self._take()
        header[2:4] = seq.to_bytes(2, "big")
        self.fec_sent += 1
        out = bytes(header) + bytes((self.fec_pt,)) + payload
        # A lost FEC packet must be resent when NACKed: an H.264 receiver cannot tell a
        # missing FEC packet from a missing media one, and waits for it (libwebrtc says
        # so where it declines ULPFEC with NACK for H.264).
        self._sent_fec[seq] = out
        if len(self._sent_fec) > SEQ_MEMORY // 4:
            self._sent_fec.popitem(last=False)
        return out

    def _take(self) -> int:
        seq = self._next
        self._next = (self._next + 1) & 0xFFFF
        return seq

    def _remember(self, theirs: int, ours: int) -> None:
        for table, key, value in ((self._ours, theirs, ours), (self._theirs, ours, theirs)):
            table[key] = value
            if len(table) > SEQ_MEMORY:
                table.popitem(last=False)

    def sent_fec(self, ours: int) -> bytes | None:
        """Our FEC packet ``ours``, as sent (None: not one, or forgotten)."""
        return self._sent_fec.get(ours)

    def theirs(self, ours: int) -> int | None:
        """aiortc's number for our media packet ``ours`` (None: FEC, or forgotten)."""
        return self._theirs.get(ours)

    def ours(self, theirs: int) -> int | None:
        """Our number for aiortc's packet ``theirs`` (what an RTX packet must name)."""
        return self._ours.get(theirs)

    def rtx(self, packet: bytes) -> bytes | None:
        """An RTX packet from aiortc with its original sequence number (the first two
        payload bytes) rewritten to ours; None when that packet is forgotten."""
        parts = split(packet)
        if parts is None or len(parts.payload) < 2:
            return None
        ours = self.ours(int.from_bytes(parts.payload[:2], "big"))
        if ours is None:
            return None
        return parts.header + ours.to_bytes(2, "big") + parts.payload[2:]
