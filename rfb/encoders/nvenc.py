"""GPU H.264 with NVENC through PyNvVideoCodec.

RGB(A) frames are converted on the GPU to NV12 with the same matrix and range as every
other path (convert.rgb_to_i420 with CuPy), then NVENC encodes them with low-latency
settings: no B-frames, no lookahead, one frame in and one access unit out, SPS/PPS
repeated on every IDR, IDRs only when the session layer asks. Device frames never leave
the GPU; host frames are uploaded once.
"""

from __future__ import annotations

import contextlib
from typing import Any

from . import convert, h264
from .base import EncoderSettings, EncoderUnavailable, Picture
from .gpu import nvenc_unavailable_reason
from .x264 import auto_bitrate


class _Nv12Surface:
    """NV12 on the device, in the two-plane form PyNvVideoCodec reads (``cuda()``)."""

    def __init__(self, nv12: Any) -> None:
        self._nv12 = nv12  # (H*3/2, W) uint8, C-contiguous
        h2, w = nv12.shape
        h = h2 * 2 // 3
        y = nv12[:h]
        uv = nv12[h:].reshape(h // 2, w // 2, 2)
        self._planes = [_Cai(y.reshape(h, w, 1)), _Cai(uv)]

    def cuda(self) -> list[Any]:
        return self._planes


class _Cai:
    def __init__(self, arr: Any) -> None:
        self.__cuda_array_interface__ = arr.__cuda_array_interface__
        self._keep = arr


class NvencEncoder:
    name = "nvenc"
    accepts_device = True

    def __init__(self, width: int, height: int, settings: EncoderSettings) -> None:
        reason = nvenc_unavailable_reason()
        if reason is not None:
            raise EncoderUnavailable(reason)
        import cupy
        import PyNvVideoCodec as nvc

        self._cp = cupy
        self._nvc = nvc
        self.width, self.height = width, height
        self.coded_width, self.coded_height = convert.even_size(width, height)
        bitrate = settings.bitrate or auto_bitrate(width, height, settings.fps)
        options: dict[str, Any] = {
            "codec": "h264",
            "preset": "P3",
            "tuning_info": "ultra_low_latency",
            "rc": "cbr",
            "fps": round(settings.fps),
            "bitrate": int(bitrate),
            "bf": 0,
            "lookahead": 0,
            "repeatspspps": 1,
            "idrperiod": 1 << 30,  # IDRs come from the session layer (FORCEIDR)
            "gop": 1 << 30,
            "profile": "baseline",  # every browser's decoder, and WebRTC's 42e01f
        }
        try:
            self._enc = nvc.CreateEncoder(self.coded_width, self.coded_height, "NV12", False,
                                          **options)  # fmt: skip
        except Exception:
            options.pop("profile")  # older bindings do not take it; the SPS tells the truth
            self._enc = nvc.CreateEncoder(self.coded_width, self.coded_height, "NV12", False,
                                          **options)  # fmt: skip
        self._force_idr = int(getattr(nvc, "FORCEIDR", 0) or 0)
        self.codec = "avc1.42C01F"

    def encode(self, pixels: Any, keyframe: bool, timestamp_us: int) -> Picture | None:
        cp = self._cp
        if not isinstance(pixels, cp.ndarray):
            pixels = cp.asarray(pixels)  # a host frame: uploaded once
        y, u, v = convert.rgb_to_i420(pixels, xp=cp)
        surface = _Nv12Surface(convert.nv12_packed(y, u, v, xp=cp))
        out = self._enc.Encode(surface, self._force_idr) if keyframe else self._enc.Encode(surface)
        data = bytes(out) if out else b""
        if not data:
            return None
        is_key = h264.is_idr(data)
        if is_key and (sps := h264.find_sps(data)) is not None:
            self.codec = h264.codec_string(sps)
        return Picture(data, is_key, self.codec, self.coded_width, self.coded_height)

    def close(self) -> None:
        enc, self._enc = self._enc, None
        if enc is not None:
            with contextlib.suppress(Exception):
                enc.EndEncode()
