"""RTP header extensions rfb writes that aiortc does not know: bytes in, bytes out.

The playout-delay extension (http://www.webrtc.org/experiments/rtp-hdrext/playout-delay)
tells the receiver the smallest and largest delay it may add before rendering. Chromium
offers it and honours it; with 0 and 0 it renders each frame as soon as it is decoded
instead of smoothing playout (measured: docs/guides/webrtc.md). aiortc 1.16 neither negotiates
nor writes it, so rfb adds it to each media packet just before it is encrypted.
"""

from __future__ import annotations

PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
PLAYOUT_DELAY_MAX_MS = 40_950  # 12 bits of 10 ms

_ONE_BYTE_PROFILE = 0xBEDE


def playout_delay_value(min_ms: int, max_ms: int) -> bytes:
    """The extension's 3 bytes: 12 bits each of the min and max delay, in 10 ms units."""
    if not 0 <= min_ms <= max_ms <= PLAYOUT_DELAY_MAX_MS:
        raise ValueError(
            f"playout delay must be 0 <= min <= max <= {PLAYOUT_DELAY_MAX_MS} ms, "
            f"got ({min_ms}, {max_ms})"
        )
    lo, hi = min_ms // 10, max_ms // 10
    return bytes((lo >> 4, ((lo & 0xF) << 4) | (hi >> 8), hi & 0xFF))


def parse_playout_delay(value: bytes) -> tuple[int, int]:
    """(min_ms, max_ms) from the extension's 3 bytes."""
    if len(value) != 3:
        raise ValueError(f"playout delay is 3 bytes, got {len(value)}")
    lo = (value[0] << 4) | (value[1] >> 4)
    hi = ((value[1] & 0xF) << 8) | value[2]
    return lo * 10, hi * 10


def with_header_extension(packet: bytes, ext_id: int, value: bytes) -> bytes:
    """``packet`` with one more header extension element (RFC 8285), payload untouched.

    A packet without extensions gets a one-byte-header block; one with a one-byte block
    gets the element appended (padding re-done to a 32-bit boundary). Packets with a
    two-byte-header block, an element already of this id, or an id or value that the
    one-byte form cannot carry are returned as they are.
    """
    if not 1 <= ext_id <= 14 or not 1 <= len(value) <= 16 or len(packet) < 12:
        return packet
    csrcs = packet[0] & 0x0F
    start = 12 + 4 * csrcs
    element = bytes(((ext_id << 4) | (len(value) - 1),)) + value
    if not packet[0] & 0x10:  # no extension block yet
        first = _pad(element)
        header = bytes((packet[0] | 0x10,)) + packet[1:start]
        length = (len(first) // 4).to_bytes(2, "big")
        return header + _ONE_BYTE_PROFILE.to_bytes(2, "big") + length + first + packet[start:]
    block = _one_byte_block(packet)
    if block is None:  # a two-byte-header block, or a broken one
        return packet
    body_start, body_end = block
    elements = _one_byte_elements(packet[body_start:body_end])
    if elements is None or ext_id in (i for i, _, _ in elements):
        return packet
    body = b"".join(bytes(((i << 4) | (len(v) - 1),)) + v for i, _, v in elements) + element
    padded = _pad(body)
    return (
        packet[:start]
        + _ONE_BYTE_PROFILE.to_bytes(2, "big")
        + (len(padded) // 4).to_bytes(2, "big")
        + padded
        + packet[body_end:]
    )


def zero_extensions(packet: bytes, ids: frozenset[int]) -> bytes:
    """``packet`` with the values of these one-byte-header extensions zeroed: what a
    libwebrtc receiver does to the "mutable" ones (abs-send-time and the like, written as
    a packet leaves) before it uses a packet for FEC, so FEC must be computed so too."""
    block = _one_byte_block(packet) if ids else None
    if block is None:
        return packet
    out = bytearray(packet)
    for ext_id, offset, value in _one_byte_elements(packet[block[0] : block[1]]) or []:
        if ext_id in ids:
            at = block[0] + offset
            out[at : at + len(value)] = bytes(len(value))
    return bytes(out)


def header_extensions(packet: bytes) -> dict[int, bytes]:
    """The one-byte-header extension elements of an RTP packet, by id (for tests)."""
    block = _one_byte_block(packet)
    elements = None if block is None else _one_byte_elements(packet[block[0] : block[1]])
    return {i: v for i, _, v in elements or []}


def _one_byte_block(packet: bytes) -> tuple[int, int] | None:
    """Where the elements of a packet's one-byte-header extension block lie, or None."""
    if len(packet) < 12 or not packet[0] & 0x10:
        return None
    start = 12 + 4 * (packet[0] & 0x0F)
    if len(packet) < start + 4:
        return None
    if int.from_bytes(packet[start : start + 2], "big") != _ONE_BYTE_PROFILE:
        return None
    end = start + 4 + 4 * int.from_bytes(packet[start + 2 : start + 4], "big")
    return None if end > len(packet) else (start + 4, end)


def _one_byte_elements(body: bytes) -> list[tuple[int, int, bytes]] | None:
    """(id, offset of the value in ``body``, value) of each element; None if broken."""
    out: list[tuple[int, int, bytes]] = []
    pos = 0
    while pos < len(body):
        byte = body[pos]
        if byte == 0:  # padding
            pos += 1
            continue
        ext_id, size = byte >> 4, (byte & 0x0F) + 1
        if ext_id == 15:  # reserved: stop parsing, as RFC 8285 says
            break
        if pos + 1 + size > len(body):
            return None
        out.append((ext_id, pos + 1, body[pos + 1 : pos + 1 + size]))
        pos += 1 + size
    return out


def _pad(body: bytes) -> bytes:
    return body + b"\x00" * (-len(body) % 4)
