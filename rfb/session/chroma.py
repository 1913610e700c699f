"""Which chroma format each H.264 viewer gets: 4:4:4 or 4:2:0. Sans I/O.

4:2:0 keeps one colour sample per 2x2 pixels, so one-pixel coloured lines and small
coloured text smear; High 4:4:4 keeps every pixel's colour. At rfb's default bitrate the
``dashboard`` pattern gains about 3 dB of PSNR in 4:4:4 for the same bytes and the same
x264 time (docs/internals/encoders.md, "Chroma"). A viewer gets it only where it said
it decodes it: the browser client asks WebCodecs (``VideoDecoder.isConfigSupported`` of
``avc1.F4001F``) and lists CAP_H264_444 in its hello; over WebRTC its offer lists H.264
with a ``profile-level-id`` of profile 0xF4. pdum.rfb 0.x clients, Firefox, Safari,
recordings and the Janus relay get 4:2:0, as before.

Viewers with the same chroma (and rung) share one encoder; a stream with both kinds
of viewer runs one encoder per kind and rung.
"""

from __future__ import annotations

from ..encoders.base import CHROMA_420, CHROMA_444

AUTO = "auto"
POLICIES = (AUTO, CHROMA_420, CHROMA_444)


def viewer_chroma(policy: str, decodes_444: bool, *, nvenc: bool = False) -> str:
    """The chroma format for one viewer.

    ``policy``: the stream's ``chroma`` option. ``decodes_444``: the viewer said it
    decodes High 4:4:4. ``nvenc``: the stream's H.264 encodes on NVENC here, which rfb
    drives in 4:2:0 only, so ``auto`` keeps that viewer on the GPU encoder rather than
    move its encodes to x264 on the CPU; ``444`` moves them.
    """
    if policy not in POLICIES:
        raise ValueError(f"chroma must be one of {', '.join(POLICIES)}, got {policy!r}")
    if not decodes_444 or policy == CHROMA_420:
        return CHROMA_420
    if policy == AUTO and nvenc:
        return CHROMA_420
    return CHROMA_444
