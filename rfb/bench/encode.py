"""Encode measurement: the encoders to try, one case timed and scored, its figures."""

from __future__ import annotations

import functools
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..encoders import convert
from ..encoders.base import EncoderSettings, EncoderUnavailable
from .figures import percentile, psnr

WARMUP = 3  # first encodes left out of the figures (x264's lookahead-free start, caches)
MIN_FRAMES = 10  # measured frames a case gets whatever --budget says
BUDGET_S = 4.0  # seconds a case may take once it has MIN_FRAMES
PSNR_SAMPLES = 8  # decoded frames compared with the source per case


@dataclass(slots=True)
class EncodeResult:
    """One encoder on one pattern at one size."""

    encoder: str
    pattern: str
    width: int
    height: int
    frames: int
    convert_ms_p50: float | None  # None: the codec converts inside (images)
    convert_ms_p95: float | None
    encode_ms_p50: float
    encode_ms_p95: float
    total_ms_p50: float  # conversion + encode of one frame
    total_ms_p95: float
    bytes_per_frame: float
    psnr_db: float  # inf: lossless
    max_fps: float
    settings: dict[str, Any] = field(default_factory=dict)
    kind: str = "encode"

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["psnr_db"] = None if math.isinf(self.psnr_db) else round(self.psnr_db, 2)
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = round(v, 3)
        return out


def summarise(
    encoder: str,
    pattern: str,
    size: tuple[int, int],
    convert_s: Sequence[float] | None,
    encode_s: Sequence[float],
    nbytes: Sequence[int],
    scores: Sequence[float],
    settings: dict[str, Any] | None = None,
) -> EncodeResult:
    """Figures of one case from per-frame seconds (warm-up already left out)."""
    conv = [1000 * x for x in convert_s] if convert_s is not None else None
    enc = [1000 * x for x in encode_s]
    total = [c + e for c, e in zip(conv, enc, strict=True)] if conv is not None else enc
    busy = sum(total) / 1000
    return EncodeResult(
        encoder=encoder,
        pattern=pattern,
        width=size[0],
        height=size[1],
        frames=len(enc),
        convert_ms_p50=percentile(conv, 50) if conv is not None else None,
        convert_ms_p95=percentile(conv, 95) if conv is not None else None,
        encode_ms_p50=percentile(enc, 50),
        encode_ms_p95=percentile(enc, 95),
        total_ms_p50=percentile(total, 50),
        total_ms_p95=percentile(total, 95),
        bytes_per_frame=float(np.mean(nbytes)) if nbytes else math.nan,
        psnr_db=min(float(np.mean(scores)), math.inf) if scores else math.nan,
        max_fps=len(total) / busy if busy > 0 else math.inf,
        settings=settings or {},
    )


def floor_record(
    path: EncodeResult, floor_encode: EncodeResult, conversions: dict[str, float]
) -> dict[str, Any]:
    """rfb's H.264 path (its conversion + its preset) against the floor: the fastest
    conversion measured for this layout plus x264 ultrafast, from the same run."""
    fastest = min(conversions, key=lambda k: conversions[k])
    floor_ms = conversions[fastest] + floor_encode.encode_ms_p50
    return {
        "kind": "floor",
        "pattern": path.pattern,
        "width": path.width,
        "height": path.height,
        "path": path.encoder,
        "path_ms": round(path.total_ms_p50, 3),
        "floor_ms": round(floor_ms, 3),
        "floor_conversion": fastest,
        "ratio": round(path.total_ms_p50 / floor_ms, 3) if floor_ms > 0 else None,
    }


@dataclass(frozen=True, slots=True)
class Case:
    """An encoder to measure: ``make(w, h)`` opens one; ``video``: decode as H.264."""

    name: str
    make: Callable[[int, int], Any]
    video: bool
    settings: dict[str, Any]


