"""Figures from samples: percentiles and PSNR (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def percentile(xs: Sequence[float], p: float) -> float:
    """The ``p``-th percentile by linear interpolation (NaN for no samples)."""
    if not xs:
        return math.nan
    return float(np.percentile(np.asarray(xs, np.float64), p))


def nearest_rank(xs: Sequence[float], p: float) -> float:
    """The ``p``-th percentile as one of the samples: the sorted samples' entry at
    ``p / 100 * len(xs)`` rounded down (the last for p = 100; NaN for no samples)."""
    if not xs:
        return math.nan
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of ``b`` against ``a`` (inf when equal); RGB channels only."""
    a, b = a[..., :3], b[..., :3]
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
