"""The receiver's side of ULPFEC (RFC 5109), as the browser does it: rebuild the one
packet of a group that did not arrive. rfb only sends FEC (rfb/rtp/ulpfec.py); its tests
use this decoder as the reference. Written from the RFC, apart from the encoder: it shares
no code with it, so a mistake in one is not copied into the other."""

from __future__ import annotations

RTP_HEADER = 12
FEC_HEADER = 10  # then the level-0 header: protection length (2 bytes), 16-bit mask (L=0)


def _xor(a: bytes, b: bytes) -> bytes:
    """``a`` XOR ``b``, the shorter one padded with zeros."""
    n = max(len(a), len(b))
    x = int.from_bytes(a.ljust(n, b"\0"), "big") ^ int.from_bytes(b.ljust(n, b"\0"), "big")
    return x.to_bytes(n, "big")


def recover(fec: bytes, received: dict[int, bytes], ssrc: int) -> bytes | None:
    """The one packet of ``fec``'s group (a ULPFEC payload: FEC header, level-0 header,
    protected bytes) missing from ``received`` (RTP packets by sequence number); None
    when none or more than one is missing."""
    base = int.from_bytes(fec[2:4], "big")
    length = int.from_bytes(fec[FEC_HEADER : FEC_HEADER + 2], "big")
    mask = int.from_bytes(fec[FEC_HEADER + 2 : FEC_HEADER + 4], "big")
    group = [(base + i) & 0xFFFF for i in range(16) if mask & (1 << (15 - i))]
    missing = [s for s in group if s not in received]
    if len(missing) != 1:
        return None
    # The FEC packet's recovery fields, XORed with those of every packet that arrived:
    # bytes 0-1 (P, X, CC, M, PT), the timestamp, the length after the fixed header, and
    # the bytes after it.
    bits, timestamp, size = fec[0:2], fec[4:8], fec[8:10]
    body = fec[FEC_HEADER + 4 : FEC_HEADER + 4 + length].ljust(length, b"\0")
    for seq in group:
        if seq in received:
            p = received[seq]
            bits = _xor(bits, p[0:2])
            timestamp = _xor(timestamp, p[4:8])
            size = _xor(size, (len(p) - RTP_HEADER).to_bytes(2, "big"))
            body = _xor(body, p[RTP_HEADER : RTP_HEADER + length])
    header = (
        bytes((0x80 | (bits[0] & 0x3F), bits[1]))  # version 2
        + missing[0].to_bytes(2, "big")
        + timestamp
        + ssrc.to_bytes(4, "big")
    )
    return header + body[: int.from_bytes(size, "big")]
