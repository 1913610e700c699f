"""H.264 Annex B helpers: NAL splitting, SPS fields and the WebCodecs codec string."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9


def iter_nals(data: bytes) -> Iterator[bytes]:
    """Yield NAL units (without start codes) of an Annex B byte stream."""
    n = len(data)
    starts: list[tuple[int, int]] = []  # (start code index, payload index)
    i = 0
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0:
            break
        code = i - 1 if i > 0 and data[i - 1] == 0 else i
        starts.append((code, i + 3))
        i += 3
    for k, (_, begin) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else n
        if begin < end:
            yield data[begin:end]


def nal_types(data: bytes) -> list[int]:
    return [nal[0] & 0x1F for nal in iter_nals(data)]


def is_idr(data: bytes) -> bool:
    return NAL_IDR in nal_types(data)


def find_sps(data: bytes) -> bytes | None:
    for nal in iter_nals(data):
        if nal[0] & 0x1F == NAL_SPS:
            return nal
    return None


def codec_string(sps: bytes) -> str:
    """``avc1.PPCCLL`` from an SPS NAL: profile_idc, constraint flags, level_idc."""
    if len(sps) < 4 or sps[0] & 0x1F != NAL_SPS:
        raise ValueError("not an SPS NAL unit")
    return f"avc1.{sps[1]:02X}{sps[2]:02X}{sps[3]:02X}"


def _unescape(ebsp: bytes) -> bytes:
    return ebsp.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes so no start code appears inside a NAL."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


# An SPS is a few dozen bytes, so its RBSP is handled as a string of "0"/"1": parsing
# records where each VUI part starts, and rewriting is plain string splicing.


def _ue(v: int) -> str:
    x = v + 1
    return "0" * (x.bit_length() - 1) + format(x, "b")


def _u(v: int, n: int) -> str:
    return format(v, f"0{n}b")


class _Reader:
    def __init__(self, bits: str) -> None:
        self.bits = bits
        self.pos = 0

    def u(self, n: int) -> int:
        if self.pos + n > len(self.bits):
            raise ValueError("SPS ends early")
        v = int(self.bits[self.pos : self.pos + n] or "0", 2)
        self.pos += n
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad Exp-Golomb code in SPS")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


_HIGH_PROFILES = (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135)


@dataclass(frozen=True, slots=True)
class VideoSignal:
    """The VUI video_signal_type: range and ISO/IEC 23091-2 colour code points."""

    full_range: bool
    primaries: int
    transfer: int
    matrix: int


@dataclass(frozen=True, slots=True)
class _SpsLayout:
    """Where the VUI parts of one SPS RBSP lie (bit offsets into its bit string)."""

    bits: str  # RBSP without the NAL header byte and without trailing bits
    max_num_ref_frames: int
    vui_flag: int  # offset of vui_parameters_present_flag
    signal: int | None  # offset of video_signal_type_present_flag (None: no VUI)
    signal_end: int | None  # offset just after the video signal type
    restriction: int | None  # offset of bitstream_restriction_flag
    has_restriction: bool
    max_num_reorder_frames: int | None
    colour: dict[str, int] | None


def _skip_scaling_list(r: _Reader, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + r.se() + 256) % 256
        last = nxt or last


def _skip_hrd(r: _Reader) -> None:
    count = r.ue() + 1
    r.u(8)  # bit_rate_scale, cpb_size_scale
    for _ in range(count):
        r.ue()
        r.ue()
        r.u(1)
    r.u(20)  # four 5-bit delay and offset lengths


def _parse_sps(sps: bytes) -> _SpsLayout:
    if len(sps) < 4 or sps[0] & 0x1F != NAL_SPS:
        raise ValueError("not an SPS NAL unit")
    bits = "".join(format(b, "08b") for b in _unescape(sps[1:])).rstrip("0")
    if not bits:
        raise ValueError("empty SPS")
    bits = bits[:-1]  # rbsp_stop_one_bit
    r = _Reader(bits)
    profile_idc = r.u(8)
    r.u(16)  # constraint flags, level_idc
    r.ue()  # seq_parameter_set_id
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc == 3:
            r.u(1)
        r.ue()  # bit depths
        r.ue()
        r.u(1)
        if r.u(1):  # seq_scaling_matrix_present_flag
            for i in range(12 if chroma_format_idc == 3 else 8):
                if r.u(1):
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.u(1)
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    max_refs = r.ue()
    r.u(1)  # gaps_in_frame_num_value_allowed_flag
    r.ue()  # pic_width_in_mbs_minus1
    r.ue()  # pic_height_in_map_units_minus1
    if not r.u(1):  # frame_mbs_only_flag
        r.u(1)
    r.u(1)  # direct_8x8_inference_flag
    if r.u(1):  # frame_cropping_flag
        for _ in range(4):
            r.ue()
    vui_flag = r.pos
    if not r.u(1):
        return _SpsLayout(bits, max_refs, vui_flag, None, None, None, False, None, None)
    if r.u(1) and r.u(8) == 255:  # aspect_ratio_info, Extended_SAR
        r.u(32)
    if r.u(1):  # overscan_info_present_flag
        r.u(1)
    signal = r.pos
    colour: dict[str, int] | None = None
    if r.u(1):
        r.u(3)  # video_format
        colour = {"full_range": r.u(1)}
        if r.u(1):
            colour.update(primaries=r.u(8), transfer=r.u(8), matrix=r.u(8))
    signal_end = r.pos
    if r.u(1):  # chroma_loc_info_present_flag
        r.ue()
        r.ue()
    if r.u(1):  # timing_info_present_flag
        r.u(65)
    nal_hrd = r.u(1)
    if nal_hrd:
        _skip_hrd(r)
    vcl_hrd = r.u(1)
    if vcl_hrd:
        _skip_hrd(r)
    if nal_hrd or vcl_hrd:
        r.u(1)  # low_delay_hrd_flag
    r.u(1)  # pic_struct_present_flag
    restriction = r.pos
    reorder = None
    has_restriction = bool(r.u(1))
    if has_restriction:
        r.u(1)  # motion_vectors_over_pic_boundaries_flag
        for _ in range(4):  # bytes/bits denominators, log2 max motion vector lengths
            r.ue()
        reorder = r.ue()
        r.ue()  # max_dec_frame_buffering
    if r.pos != len(bits):
        raise ValueError("SPS has bits after its VUI")
    return _SpsLayout(
        bits, max_refs, vui_flag, signal, signal_end, restriction, has_restriction, reorder,
        colour,
    )  # fmt: skip


def sps_vui_colour(sps: bytes) -> dict[str, int] | None:
    """The VUI colour description of an SPS, or None when it has no video signal type.

    Keys: full_range, and primaries, transfer, matrix (ISO/IEC 23091-2 code points)
    when a colour description is present.
    """
    return _parse_sps(sps).colour


def sps_max_num_reorder_frames(sps: bytes) -> int | None:
    """max_num_reorder_frames from the VUI, None when the SPS does not say."""
    return _parse_sps(sps).max_num_reorder_frames


def retag_sps(sps: bytes, signal: VideoSignal) -> bytes:
    """The same SPS with ``signal`` as its VUI video signal type and no frame reordering.

    Encoders that cannot be told the colour we converted with (NVENC through
    PyNvVideoCodec tags its streams full range, or not at all) still reach the browser
    tagged correctly. A missing bitstream restriction is added with
    max_num_reorder_frames = 0 so decoders output each picture at once. Everything
    else is copied bit for bit, so the decoded samples do not change.
    """
    lay = _parse_sps(sps)
    block = (
        "1" + _u(5, 3) + _u(int(signal.full_range), 1) + "1"
        + _u(signal.primaries, 8) + _u(signal.transfer, 8) + _u(signal.matrix, 8)
    )  # fmt: skip
    no_reorder = "1" + "1" + _ue(2) + _ue(1) + _ue(15) + _ue(15) + _ue(0)
    no_reorder += _ue(max(1, lay.max_num_ref_frames))
    b = lay.bits
    if lay.signal is None:  # no VUI: aspect, overscan absent; our signal; no timing/HRD
        out = b[: lay.vui_flag] + "1" + "00" + block + "0" + "0" + "00" + "0" + no_reorder
    else:
        assert lay.signal_end is not None and lay.restriction is not None
        tail = b[lay.restriction :] if lay.has_restriction else no_reorder
        out = b[: lay.signal] + block + b[lay.signal_end : lay.restriction] + tail
    out += "1"  # rbsp_stop_one_bit
    out += "0" * (-len(out) % 8)
    rbsp = int(out, 2).to_bytes(len(out) // 8, "big")
    return sps[:1] + _escape(rbsp)
