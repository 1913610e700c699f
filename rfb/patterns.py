"""Deterministic test patterns for the CLI, tests and benchmarks.

Each pattern renders frame ``i`` as a fresh (H, W, 3) uint8 RGB array.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

# pdum.rfb's test card: four flat quadrants, rotating one step per frame.
TEST_CARD_COLOURS = ((220, 40, 40), (40, 200, 40), (40, 40, 220), (220, 200, 40))

# 3x5 digit glyphs for the counter pattern, one string of 15 bits per digit.
_DIGITS = [
    "111101101101111", "010110010010111", "111001111100111", "111001111001111",
    "101101111001001", "111100111001111", "111100111101111", "111001001001001",
    "111101111101111", "111101111001111",
]  # fmt: skip


def test_card(w: int, h: int, i: int) -> np.ndarray:
    """Quadrant q (TL, TR, BL, BR) has colour TEST_CARD_COLOURS[(q + i) % 4]."""
    img = np.empty((h, w, 3), np.uint8)
    hh, hw = h // 2, w // 2
    quads = ((slice(0, hh), slice(0, hw)), (slice(0, hh), slice(hw, w)),
             (slice(hh, h), slice(0, hw)), (slice(hh, h), slice(hw, w)))  # fmt: skip
    for q, (ys, xs) in enumerate(quads):
        img[ys, xs] = TEST_CARD_COLOURS[(q + i) % 4]
    return img


def gradient(w: int, h: int, i: int) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float32)
    y = np.linspace(0, 255, h, dtype=np.float32)
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (x[None, :] + 2 * i) % 256
    img[..., 1] = y[:, None]
    img[..., 2] = 128
    return img


def checkerboard(w: int, h: int, i: int, cell: int = 32) -> np.ndarray:
    yy, xx = np.indices((h, w))
    on = (((xx + i) // cell + yy // cell) & 1).astype(bool)
    img = np.full((h, w, 3), 30, np.uint8)
    img[on] = 225
    return img


def solid(w: int, h: int, i: int, colour: tuple[int, int, int] = (200, 0, 0)) -> np.ndarray:
    return np.full((h, w, 3), colour, np.uint8)


class BouncingBox:
    """A box bouncing over a fixed gradient background (cheap to render, typical motion)."""

    def __init__(self, w: int, h: int) -> None:
        self.w, self.h = w, h
        self.box = max(8, min(w, h) // 6)
        yy = np.linspace(30, 90, h, dtype=np.float32)[:, None]
        xx = np.linspace(20, 110, w, dtype=np.float32)[None, :]
        bg = np.empty((h, w, 3), np.uint8)
        bg[..., 0] = (yy * 0.5 + xx * 0.2).astype(np.uint8)
        bg[..., 1] = (yy * 0.8).astype(np.uint8)
        bg[..., 2] = (xx + 40).astype(np.uint8)
        self.bg = bg

    def position(self, i: int) -> tuple[int, int]:
        def bounce(t: int, span: int) -> int:
            span = max(1, span)
            t %= 2 * span
            return t if t < span else 2 * span - t

        return bounce(7 * i, self.w - self.box), bounce(5 * i, self.h - self.box)

    def __call__(self, w: int, h: int, i: int) -> np.ndarray:
        return self.draw(i)

    def draw(self, i: int, xp: Any = np, bg: Any = None) -> Any:
        """Frame ``i`` with any array module: NumPy here, CuPy for ``make_device``."""
        img = (self.bg if bg is None else bg).copy()
        x, y = self.position(i)
        b = self.box
        img[y : y + b, x : x + b] = xp.asarray((240, 200, 40), dtype=xp.uint8)
        img[y + b // 4 : y + 3 * b // 4, x + b // 4 : x + 3 * b // 4] = xp.asarray(
            (200, 40, 40), dtype=xp.uint8
        )
        return img


def counter(w: int, h: int, i: int) -> np.ndarray:
    """The frame number in large digits, for checking ordering and drops by eye."""
    img = np.full((h, w, 3), 16, np.uint8)
    text = str(i)
    scale = max(1, min(w // (4 * max(4, len(text))), h // 7))
    x0 = (w - 4 * scale * len(text)) // 2
    y0 = (h - 5 * scale) // 2
    for k, ch in enumerate(text):
        bits = _DIGITS[int(ch)]
        for r in range(5):
            for c in range(3):
                if bits[r * 3 + c] == "1":
                    x = x0 + (4 * k + c) * scale
                    y = y0 + r * scale
                    img[y : y + scale, x : x + scale] = (230, 230, 230)
    return img


TIMECODE_BITS = 32
TIMECODE_BLOCK = 16


def stamp_timecode(img: np.ndarray, ms: int) -> np.ndarray:
    """Write ``ms`` (mod 2**32) as 32 black/white 16x16 blocks along the top-left edge.

    Viewers that know the code (``RemoteFramebufferView`` with ``timecode: true``) read it
    back after drawing and compare it with their wall clock: publish -> display latency,
    whatever the transport, on hosts whose clocks agree (one machine, or NTP).
    """
    b = TIMECODE_BLOCK
    value = ms & 0xFFFFFFFF
    for k in range(TIMECODE_BITS):
        bit = (value >> (TIMECODE_BITS - 1 - k)) & 1
        img[0:b, k * b : (k + 1) * b] = 255 if bit else 0
    return img


def _value_noise(h: int, w: int, rng: np.random.Generator, octaves: int = 6) -> np.ndarray:
    """Fractal value noise in [0, 1], periodic in x with period ``w`` (so it can pan forever)."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        gy = 8 * 2**o
        gx = max(1, gy * w // max(1, h))
        grid = rng.random((gy + 1, gx), dtype=np.float32)
        grid = np.concatenate([grid, grid[:, :1]], axis=1)  # the last column wraps to the first
        ys = np.linspace(0, gy, h, endpoint=False, dtype=np.float32)
        xs = np.linspace(0, gx, w, endpoint=False, dtype=np.float32)
        y0, x0 = ys.astype(np.intp), xs.astype(np.intp)
        fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
        fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
        top, bottom = grid[y0], grid[y0 + 1]
        out += amp * (
            (top[:, x0] * (1 - fx) + top[:, x0 + 1] * fx) * (1 - fy)
            + (bottom[:, x0] * (1 - fx) + bottom[:, x0 + 1] * fx) * fy
        )
        total += amp
        amp *= 0.6
    out /= total
    return (out - out.min()) / max(1e-6, float(out.max() - out.min()))


_TERRAIN_STOPS = np.array([0.0, 0.35, 0.42, 0.55, 0.72, 0.86, 1.0], np.float32)
_TERRAIN_COLOURS = np.array(
    [(20, 40, 110), (40, 90, 170), (200, 190, 130), (70, 150, 60), (30, 95, 40),
     (120, 110, 100), (240, 240, 245)], np.float32,
)  # fmt: skip


def scene_texture(h: int, period: int, seed: int = 7) -> np.ndarray:
    """A map-like render: shaded fractal terrain, contour lines, a grid and text-like labels.

    Fine detail and crisp edges everywhere, as in users' renders (maps, CAD, plots with
    text); periodic in x with ``period``.
    """
    rng = np.random.default_rng(seed)
    n = _value_noise(h, period, rng)
    img = np.empty((h, period, 3), np.float32)
    for c in range(3):
        img[..., c] = np.interp(n, _TERRAIN_STOPS, _TERRAIN_COLOURS[:, c])
    gy, gx = np.gradient(n)
    img *= np.clip(1.0 + 40 * (gx - gy), 0.6, 1.4)[..., None]  # hill shading
    img[(n * 25) % 1.0 < 0.06] *= 0.55  # contour lines
    img[::32] = (230, 230, 200)  # graticule
    img[:, ::32] = (230, 230, 200)
    for _ in range(h * period // 6000):  # labels: 7 px high "text"
        y, x = int(rng.integers(0, max(1, h - 8))), int(rng.integers(0, max(1, period - 40)))
        block = img[y : y + 7, x : x + 36]
        ink = rng.random(block.shape[:2]) < 0.45
        block[ink] = (15, 15, 15)
        block[~ink] = (250, 250, 235)
    return np.clip(img, 0, 255).astype(np.uint8)


class Scene:
    """The benchmark scene: a detailed map panning ``speed`` px per frame, a bouncing box.

    Like a camera pan over a render: every pixel changes every frame, with fine detail
    (contours, grid lines, text-like labels) that H.264 must spend bits on. At 1280x720
    30 fps it fills the default ~2.8 Mbit/s; the trivial patterns need a fraction of it.
    """

    PERIOD = 1024

    def __init__(self, w: int, h: int, speed: int = 4) -> None:
        self.w, self.h, self.speed = w, h, speed
        period = max(self.PERIOD, 4 * ((w + 3) // 4))
        tile = scene_texture(h, period)
        reps = -(-(w + period) // period)
        self.texture = np.ascontiguousarray(np.tile(tile, (1, reps, 1))[:, : w + period])
        self.period = period
        self.box = BouncingBox(w, h)

    def __call__(self, w: int, h: int, i: int) -> np.ndarray:
        x0 = (self.speed * i) % self.period
        img = self.texture[:, x0 : x0 + self.w].copy()
        x, y = self.box.position(i)
        b = self.box.box
        img[y : y + b, x : x + b] = (240, 200, 40)
        img[y + b // 4 : y + 3 * b // 4, x + b // 4 : x + 3 * b // 4] = (200, 40, 40)
        return img


PATTERNS = (
    "scene",
    "test_card",
    "gradient",
    "bouncing_box",
    "counter",
    "checkerboard",
    "solid",
    "timecode",
)
# Patterns that compress far better than any real render (a few kB per H.264 frame at
# 720p): figures taken on them are labelled "trivial pattern". "scene" is the realistic one.
TRIVIAL_PATTERNS = frozenset(PATTERNS) - {"scene", "test_card"}


def make(name: str, w: int, h: int, *, timecode: bool = False) -> Callable[[int], np.ndarray]:
    """A renderer ``f(i) -> frame`` for one of PATTERNS.

    ``timecode``: stamp the wall clock into every frame (see stamp_timecode), so a viewer
    can measure publish -> display latency on any pattern.
    """
    render = _make(name, w, h)
    if not timecode or name == "timecode":
        return render
    _check_timecode_size(w, h)
    return lambda i: stamp_timecode(render(i), int(time.time() * 1000))


def _check_timecode_size(w: int, h: int) -> None:
    if w < TIMECODE_BITS * TIMECODE_BLOCK or h < TIMECODE_BLOCK:
        raise ValueError("the timecode needs frames of at least 512x16")


def _make(name: str, w: int, h: int) -> Callable[[int], np.ndarray]:
    if name == "scene":
        scene = Scene(w, h)
        return lambda i: scene(w, h, i)
    if name == "bouncing_box":
        box = BouncingBox(w, h)
        return lambda i: box(w, h, i)
    if name == "timecode":  # the trivial bouncing box with the timecode
        _check_timecode_size(w, h)
        box = BouncingBox(w, h)
        return lambda i: stamp_timecode(box(w, h, i), int(time.time() * 1000))
    table: dict[str, Callable[[int, int, int], np.ndarray]] = {
        "test_card": test_card,
        "gradient": gradient,
        "counter": counter,
        "checkerboard": checkerboard,
        "solid": solid,
    }
    if name not in table:
        raise ValueError(f"unknown pattern {name!r}; choose one of {', '.join(PATTERNS)}")
    fn = table[name]
    return lambda i: fn(w, h, i)


def make_device(name: str, w: int, h: int, xp: Any = None) -> Callable[[int], object]:
    """Like make(), but each frame is a CuPy array on the GPU (needs ``rfb[gpu]``).

    bouncing_box is drawn on the device, by the same code as on the host; the other
    patterns are drawn on the host and uploaded (the point is to publish device frames).
    ``xp`` stands in for CuPy in tests.
    """
    if xp is None:
        from .frames import load_cupy

        xp = load_cupy()
    if name == "bouncing_box":
        box = BouncingBox(w, h)
        bg = xp.asarray(box.bg)
        return lambda i: box.draw(i, xp, bg)
    host = make(name, w, h)
    return lambda i: xp.asarray(host(i))
