"""H.264 Annex B helpers: NAL splitting, SPS fields and the WebCodecs codec string."""

from __future__ import annotations

from collections.abc import Iterator

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


def _unescape(rbsp: bytes) -> bytes:
    return rbsp.replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u(self, n: int) -> int:
        v = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def sps_vui_colour(sps: bytes) -> dict[str, int] | None:
    """Return the VUI colour description of a (non-High) SPS, or None when absent.

    Keys: full_range, primaries, transfer, matrix (ISO/IEC 23091-2 code points).
    Used by tests to prove the stream says which matrix it was converted with.
    """
    b = _Bits(_unescape(sps[1:]))
    profile_idc = b.u(8)
    b.u(16)  # constraint flags + level
    b.ue()  # sps id
    if profile_idc in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma = b.ue()
        if chroma == 3:
            b.u(1)
        b.ue()
        b.ue()
        b.u(1)
        if b.u(1):  # scaling matrices: not produced by our encoders
            raise ValueError("SPS scaling matrices are not supported")
    b.ue()  # log2_max_frame_num
    poc_type = b.ue()
    if poc_type == 0:
        b.ue()
    elif poc_type == 1:
        b.u(1)
        b.se()
        b.se()
        for _ in range(b.ue()):
            b.se()
    b.ue()  # max_num_ref_frames
    b.u(1)
    b.ue()  # width in mbs
    b.ue()  # height in map units
    if not b.u(1):  # frame_mbs_only
        b.u(1)
    b.u(1)  # direct_8x8
    if b.u(1):  # cropping
        b.ue()
        b.ue()
        b.ue()
        b.ue()
    if not b.u(1):  # vui present
        return None
    if b.u(1) and b.u(8) == 255:  # aspect ratio info, then an extended SAR
        b.u(32)
    if b.u(1):  # overscan
        b.u(1)
    if not b.u(1):  # video signal type
        return None
    b.u(3)
    full_range = b.u(1)
    if not b.u(1):  # colour description
        return {"full_range": full_range}
    return {"full_range": full_range, "primaries": b.u(8), "transfer": b.u(8), "matrix": b.u(8)}
