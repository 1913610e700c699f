"""GPU H.264 with NVENC through PyNvVideoCodec (2.x).

RGB(A) frames are converted on the GPU to NV12 with the same matrix and range as every
other path (convert.rgb_to_i420 with CuPy), then NVENC encodes them with low-latency
settings: ultra-low-latency tuning, P-frames only, CBR, SPS/PPS repeated on every IDR,
IDRs only when the session layer asks (FORCEIDR). Device frames never leave the GPU:
PyNvVideoCodec copies the NV12 planes device-to-device into its own input surface.
Host frames are uploaded once.

What PyNvVideoCodec cannot be told is fixed in the bitstream instead: its
``colorspace`` option tags streams as full range whatever the samples are, so the SPS
is re-tagged with the video signal we converted with (h264.retag_sps), which also
promises decoders no frame reordering. The binding may hand packets back a few frames
late (the Video Codec SDK's output delay); they are queued and leave one per frame, in
order, so every unit the session layer sees is exactly one access unit.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections import deque
from typing import Any

from . import convert, h264
from .base import (
    CHROMA_420,
    EncoderSettings,
    EncoderUnavailable,
    Picture,
    scaled_size,
    target_bitrate,
)
from .gpu import cupy_unavailable_reason

VIDEO_SIGNAL = h264.VideoSignal(
    full_range=False,
    primaries=convert.VUI_PRIMARIES,
    transfer=convert.VUI_TRANSFER,
    matrix=convert.VUI_MATRIX,
)
_NO_IDR_PERIOD = str(1 << 30)  # IDRs come from the session layer


# -- the probe: does an NVENC session really open here? ---------------------------------


@functools.cache
def nvenc_unavailable_reason() -> str | None:
    """None if an NVENC H.264 session really opens on this machine, else why not."""
    if (reason := cupy_unavailable_reason()) is not None:
        return reason
    try:
        import PyNvVideoCodec as nvc
    except ImportError:
        return "PyNvVideoCodec is not installed (pip install 'rfb[gpu]')"
    except Exception as exc:  # it loads libnvidia-encode at import and raises if absent
        return f"PyNvVideoCodec cannot load: {_first_line(exc)}"
    return nvenc_session_problem(nvc)


def nvenc_session_problem(nvc: Any) -> str | None:
    """Open (and close) a session with rfb's own options; None if that works."""
    if not hasattr(nvc, "NV_ENC_PIC_FLAGS"):
        version = getattr(nvc, "__version__", "?")
        return f"PyNvVideoCodec {version} cannot force IDRs; 2.0 or newer is needed"
    get_caps = getattr(nvc, "GetEncoderCaps", None)
    if get_caps is not None:
        with contextlib.suppress(Exception):  # opening a session below says why
            if get_caps(codec="h264").get("num_encoder_engines") == 0:
                return "this GPU has no NVENC engine (data-centre GPUs such as H100/H200)"
    try:
        enc = nvc.CreateEncoder(256, 256, "NV12", False,
                                **encoder_options(256, 256, EncoderSettings()))  # fmt: skip
        with contextlib.suppress(Exception):
            enc.EndEncode()
    except Exception as exc:  # no engine, or a driver without NVENC
        return f"no NVENC session: {describe_nvenc_error(exc)}"
    return None


# NVENCSTATUS values (nvEncodeAPI.h) a session's opening meets, with what they mean here.
NVENC_STATUS = {
    1: ("NV_ENC_ERR_NO_ENCODE_DEVICE", "no GPU here can encode"),
    2: (
        "NV_ENC_ERR_UNSUPPORTED_DEVICE",
        "this GPU has no usable NVENC engine (data-centre GPUs such as the H100 and H200 "
        "have none)",
    ),
    10: ("NV_ENC_ERR_OUT_OF_MEMORY", "out of memory, or the driver's session limit is reached"),
    15: ("NV_ENC_ERR_INVALID_VERSION", "the NVIDIA driver is older than PyNvVideoCodec needs"),
}


def describe_nvenc_error(exc: BaseException) -> str:
    """One line from a PyNvVideoCodec exception, naming the NVENC status where it has one.

    Its messages are several lines whose first is only a prefix (seen on an H200:
    ``PyNvEncoderCaps : \nError code : 2\n...returned error 2\nat ...cpp:1103``).
    """
    text = str(exc)
    found = re.search(r"returned error (\d+)", text) or re.search(r"Error code : (\d+)", text)
    if found is not None:
        code = int(found.group(1))
        name, meaning = NVENC_STATUS.get(code, (f"NVENC status {code}", "see nvEncodeAPI.h"))
        return f"{name} ({code}): {meaning}"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines()]
    useful = [ln for ln in lines if ln and not ln.endswith(":")]
    return useful[0] if useful else type(exc).__name__


# -- the encoder -------------------------------------------------------------------------


