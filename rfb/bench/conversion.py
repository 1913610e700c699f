"""Colour-conversion timing: every RGB -> I420 way this build offers, and rfb's own."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..encoders import convert
from .figures import percentile


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def conversion_candidates(rgb: np.ndarray) -> dict[str, Callable[[], Any]]:
    """Every correct way this build offers to turn ``rgb`` into BT.601 limited-range I420."""
    from ..encoders.x264 import load_av

    av = load_av()
    h, w = rgb.shape[:2]
    ew, eh = convert.even_size(w, h)
    layout = "rgb24" if rgb.shape[2] == 3 else "rgba"
    swapped = "bgr24" if rgb.shape[2] == 3 else "bgra"
    order = [2, 1, 0] if rgb.shape[2] == 3 else [2, 1, 0, 3]

    def sws(arr: np.ndarray, fmt: str, threads: int | None) -> Any:
        frame = av.VideoFrame.from_ndarray(convert.pad_to_even(arr), format=fmt)
        return frame.reformat(
            width=ew,
            height=eh,
            format="yuv420p",
            dst_colorspace=convert.SWSCALE_COLORSPACE,
            dst_color_range=convert.SWSCALE_RANGE,
            interpolation="AREA",
            threads=threads,
        )

    out: dict[str, Callable[[], Any]] = {
        "rfb": lambda: convert.cpu_i420(av, rgb, ew, eh),
        f"swscale {layout}, 1 thread": lambda: sws(rgb, layout, None),
        f"swscale {layout}, 2 threads": lambda: sws(rgb, layout, 2),
        f"copy to {swapped} + swscale": lambda: sws(
            np.ascontiguousarray(rgb[..., order]), swapped, None
        ),
    }
    cv2 = convert.load_cv2()
    if cv2 is not None:
        out["opencv"] = lambda: av.VideoFrame.from_ndarray(
            convert.opencv_i420(cv2, rgb), format="yuv420p"
        )
    return out


def rfb_conversion() -> str:
    """Which candidate rfb's own path is, for frames of the stream's size."""
    return "opencv" if convert.load_cv2() is not None else "swscale"


def time_conversions(rgb: np.ndarray, repeats: int) -> dict[str, float]:
    """Median ms of each candidate (interleaved, so drift hits all alike)."""
    fns = conversion_candidates(rgb)
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats):
        for k in names[r % len(names) :] + names[: r % len(names)]:  # each takes every slot
            times[k].append(1000 * _timed(fns[k])[1])
    return {k: percentile(v[1:] or v, 50) for k, v in times.items()}
