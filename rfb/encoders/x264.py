"""CPU H.264 through PyAV's libx264: constrained baseline (or High 4:4:4 Predictive for
full-resolution chroma), Annex B, one frame in, one AU out."""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from typing import Any

import numpy as np

from . import convert, h264
from .base import (
    CHROMA_420,
    CHROMA_444,
    CHROMAS,
    EncoderSettings,
    Picture,
    auto_bitrate,
    load_pyav,
    scaled_size,
    target_bitrate,
    x264_threads,
)

__all__ = ["X264Encoder", "auto_bitrate", "load_av"]

# A still (settings.still): constant quality, at most this many seconds of the bitrate.
STILL_CRF = 18
STILL_BUDGET_S = 2.0

# What each chroma is coded as: (pix_fmt, libx264's profile name, a codec string until the
# first SPS names the real one). "high444" is High 4:4:4 Predictive (profile_idc 244).
_CHROMA = {
    CHROMA_420: ("yuv420p", "baseline", "avc1.42C01F"),
    CHROMA_444: ("yuv444p", "high444", "avc1.F4001F"),
}

def load_av() -> Any:
    """PyAV with libx264, imported on first use; a missing install names the h264 extra."""
    return load_pyav("libx264", "H.264", "h264")


class X264Encoder:
    """libx264 tuned for latency: no B-frames, no lookahead, IDRs only when asked.

    The session layer decides when IDRs happen (periodic and forced), so x264's own
    GOP is infinite and scene-cut detection is off. The rate-control buffer holds
    ``vbv_s`` seconds of bitrate, which bounds an IDR to about that much: on a link that
    just carries the bitrate, an IDR then queues for at most ~``vbv_s``.

    ``settings.scale`` below 1 encodes a smaller picture (a lower rung of the ladder):
    swscale scales and converts in one pass. ``settings.still`` makes an encoder for one
    high-quality IDR of a scene at rest: constant quality (CRF 18), at most
    STILL_BUDGET_S seconds of the bitrate. ``settings.chroma == "444"`` codes yuv444p
    as High 4:4:4 Predictive, everything else the same (coded sizes stay even).
    """

    def __init__(self, width: int, height: int, settings: EncoderSettings) -> None:
        if settings.chroma not in CHROMAS:
            raise ValueError(f"chroma must be one of {CHROMAS}, not {settings.chroma!r}")
        pix_fmt, profile, codec = _CHROMA[settings.chroma]
        self.chroma = settings.chroma
        av = load_av()
        self.width, self.height = width, height
        self.coded_width, self.coded_height = scaled_size(width, height, settings.scale, True)
        self._scaled = (self.coded_width, self.coded_height) != convert.even_size(width, height)
        bitrate = target_bitrate(settings, width, height)
        self.bitrate = bitrate
        kbps = max(1, bitrate // 1000)
        cc = av.CodecContext.create("libx264", "w")
        cc.width = self.coded_width
        cc.height = self.coded_height
        cc.pix_fmt = pix_fmt
        cc.time_base = Fraction(1, 1_000_000)
        cc.framerate = Fraction(settings.fps).limit_denominator(1001)
        cc.thread_count = settings.threads or x264_threads(
            self.coded_width, self.coded_height, os.cpu_count() or 2
        )
        if settings.crf is not None:  # constant quality, no rate cap (a recording's choice)
            rate = [f"crf={settings.crf}"]
        elif settings.still:
            rate = [f"crf={STILL_CRF}", f"vbv-maxrate={kbps}",
                    f"vbv-bufsize={max(1, int(kbps * STILL_BUDGET_S))}"]  # fmt: skip
        else:
            cc.bit_rate = bitrate
            rate = [f"vbv-maxrate={kbps}", f"vbv-bufsize={max(1, int(kbps * settings.vbv_s))}"]
        cc.options = {
            "preset": settings.preset,
            "tune": "zerolatency",
            "profile": profile,
            "forced-idr": "1",
            "x264-params": ":".join(
                (
                    "keyint=infinite",
                    "scenecut=0",
                    "bframes=0",
                    "annexb=1",
                    "repeat-headers=1",
                    *rate,
                    convert.X264_COLOUR_PARAMS,
                )
            ),
        }
        cc.open()
        self._av = av
        self._cc = cc
        self._pict_i = av.video.frame.PictureType.I
        self._pict_none = av.video.frame.PictureType.NONE
        self._last_pts = -1
        self.codec = codec  # replaced by the first SPS actually produced

    name = "x264"
    accepts_device = True  # device frames: GPU conversion, then one copy of the YUV planes

    def to_yuv(self, pixels: Any) -> Any:
        """The colour conversion (and a rung's scaling): RGB(A) -> a yuv420p (or yuv444p)
        VideoFrame."""
        av = self._av
        if not isinstance(pixels, np.ndarray):
            import cupy

            if self._scaled:
                pixels = convert.resize_area(pixels, self.coded_width, self.coded_height, cupy)
            if self.chroma == CHROMA_444:
                planes = convert.yuv444_packed(*convert.rgb_to_yuv444(pixels, xp=cupy), xp=cupy)
                return convert.yuv444p_frame(av, cupy.asnumpy(planes))
            planes = convert.i420_packed(*convert.rgb_to_i420(pixels, xp=cupy), xp=cupy)
            return convert.yuv420p_frame(av, cupy.asnumpy(planes))
        if self.chroma == CHROMA_444:
            return convert.cpu_yuv444(av, pixels, self.coded_width, self.coded_height)
        return convert.cpu_i420(av, pixels, self.coded_width, self.coded_height)

    def encode(self, pixels: Any, keyframe: bool, timestamp_us: int) -> Picture | None:
        h, w = pixels.shape[:2]
        if (w, h) != (self.width, self.height):
            raise ValueError(f"encoder is {self.width}x{self.height}, frame is {w}x{h}")
        return self.encode_yuv(self.to_yuv(pixels), keyframe, timestamp_us)

    def encode_yuv(self, yuv: Any, keyframe: bool, timestamp_us: int) -> Picture | None:
        """Encode a frame to_yuv() made: one access unit, or None while x264 holds it."""
        # pts must grow strictly even when one frame is re-encoded as a forced IDR.
        pts = max(timestamp_us, self._last_pts + 1)
        self._last_pts = pts
        yuv.pts = pts
        yuv.time_base = self._cc.time_base
        yuv.pict_type = self._pict_i if keyframe else self._pict_none
        packets = self._cc.encode(yuv)
        if not packets:
            return None
        data = b"".join(bytes(p) for p in packets)
        is_key = any(p.is_keyframe for p in packets)
        if is_key:
            sps = h264.find_sps(data)
            if sps is not None:
                self.codec = h264.codec_string(sps)
        return Picture(data, is_key, self.codec, self.coded_width, self.coded_height)

    def close(self) -> None:
        cc, self._cc = self._cc, None
        if cc is not None:
            # Draining lets libx264 finish its threads before the context is freed.
            with contextlib.suppress(Exception):
                cc.encode(None)
            del cc