def encoder_options(width: int, height: int, settings: EncoderSettings) -> dict[str, str]:
    """CreateEncoder keyword options; PyNvVideoCodec parses every value from a string.

    ``width`` x ``height`` is the published size (the bitrate follows it). ``bf`` is left
    out on purpose: PyNvVideoCodec copies it into frameIntervalP, where 0 means
    all-intra; unset, the low-latency tuning gives P-frames only.
    """
    fps = max(1, round(settings.fps))
    bitrate = target_bitrate(settings, width, height)
    return {
        "codec": "h264",
        "preset": "P3",
        "tuning_info": "ultra_low_latency",
        "rc": "cbr",
        "fps": str(fps),
        "bitrate": str(bitrate),
        "maxbitrate": str(bitrate),
        "vbvbufsize": str(max(1, int(bitrate * settings.vbv_s))),  # as the libx264 path
        "repeatspspps": "1",
        "gop": _NO_IDR_PERIOD,
        "idrperiod": _NO_IDR_PERIOD,
    }


def packets_of(out: Any) -> list[bytes]:
    """Access units from one Encode() result: a list of dicts with 'data' (2.x), or bytes."""
    if not out:
        return []
    if isinstance(out, (bytes, bytearray, memoryview)):
        return [bytes(out)]
    return [bytes(p["data"]) for p in out if len(p["data"])]


class _Plane:
    """One plane as PyNvVideoCodec reads it: an object with __cuda_array_interface__."""

    def __init__(self, arr: Any) -> None:
        self._arr = arr  # keeps the memory alive while the encoder copies from it
        self.__cuda_array_interface__ = arr.__cuda_array_interface__


class _Nv12Frame:
    """NV12 in the two-plane form PyNvVideoCodec's Encode() takes (``cuda()``)."""

    def __init__(self, nv12: Any, plane: type = _Plane) -> None:
        h2, w = nv12.shape  # (H*3/2, W) uint8, C-contiguous: UV follows Y, same pitch
        h = h2 * 2 // 3
        luma = nv12[:h].reshape(h, w, 1)
        chroma = nv12[h:].reshape(h // 2, w // 2, 2)
        self._planes = [plane(luma), plane(chroma)]

    def cuda(self) -> list[Any]:
        return self._planes


class NvencEncoder:
    name = "nvenc"
    accepts_device = True

    def __init__(
        self,
        width: int,
        height: int,
        settings: EncoderSettings,
        *,
        nvc: Any = None,
        xp: Any = None,
        plane: type = _Plane,
    ) -> None:
        """``nvc``/``xp``/``plane`` stand in for PyNvVideoCodec, CuPy and the CUDA
        plane wrapper in tests; left out, the real ones are loaded. 4:2:0 only (NV12):
        a 4:4:4 settings is libx264's (gpu.choose_h264_backend)."""
        if settings.chroma != CHROMA_420:
            raise ValueError(f"NVENC codes 4:2:0 here, not chroma {settings.chroma!r}")
        if nvc is None:
            reason = nvenc_unavailable_reason()
            if reason is not None:
                raise EncoderUnavailable(reason)
            import cupy
            import PyNvVideoCodec

            nvc, xp = PyNvVideoCodec, cupy
        self._nvc, self._xp, self._plane = nvc, xp, plane
        self.width, self.height = width, height
        self.coded_width, self.coded_height = scaled_size(width, height, settings.scale, True)
        self._scaled = (self.coded_width, self.coded_height) != convert.even_size(width, height)
        options = encoder_options(width, height, settings)
        self._enc = nvc.CreateEncoder(self.coded_width, self.coded_height, "NV12", False,
                                      **options)  # fmt: skip
        self._force_idr = nvc.NV_ENC_PIC_FLAGS.FORCEIDR
        self._queue: deque[bytes] = deque()
        self._retagged: dict[bytes, bytes] = {}  # NVENC's SPS -> ours; the same every IDR
        self.codec = "avc1.42C01F"  # replaced by the first SPS actually produced

    def encode(self, pixels: Any, keyframe: bool, timestamp_us: int) -> Picture | None:
        h, w = pixels.shape[:2]
        if (w, h) != (self.width, self.height):
            raise ValueError(f"encoder is {self.width}x{self.height}, frame is {w}x{h}")
        xp = self._xp
        if not isinstance(pixels, xp.ndarray):
            pixels = xp.asarray(pixels)  # a host frame: uploaded once
        if self._scaled:  # a lower rung: area-scaled on the GPU
            pixels = convert.resize_area(pixels, self.coded_width, self.coded_height, xp)
        y, u, v = convert.rgb_to_i420(pixels, xp=xp)
        frame = _Nv12Frame(convert.nv12_packed(y, u, v, xp=xp), self._plane)
        out = self._enc.Encode(frame, self._force_idr) if keyframe else self._enc.Encode(frame)
        self._queue.extend(packets_of(out))
        if not self._queue:
            return None  # the binding's output delay: this frame leaves with a later call
        data = self._retag(self._queue.popleft())
        is_key = h264.is_idr(data)
        return Picture(data, is_key, self.codec, self.coded_width, self.coded_height)

    def _retag(self, data: bytes) -> bytes:
        sps = h264.find_sps(data)
        if sps is None:
            return data
        ours = self._retagged.get(sps)
        if ours is None:
            ours = self._retagged[sps] = h264.retag_sps(sps, VIDEO_SIGNAL)
            self.codec = h264.codec_string(ours)
        return data.replace(sps, ours, 1)

    def close(self) -> None:
        enc, self._enc = self._enc, None
        if enc is not None:
            with contextlib.suppress(Exception):
                enc.EndEncode()
