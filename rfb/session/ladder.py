"""The quality ladder: the rungs a stream offers, from the configured ceiling down.

A rung is one ``EncoderSettings``; viewers on the same rung share one encoder group, so
encode cost grows with the rungs in use, never with the viewers. Pure functions, no I/O.

Video rungs step the bitrate down geometrically from the ceiling (``bitrate``) to
``min_bitrate``. Where a rung's bits per pixel per frame would fall below
``MIN_BITS_PER_PIXEL`` at full size, it encodes a smaller picture (3/4, then 1/2 of each
side: at a low bitrate fewer, cleaner pixels look better than many blocky ones), and below
that half the frame rate. Image rungs lower the JPEG/WebP quality, then the size; PNG
only the size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..encoders.base import EncoderSettings, auto_bitrate, scaled_size, target_bitrate

MIN_BITS_PER_PIXEL = 0.06
SCALES = (1.0, 0.75, 0.5)
RUNG_STEP = 0.7  # each video rung carries about this share of the one above
DEFAULT_MIN_BITRATE = 250_000
DEFAULT_MAX_RUNGS = 8
MIN_FPS = 10.0
# Image rungs: (quality cap, scale), top first; the top uses the configured quality.
_IMAGE_STEPS = ((None, 1.0), (65, 1.0), (50, 1.0), (50, 0.75), (50, 0.5))
# Rough size of a JPEG/WebP picture at these qualities relative to quality 80 (measured
# on the scene pattern); corrected by what the encoder really produced (see Ladder.cost).
_QUALITY_SIZE = ((95, 2.2), (90, 1.6), (80, 1.0), (65, 0.72), (50, 0.58), (30, 0.42), (1, 0.3))


@dataclass(frozen=True, slots=True)
class Ladder:
    """The rungs of one capability, top (index 0) first."""

    rungs: tuple[EncoderSettings, ...]
    is_video: bool

    def __len__(self) -> int:
        return len(self.rungs)

    def __getitem__(self, index: int) -> EncoderSettings:
        return self.rungs[index]

    def bitrate(self, index: int, width: int, height: int) -> int:
        """Video: the bits per second rung ``index`` aims at for frames of this size."""
        return target_bitrate(self.rungs[index], width, height)

    def coded_size(self, index: int, width: int, height: int) -> tuple[int, int]:
        return scaled_size(width, height, self.rungs[index].scale, even=self.is_video)

    def relative_cost(self, index: int) -> float:
        """Images: a rung's expected bytes per second relative to the top rung's."""
        top, rung = self.rungs[0], self.rungs[index]
        per_frame = _quality_size(rung.quality) / _quality_size(top.quality) * rung.scale**2
        return per_frame * rung.fps / top.fps


def _quality_size(quality: int) -> float:
    """Interpolate _QUALITY_SIZE (descending qualities)."""
    qs = [q for q, _ in reversed(_QUALITY_SIZE)]
    sizes = [s for _, s in reversed(_QUALITY_SIZE)]
    for i in range(1, len(qs)):
        if quality <= qs[i]:
            t = (quality - qs[i - 1]) / (qs[i] - qs[i - 1])
            return sizes[i - 1] + t * (sizes[i] - sizes[i - 1])
    return sizes[-1]


def single(settings: EncoderSettings, is_video: bool) -> Ladder:
    """No adaptation: one rung, the configured settings."""
    return Ladder((settings,), is_video)


def video_ladder(
    base: EncoderSettings,
    width: int,
    height: int,
    *,
    min_bitrate: int = DEFAULT_MIN_BITRATE,
    max_rungs: int = DEFAULT_MAX_RUNGS,
) -> Ladder:
    """Rungs from ``base`` (its bitrate is the ceiling; 0: auto for this size) down to
    ``min_bitrate``, at most ``max_rungs``, about RUNG_STEP apart."""
    if max_rungs < 1:
        raise ValueError("max_rungs must be at least 1")
    top = target_bitrate(base, width, height)
    floor = min(max(1, min_bitrate), top)
    if max_rungs == 1 or floor >= top:
        return Ladder((base,), True)
    n = min(max_rungs, 1 + math.ceil(math.log(top / floor) / math.log(1 / RUNG_STEP) - 1e-9))
    step = (floor / top) ** (1 / (n - 1)) if n > 1 else 1.0
    rungs = [base]
    for i in range(1, n):
        bits = top * step**i
        scale, fps = _shape_for(bits, width, height, base.fps)
        # bitrate_scale is relative to what the rung's own settings give at this size, so
        # a resized stream keeps the same ladder shape.
        own = base.bitrate or auto_bitrate(width, height, fps)
        rungs.append(replace(base, bitrate_scale=bits / own, scale=scale, fps=fps))
    return Ladder(tuple(rungs), True)


def _shape_for(bits: float, width: int, height: int, fps: float) -> tuple[float, float]:
    """The largest scale (then, if need be, a lower frame rate) that keeps enough bits
    per pixel for ``bits`` per second."""
    for scale in SCALES:
        w, h = scaled_size(width, height, scale, even=True)
        if bits / (w * h * fps) >= MIN_BITS_PER_PIXEL:
            return scale, fps
    low_fps = max(min(fps, MIN_FPS), fps / 2)
    return SCALES[-1], low_fps


def image_ladder(base: EncoderSettings, *, lossless: bool, max_rungs: int) -> Ladder:
    """Image rungs: lower quality, then smaller pictures (PNG: smaller pictures only)."""
    rungs: list[EncoderSettings] = []
    for quality, scale in _IMAGE_STEPS:
        if lossless and quality is not None:
            continue
        q = base.quality if quality is None else min(base.quality, quality)
        rung = replace(base, quality=q, scale=scale)
        if rung not in rungs:
            rungs.append(rung)
    if lossless:
        rungs = [replace(base, scale=s) for s in SCALES]
    return Ladder(tuple(rungs[: max(1, max_rungs)]), False)
