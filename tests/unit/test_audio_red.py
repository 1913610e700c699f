"""RED for the WebRTC audio track, sans I/O (rfb/transports/audio_red.py): RFC 2198 blocks
around our Opus packets, on only while the browser reports loss."""

from __future__ import annotations

import pytest

from rfb.transports.audio_red import RedPacker, red_payload, rtp_payload_offset

SSRC = 0x1234ABCD


def rtp(seq: int, ts: int, payload: bytes, pt: int = 111, ext: bool = True) -> bytes:
    head = bytes([0x90 if ext else 0x80, 0x80 | pt]) + seq.to_bytes(2, "big")
    head += ts.to_bytes(4, "big") + SSRC.to_bytes(4, "big")
    if ext:  # one-byte extension profile, one word
        head += b"\xbe\xde\x00\x01" + b"\x10\x01\x00\x00"
    return head + payload


def test_payload_offset_skips_csrcs_and_extensions() -> None:
    assert rtp_payload_offset(rtp(1, 2, b"x", ext=False)) == 12
    assert rtp_payload_offset(rtp(1, 2, b"x")) == 20
    with pytest.raises(ValueError):
        rtp_payload_offset(b"\x90" + bytes(12))


def test_red_blocks_follow_rfc_2198() -> None:
    assert red_payload(b"AB", 111, None) == bytes([111]) + b"AB"
    out = red_payload(b"NEW", 111, (960, b"OLD!"))
    assert out[0] == 0x80 | 111
    assert int.from_bytes(out[1:4], "big") == (960 << 10) | 4
    assert out[4] == 111 and out[5:9] == b"OLD!" and out[9:] == b"NEW"


def test_red_only_while_loss_is_reported() -> None:
    p = RedPacker(63, SSRC)
    first = rtp(1, 1000, b"one")
    assert p.rewrite(first) == first  # no loss reported: Opus as it is
    p.on_report(0.0, 0, 100)
    assert not p.enabled
    p.on_report(1.0, 5, 200)  # 5 of 100 lost
    assert p.enabled
    second = p.rewrite(rtp(2, 1960, b"two"))
    assert second[1] == 0x80 | 63  # marker kept, RED's payload type
    assert second[:1] == first[:1] and second[2:20] == rtp(2, 1960, b"")[2:20]
    assert second[20:] == red_payload(b"two", 111, (960, b"one"))
    p.on_report(5.0, 5, 300)  # no more loss: still on for a while
    assert p.enabled
    p.on_report(12.0, 5, 400)
    assert not p.enabled
    assert p.rewrite(rtp(3, 2920, b"three"))[20:] == b"three"


def test_other_streams_and_far_gaps_pass() -> None:
    p = RedPacker(63, SSRC)
    p.enabled = True
    other = bytearray(rtp(1, 0, b"x"))
    other[8:12] = (5).to_bytes(4, "big")
    assert p.rewrite(bytes(other)) == bytes(other)
    p.rewrite(rtp(1, 0, b"a"))
    far = p.rewrite(rtp(2, 48000, b"b"))  # a second later: too far for a 14-bit offset
    assert far[20:] == bytes([111]) + b"b"
