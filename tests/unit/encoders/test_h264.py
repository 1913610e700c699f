"""The H.264 bitstream helpers (rfb/encoders/h264.py): NAL units and the codec string, and
re-tagging an SPS: the colour signal and the reorder promise change, the pictures do not."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from rfb.encoders import convert, h264

av = pytest.importorskip("av")

OURS = h264.VideoSignal(False, convert.VUI_PRIMARIES, convert.VUI_TRANSFER, convert.VUI_MATRIX)
OURS_DICT = {"full_range": 0, "primaries": convert.VUI_PRIMARIES,
             "transfer": convert.VUI_TRANSFER, "matrix": convert.VUI_MATRIX}  # fmt: skip


def encode(profile: str, params: str = "", *, full_range: bool = False, n: int = 6) -> list[bytes]:
    w, h = 96, 64
    cc = av.CodecContext.create("libx264", "w")
    cc.width, cc.height, cc.pix_fmt = w, h, "yuv420p"
    cc.time_base = Fraction(1, 30)
    if full_range:
        cc.color_range = 2
    cc.options = {"profile": profile, "preset": "veryfast",
                  "x264-params": "annexb=1:repeat-headers=1" + (":" + params if params else "")}  # fmt: skip
    rng = np.random.default_rng(7)
    aus = []
    for i in range(n):
        yuv = rng.integers(16, 236, (h * 3 // 2, w), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = i
        aus += [bytes(p) for p in cc.encode(frame)]
    return aus + [bytes(p) for p in cc.encode(None)]


def decode(aus: list[bytes]) -> list[tuple[np.ndarray, int, int]]:
    ctx = av.CodecContext.create("h264", "r")
    frames = [f for au in aus for f in ctx.decode(av.Packet(au))] + list(ctx.decode(None))
    return [(f.to_ndarray(format="yuv420p"), f.color_range, f.colorspace) for f in frames]


def with_sps(aus: list[bytes], old: bytes, new: bytes) -> list[bytes]:
    return [au.replace(old, new, 1) for au in aus]


def rebuilt(sps: bytes, bits: str) -> bytes:
    """An SPS whose RBSP is ``bits`` (test helper for VUI shapes x264 never writes)."""
    bits += "1"
    bits += "0" * (-len(bits) % 8)
    return sps[:1] + h264._escape(int(bits, 2).to_bytes(len(bits) // 8, "big"))


@pytest.mark.parametrize(
    ("profile", "params", "full_range"),
    [
        ("baseline", "", False),  # VUI with restriction, no colour description
        ("baseline", "colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m", True),
        ("high", "cqm=jvt", False),  # scaling matrices in the SPS
        ("high", "nal-hrd=cbr:vbv-maxrate=600:vbv-bufsize=600:bitrate=500", False),  # HRD
        ("main", "sar=4:3:overscan=show:chromaloc=1", False),  # every VUI part before colour
        ("high", "bframes=2", False),  # B-frames: the stream's reorder depth is kept
    ],
)
def test_retag_changes_the_signal_and_nothing_else(profile, params, full_range) -> None:
    aus = encode(profile, params, full_range=full_range)
    sps = h264.find_sps(aus[0])
    reorder = h264.sps_max_num_reorder_frames(sps)
    new = h264.retag_sps(sps, OURS)
    assert h264.sps_vui_colour(new) == OURS_DICT
    assert h264.sps_max_num_reorder_frames(new) == reorder  # already said: kept
    assert h264.codec_string(new) == h264.codec_string(sps)
    before, after = decode(aus), decode(with_sps(aus, sps, new))
    assert len(before) == len(after) == 6
    for (a, _, _), (b, rng, matrix) in zip(before, after, strict=True):
        assert np.array_equal(a, b)  # the same samples, bit for bit
        assert (rng, matrix) == (1, convert.VUI_MATRIX)  # FFmpeg reads the new tags


@pytest.mark.parametrize("shape", ["no VUI", "VUI without bitstream restriction"])
def test_retag_adds_what_is_missing(shape: str) -> None:
    aus = encode("high")
    sps = h264.find_sps(aus[0])
    lay = h264._parse_sps(sps)
    if shape == "no VUI":
        bare = rebuilt(sps, lay.bits[: lay.vui_flag] + "0")
        assert h264.sps_vui_colour(bare) is None
    else:
        bare = rebuilt(sps, lay.bits[: lay.restriction] + "0")
    assert h264.sps_max_num_reorder_frames(bare) is None
    new = h264.retag_sps(bare, OURS)
    assert h264.sps_vui_colour(new) == OURS_DICT
    assert h264.sps_max_num_reorder_frames(new) == 0  # decoders may output at once
    before, after = decode(with_sps(aus, sps, bare)), decode(with_sps(aus, sps, new))
    assert [np.array_equal(a[0], b[0]) for a, b in zip(before, after, strict=True)] == [True] * 6


def test_emulation_prevention_round_trip() -> None:
    raw = bytes([0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 7, 0, 0])
    escaped = h264._escape(raw)
    assert b"\x00\x00\x00" not in escaped and b"\x00\x00\x01" not in escaped
    assert h264._unescape(escaped) == raw


def test_garbage_is_refused_with_a_value_error() -> None:
    with pytest.raises(ValueError, match="not an SPS"):
        h264.retag_sps(b"\x68\xce\x38\x80", OURS)  # a PPS
    with pytest.raises(ValueError):
        h264.retag_sps(b"\x67\x42\xc0", OURS)


def test_nal_helpers() -> None:
    stream = b"\x00\x00\x00\x01\x67\x42\xc0\x1f\xaa\x00\x00\x01\x68\xce\x00\x00\x01\x65\x88"
    assert h264.nal_types(stream) == [7, 8, 5]
    assert h264.is_idr(stream)
    assert h264.codec_string(h264.find_sps(stream)) == "avc1.42C01F"
    with pytest.raises(ValueError):
        h264.codec_string(b"\x68\x00\x00\x00")
