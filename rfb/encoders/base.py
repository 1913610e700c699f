"""The one interface every encoder backend implements."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class EncoderUnavailable(RuntimeError):
    """An encoder backend cannot run here; the message says what to install."""


_pyav_checked: set[str] = set()
_pyav_lock = threading.Lock()


def load_pyav(codec: str, needs: str, extra: str) -> Any:
    """PyAV, imported on first use, with ``codec`` among its encoders; else
    EncoderUnavailable naming the extra to install ("``needs`` needs PyAV: ...")."""
    with _pyav_lock:
        try:
            import av
        except ImportError as exc:
            raise EncoderUnavailable(f"{needs} needs PyAV: pip install 'rfb[{extra}]'") from exc
        if codec not in _pyav_checked:
            if codec not in av.codecs_available:
                raise EncoderUnavailable(f"this PyAV build has no {codec} encoder")
            _pyav_checked.add(codec)
    return av


# x264's presets fast enough for live video, fastest first. ultrafast is the default:
# on one viewer of the 720p scene it has the lowest publish -> decoded latency (about
# 0.9 ms, 9 % below superfast) and a tenth less server CPU, for 0.15-0.3 dB of PSNR at
# the same bitrate (docs/internals/encoders.md); the slower ones cost 2x and more.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
DEFAULT_PRESET = "ultrafast"

# H.264 chroma sampling. 4:2:0 (Constrained Baseline) halves chroma in each direction;
# 4:4:4 (High 4:4:4 Predictive, profile_idc 244, ``avc1.F400xx``) keeps it at full
# resolution, for 1 px coloured lines and small coloured text (benchmarks/bench_chroma.py).
CHROMA_420 = "420"
CHROMA_444 = "444"
CHROMAS = (CHROMA_420, CHROMA_444)


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    """What a viewer group asks of its encoder. Part of the group key.

    A rung of the quality ladder is one of these: a lower ``bitrate`` (or ``quality``),
    and lower down a ``scale`` below 1 or a lower ``fps``.
    """

    quality: int = 80  # images: 1..100
    bitrate: int = 4_000_000  # video: bits per second (0: auto_bitrate of the published size)
    bitrate_scale: float = 1.0  # a rung's share of ``bitrate`` (so rungs follow resizes)
    fps: float = 30.0  # expected frame rate (rate control, duration); encodes are capped at it
    keyframe_interval_s: float = 1.0  # video: periodic IDR
    scale: float = 1.0  # coded size = published size x scale (rounded, even for video)
    vbv_s: float = 0.25  # video: rate-control buffer in seconds of bitrate (bounds an IDR)
    still: bool = False  # one high-quality picture of a scene at rest (see EncoderGroup)
    preset: str = DEFAULT_PRESET  # x264's speed/quality (X264_PRESETS; docs/internals/encoders.md)
    crf: int | None = None  # libx264 constant quality instead of ``bitrate`` (recordings)
    threads: int = 0  # libx264 slice threads; 0: x264_threads() of the size and the CPUs
    # H.264 chroma (CHROMAS): "420", or "444" = High 4:4:4 Predictive, full-resolution
    # chroma (always libx264, never NVENC).
    chroma: str = CHROMA_420


def x264_threads(width: int, height: int, cpus: int) -> int:
    """libx264's slice threads for one encoder: more for bigger frames, at most half the CPUs.

    With ``tune=zerolatency`` each thread encodes one slice of the same frame, so threads
    cut the encode time without adding a frame of delay. Two is best at 720p on a 2-core
    machine (docs/internals/encoders.md); a big frame on a many-core machine takes one per ~1/4
    megapixel, leaving half the CPUs to conversion, other rungs and other streams.
    """
    by_size = -(-width * height // 250_000)  # ceil: 4 at 720p, 9 at 1080p, 34 at 4K
    return max(2, min(by_size, cpus // 2, 16))


def auto_bitrate(width: int, height: int, fps: float) -> int:
    """About 0.1 bit per pixel per frame: ~2.8 Mb/s for 720p30, ~6.2 Mb/s for 1080p30."""
    return int(max(300_000, min(40_000_000, 0.1 * width * height * fps)))


def scaled_size(width: int, height: int, scale: float, even: bool = False) -> tuple[int, int]:
    """The coded size of a ``width`` x ``height`` frame at ``scale`` (even for 4:2:0)."""
    if scale >= 1.0:
        w, h = width, height
    else:
        w, h = max(2, round(width * scale)), max(2, round(height * scale))
    if even:
        w, h = w + (w & 1), h + (h & 1)
    return w, h


def target_bitrate(settings: EncoderSettings, width: int, height: int) -> int:
    """The bits per second a video encoder aims at for frames of the published size."""
    base = settings.bitrate or auto_bitrate(width, height, settings.fps)
    return max(10_000, round(base * settings.bitrate_scale))


@dataclass(frozen=True, slots=True)
class Picture:
    """What an encoder made of one frame."""

    data: bytes
    keyframe: bool
    codec: str  # MIME type for images, WebCodecs codec string for H.264
    width: int  # coded size (H.264 pads odd sizes to even)
    height: int


class Encoder(Protocol):
    """Encodes frames of one size. Called from one worker thread at a time."""

    def encode(self, pixels: np.ndarray, keyframe: bool, timestamp_us: int) -> Picture | None:
        """Encode one (H, W, 3|4) uint8 frame; None when the encoder buffered it."""
        ...

    def close(self) -> None: ...