def cases(preset: str, quality: int, fps: float, bitrate: int) -> tuple[list[Case], dict[str, str]]:
    """The encoders that can run here, and why each other one cannot."""
    from ..encoders import image

    found: list[Case] = []
    skipped: dict[str, str] = {}
    img = EncoderSettings(quality=quality, fps=fps)

    def jpeg(w: int, h: int) -> Any:
        return image.JpegEncoder(w, h, img)

    found.append(Case(f"jpeg q{quality}", jpeg, False, {"quality": quality}))
    found.append(Case("png", lambda w, h: image.PngEncoder(w, h, img), False, {}))
    found.append(
        Case(
            f"webp q{quality}",
            lambda w, h: image.WebpEncoder(w, h, img),
            False,
            {"quality": quality},
        )
    )
    try:
        from ..encoders.x264 import X264Encoder, load_av

        load_av()
    except EncoderUnavailable as exc:
        skipped["x264"] = str(exc)
    else:
        # The stream's preset, and the next one either side of the default for the trade-off.
        presets = [preset] + [p for p in ("ultrafast", "superfast") if p != preset]
        for p in presets:
            s = EncoderSettings(bitrate=bitrate, fps=fps, preset=p)
            found.append(
                Case(
                    f"x264 {p}",
                    functools.partial(X264Encoder, settings=s),
                    True,
                    {"preset": p, "bitrate": bitrate or "auto"},
                )
            )
    from ..encoders import nvenc

    why = nvenc.nvenc_unavailable_reason()
    if why is None:
        from ..encoders.nvenc import NvencEncoder

        s = EncoderSettings(bitrate=bitrate, fps=fps)
        found.append(
            Case("nvenc", lambda w, h: NvencEncoder(w, h, s), True, {"bitrate": bitrate or "auto"})
        )
    else:
        skipped["nvenc"] = why
    return found, skipped


class _Decoder:
    """Decodes what a case made back to RGB, for PSNR."""

    def __init__(self, video: bool) -> None:
        self._ctx: Any = None
        if video:
            from ..encoders.x264 import load_av

            av = load_av()
            self._av = av
            self._ctx = av.CodecContext.create("h264", "r")

    def __call__(self, data: bytes) -> list[np.ndarray]:
        if self._ctx is None:
            from PIL import Image

            return [np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))]
        out = []
        for frame in self._ctx.decode(self._av.Packet(data)):
            rgb = frame.reformat(
                format="rgb24",
                src_colorspace=convert.SWSCALE_COLORSPACE,
                src_color_range=convert.SWSCALE_RANGE,
            )
            out.append(rgb.to_ndarray())
        return out


def measure(
    case: Case, pattern: str, frames: list[np.ndarray], fps: float, budget_s: float = math.inf
) -> EncodeResult:
    """Encode ``frames`` back to back with a fresh encoder; IDR every second, as a stream.

    Stops early once ``budget_s`` has gone by and MIN_FRAMES are measured (PNG at 4K
    takes half a second a frame)."""
    h, w = frames[0].shape[:2]
    enc = case.make(w, h)
    decode = _Decoder(case.video)
    split = hasattr(enc, "to_yuv") and hasattr(enc, "encode_yuv")
    keyframe_every = max(1, round(fps))
    conv_s: list[float] = []
    enc_s: list[float] = []
    nbytes: list[int] = []
    scores: list[float] = []
    sample_every = max(1, (len(frames) - WARMUP) // PSNR_SAMPLES)
    pending: list[np.ndarray] = []  # sources of pictures the encoder still holds
    start = time.monotonic()
    try:
        for i, src in enumerate(frames):
            if len(enc_s) >= MIN_FRAMES and time.monotonic() - start > budget_s:
                break
            key = i % keyframe_every == 0
            ts = int(i * 1e6 / fps)
            t0 = time.perf_counter()
            if split:
                yuv = enc.to_yuv(src)
                t1 = time.perf_counter()
                pic = enc.encode_yuv(yuv, key, ts)
            else:
                t1 = t0
                pic = enc.encode(src, key, ts)
            c, e = t1 - t0, time.perf_counter() - t1
            pending.append(src)
            if i >= WARMUP:
                conv_s.append(c)
                enc_s.append(e)
            if pic is None:
                continue
            source = pending.pop(0)
            if i >= WARMUP:
                nbytes.append(len(pic.data))
            for out in decode(pic.data):  # every frame: H.264 needs the whole sequence
                if i >= WARMUP and (i - WARMUP) % sample_every == 0:
                    scores.append(psnr(source, out[: source.shape[0], : source.shape[1]]))
    finally:
        enc.close()
    return summarise(
        case.name, pattern, (w, h), conv_s if split else None, enc_s, nbytes, scores, case.settings
    )
