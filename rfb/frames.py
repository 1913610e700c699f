"""Turn what a user publishes into one immutable Frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One published picture. ``pixels`` is (H, W, 3|4) uint8 and never mutated."""

    pixels: Any
    frame_id: int
    timestamp_us: int  # capture time, relative to the display's start
    published_at: float  # the display's clock (seconds) at publish, for latency figures

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def _describe(arr: Any) -> str:
    shape = getattr(arr, "shape", None)
    dtype = getattr(arr, "dtype", None)
    return f"{type(arr).__name__} with shape {shape} and dtype {dtype}"


def as_host_pixels(frame: Any, *, copy: bool) -> np.ndarray:
    """Validate a published frame and return it as a private NumPy array.

    Accepts C-contiguous uint8 arrays shaped (H, W, 3) RGB or (H, W, 4) RGBA.
    """
    if not isinstance(frame, np.ndarray):
        if hasattr(frame, "__cuda_array_interface__") or type(frame).__module__.startswith("cupy"):
            raise TypeError(
                "GPU frames are not supported by this build yet: publish a NumPy array "
                "(H, W, 3|4) uint8"
            )
        raise TypeError(
            f"publish() expects a numpy.ndarray of shape (H, W, 3) or (H, W, 4) and dtype "
            f"uint8, got {type(frame).__name__}"
        )
    if frame.dtype != np.uint8:
        raise TypeError(
            f"publish() expects dtype uint8 (H, W, 3|4), got {_describe(frame)}; "
            "convert with (arr * 255).clip(0, 255).astype(np.uint8) for float images"
        )
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(
            f"publish() expects shape (H, W, 3) RGB or (H, W, 4) RGBA, got {_describe(frame)}"
        )
    h, w = frame.shape[:2]
    if not (1 <= h <= 16384 and 1 <= w <= 16384):
        raise ValueError(f"frame size {w}x{h} is outside 1..16384 in each dimension")
    if not frame.flags.c_contiguous:
        raise ValueError(
            f"publish() expects a C-contiguous array (H, W, {frame.shape[2]}); "
            "pass np.ascontiguousarray(frame)"
        )
    if copy:
        return frame.copy()
    return frame
