"""A stand-in for PyNvVideoCodec 2.x that encodes with libx264 on the CPU.

It copies the parts of the real binding that rfb's NVENC encoder depends on, as read
in PyNvVideoCodec 2.2.4 (its samples and docstrings) and 1.0.2's source:

- CreateEncoder(width, height, "NV12", use_cpu_buffer, **options): every option value
  arrives as a string;
- Encode(frame) / Encode(frame, NV_ENC_PIC_FLAGS.FORCEIDR) with ``frame.cuda()``
  returning a Y plane (H, W, 1) and an interleaved UV plane (H/2, W/2, 2) that follows
  Y in memory with the same pitch; the binding rejects any other layout;
- the result is a list of dicts with 'data', 'timestamp' and 'picture_type', handed back
  ``delay`` frames late (the Video Codec SDK's default extra output delay is 3);
- there is no ``profile`` option: NVENC picks one (this fake makes High).

The fake tags its streams full range, as the real binding's ``colorspace`` option does,
so a test that passes proves rfb's SPS re-tagging, not the encoder's manners.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import Any

import av
import numpy as np


class HostPlane:
    """NumPy stand-in for the CUDA plane wrapper: same interface dict, host pointer."""

    def __init__(self, arr: np.ndarray) -> None:
        self.array = arr
        ai = arr.__array_interface__
        self.__cuda_array_interface__ = {
            "shape": ai["shape"],
            "typestr": ai["typestr"],
            "data": ai["data"],
            "strides": arr.strides,
            "version": 3,
        }


class _Flags:
    FORCEIDR = 4  # NV_ENC_PIC_FLAG_FORCEIDR
    OUTPUT_SPSPPS = 8


class FakeSession:
    def __init__(self, width: int, height: int, fmt: str, options: dict[str, Any],
                 delay: int) -> None:  # fmt: skip
        assert fmt == "NV12"
        self.width, self.height = width, height
        self.options = options
        self.delay = delay
        self.frames_in = 0
        self.forced: list[int] = []
        self._late: deque[dict[str, Any]] = deque()
        cc = av.CodecContext.create("libx264", "w")
        cc.width, cc.height, cc.pix_fmt = width, height, "yuv420p"
        cc.time_base = Fraction(1, int(options.get("fps", "30")))
        cc.color_range = 2  # full range: what PyNvVideoCodec's colorspace option writes
        cc.options = {
            "profile": "high",
            "preset": "veryfast",  # ultrafast drops to Baseline; NVENC says High
            "tune": "zerolatency",
            "forced-idr": "1",
            "x264-params": "annexb=1:repeat-headers=1:keyint=infinite:scenecut=0:bframes=0",
        }
        cc.open()
        self._cc = cc

    def Encode(self, frame: Any, flags: int = 0) -> list[dict[str, Any]]:
        y_plane, uv_plane = frame.cuda()
        y_cai, uv_cai = y_plane.__cuda_array_interface__, uv_plane.__cuda_array_interface__
        w, h = self.width, self.height
        if y_cai["shape"] != (h, w, 1) or uv_cai["shape"] != (h // 2, w // 2, 2):
            raise ValueError(f"unsupported NV12 planes {y_cai['shape']} {uv_cai['shape']}")
        if y_cai["strides"][0] != uv_cai["strides"][0]:
            raise ValueError("unsupported argument : strides of y and uv plane are different")
        if uv_cai["data"][0] != y_cai["data"][0] + w * h:
            raise ValueError("Unsupported surface allocation. uv plane must follow yplane.")
        y = y_plane.array.reshape(h, w)
        uv = uv_plane.array.reshape(h // 2, w // 2, 2)
        i420 = np.concatenate([y.ravel(), uv[..., 0].ravel(), uv[..., 1].ravel()])
        vf = av.VideoFrame.from_ndarray(i420.reshape(h * 3 // 2, w), format="yuv420p")
        vf.pts = self.frames_in
        if flags & _Flags.FORCEIDR:
            vf.pict_type = av.video.frame.PictureType.I
            self.forced.append(self.frames_in)
        self.frames_in += 1
        for p in self._cc.encode(vf):
            self._late.append({"data": bytes(p), "timestamp": p.pts, "picture_type": 0})
        out = []
        while len(self._late) > self.delay:
            out.append(self._late.popleft())
        return out

    def EndEncode(self) -> list[dict[str, Any]]:
        out = list(self._late)
        self._late.clear()
        return out


class FakeNvc:
    """The module object: ``nvc`` in NvencEncoder(..., nvc=FakeNvc())."""

    __version__ = "2.2.4"
    NV_ENC_PIC_FLAGS = _Flags

    def __init__(self, delay: int = 3, engines: int = 1) -> None:
        self.delay = delay
        self.engines = engines
        self.sessions: list[FakeSession] = []

    def GetEncoderCaps(self, codec: str = "h264") -> dict[str, int]:
        return {"num_encoder_engines": self.engines}

    def CreateEncoder(self, width: int, height: int, fmt: str, use_cpu_buffer: bool,
                      **options: Any) -> FakeSession:  # fmt: skip
        if self.engines == 0:
            raise RuntimeError("NV_ENC_ERR_NO_ENCODE_DEVICE")
        assert use_cpu_buffer is False, "frames are handed over on the device"
        for key, value in options.items():
            if not isinstance(value, str):
                raise TypeError(f"option {key}={value!r}: PyNvVideoCodec parses strings")
        session = FakeSession(width, height, fmt, options, self.delay)
        self.sessions.append(session)
        return session


def use_fake_nvenc(monkeypatch: Any, **fake_kw: Any) -> FakeNvc:
    """Make serve() take the NVENC path with this stand-in (frames stay NumPy)."""
    import functools

    from rfb.encoders import nvenc

    nvc = FakeNvc(**fake_kw)
    monkeypatch.setattr(nvenc, "nvenc_unavailable_reason", lambda: None)
    monkeypatch.setattr(nvenc, "NvencEncoder", functools.partial(
        nvenc.NvencEncoder, nvc=nvc, xp=np, plane=HostPlane))  # fmt: skip
    return nvc
