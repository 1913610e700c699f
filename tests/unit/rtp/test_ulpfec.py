"""ULPFEC in RED (rfb/rtp/ulpfec.py), sans I/O: any one lost packet of a group is
rebuilt bit for bit, FEC comes after its frame, and renumbering maps NACKs and RTX."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfb.rtp import header as rtp_header
from rfb.rtp import ulpfec

rtp = pytest.importorskip("aiortc.rtp", reason="needs aiortc: pip install 'rfb[webrtc]'")
from support.rtp_maps import ABS_SEND_TIME as ABS  # noqa: E402
from support.rtp_maps import chromium_extension_map  # noqa: E402
from support.ulpfec_decoder import recover  # noqa: E402

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
    assert recover(fec, have, 0xABCD) == media[lost]
    assert recover(fec, {(first + i) & 0xFFFF: m for i, m in enumerate(media)}, 0xABCD) is None


def test_fec_follows_its_frame_and_renumbers_the_stream() -> None:
    enc = ulpfec.FecEncoder(RED, FEC, first_seq=65534, layout=ulpfec.FecLayout(2),
                            mutable_ids=frozenset({ABS}))  # fmt: skip
    frame = [packet(100 + i, bytes([i]) * 50, marker=i == 4, sent=i) for i in range(5)]
    out = [p for m in frame for p in enc.media(m)]
    # 5 media, 3 FEC (groups of 2, 2, 1), then a padding-only filler for each FEC number
    out, fillers = out[:8], out[8:]
    assert [int.from_bytes(f[2:4], "big") for f in fillers] == [3, 4, 5]
    for f, fec in zip(fillers, out[5:], strict=True):
        back = rtp.RtpPacket.parse(f)
        assert back.payload == b"" and back.padding_size == 1 and not back.marker
        assert (back.ssrc, back.timestamp) == (0xABCD, int.from_bytes(fec[4:8], "big"))
    parts = [ulpfec.split(p) for p in out]
    assert [p.pt for p in parts] == [RED] * 8
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
    rebuilt = recover(first_fec, {65535: plain[65535]}, 0xABCD)
    assert rebuilt == plain[65534]


def test_no_fec_packets_while_the_path_is_clean() -> None:
    enc = ulpfec.FecEncoder(RED, FEC, first_seq=0)
    out = [p for i in range(3) for p in enc.media(packet(i, b"x", marker=i == 2))]
    assert len(out) == 3 and enc.fec_sent == 0
    layouts = [ulpfec.layout_for_loss(x) for x in (0.0, 0.009, 0.015, 0.03, 0.05, 0.3)]
    assert layouts == [ulpfec.NO_FEC, ulpfec.NO_FEC, ulpfec.FecLayout(6), ulpfec.FecLayout(4),
                       ulpfec.FecLayout(4, True), ulpfec.FecLayout(4, True)]  # fmt: skip


def test_rows_and_columns_share_at_most_one_fec_packet_per_pair() -> None:
    for n in (1, 5, 12, 16, 23, 48):
        sets = ulpfec.protected_sets(n, ulpfec.FecLayout(4, columns=True))
        assert sorted({i for s in sets for i in s}) == list(range(n))  # all protected
        assert all(sum(i in s for s in sets) <= 2 for i in range(n))  # a row and a column
        for s in sets:
            assert s == sorted(s) and s[-1] - s[0] < ulpfec.MAX_GROUP  # one 16-bit mask
        for a in range(n):
            for b in range(a + 1, n):
                shared = [s for s in sets if a in s and b in s]
                assert len(shared) <= 1


def rebuild(fecs: list[bytes], have: dict[int, bytes]) -> dict[int, bytes]:
    """What a receiver gets back, one packet at a time, as libwebrtc's receiver does: each
    rebuilt packet may complete another FEC packet's group."""
    have = dict(have)
    progress = True
    while progress:
        progress = False
        for fec in fecs:
            got = recover(fec, have, 0xABCD)
            if got is not None:
                have[int.from_bytes(got[2:4], "big")] = got
                progress = True
    return have


@pytest.mark.parametrize("n", [1, 2, 3, 6, 12, 20])
def test_rows_and_columns_rebuild_any_two_lost_packets(n: int) -> None:
    enc = ulpfec.FecEncoder(RED, FEC, first_seq=65530, layout=ulpfec.FecLayout(4, True))
    frame = [packet(i, bytes([i]) * (40 + 7 * i), marker=i == n - 1) for i in range(n)]
    out = [p for m in frame for p in enc.media(m)]
    parts = [ulpfec.split(p) for p in out]
    parts = parts[: len(parts) - (len(parts) - n) // 2]  # the fillers aside
    assert all(p is not None for p in parts)
    media = {p.seq: ulpfec.with_seq(m, p.seq) for p, m in zip(parts[:n], frame, strict=True)}
    fecs = [p.payload[1:] for p in parts[n:]]
    assert len(fecs) == len(ulpfec.protected_sets(n, enc.layout))
    seqs = list(media)
    for a in range(n):
        for b in range(a + 1, n):
            have = {s: m for s, m in media.items() if s not in (seqs[a], seqs[b])}
            assert rebuild(fecs, have) == media, (a, b)
    # Rows alone (what lighter loss gets) cannot: two losses in one row.
    if n >= 2:
        alone = ulpfec.FecEncoder(RED, FEC, first_seq=65530, layout=ulpfec.FecLayout(4))
        split = [ulpfec.split(p) for m in frame for p in alone.media(m)]
        rows = [p.payload[1:] for p in split[n:] if p is not None]
        have = {s: m for s, m in media.items() if s not in seqs[:2]}
        assert rebuild(rows, have) != media


def test_zero_extensions_touches_only_the_named_values() -> None:
    p = packet(1, b"payload", sent=0xABCDEF)
    z = rtp_header.zero_extensions(p, frozenset({ABS}))
    back = rtp.RtpPacket.parse(z, chromium_extension_map())
    assert back.extensions.abs_send_time == 0 and back.extensions.mid == "0"
    assert back.payload == b"payload" and len(z) == len(p)
    assert rtp_header.zero_extensions(p, frozenset()) == p
