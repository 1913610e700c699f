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


# Matplotlib's "tab10" colours (lines, bars, scatter) and viridis (the heat map).
_TAB10 = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip
_VIRIDIS = np.array(
    [(68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
     (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37)],
    np.float32,
)  # fmt: skip
_INK = (33, 33, 33)
_GRID = (222, 224, 228)


def _font(size: int) -> Any:
    """Pillow's built-in font at ``size`` px (its bitmap font where FreeType is missing)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow 10.0, or no FreeType
        return ImageFont.load_default()


def _hline(img: np.ndarray, y: int, x0: int, x1: int, colour: tuple[int, int, int]) -> None:
    if 0 <= y < img.shape[0]:
        img[y, max(0, x0) : max(0, x1)] = colour


def _vline(img: np.ndarray, x: int, y0: int, y1: int, colour: tuple[int, int, int]) -> None:
    if 0 <= x < img.shape[1]:
        img[max(0, y0) : max(0, y1), x] = colour


class Dashboard:
    """A live plotting dashboard: what rfb's users stream most (plots, heat maps, text).

    Four panels, each with a title, 1 px axes, grid lines and tick labels: line plots
    scrolling 2 px per frame, a viridis heat map of a blocky (one value per cell) field with
    a colour bar, a bar chart whose bars change every frame, and a scatter plot; above them
    a header whose frame counter changes. Thin lines, small antialiased text and saturated
    colour edges on a mostly static frame: the opposite of ``scene``'s pan, where every
    pixel changes. The static layers are drawn once per size; a frame copies them and
    draws the line plots, the bars and the counter.
    """

    SPEED = 2  # px per frame the line plots scroll
    PERIOD = 4096  # the line plots' data repeats after this many px
    BARS = 10

    def __init__(self, w: int, h: int) -> None:
        from PIL import Image, ImageDraw

        self.w, self.h = w, h
        self.fs = max(8, min(14, h // 60))
        self.font = _font(self.fs)
        self.text = w >= 320 and h >= 200  # too small for legible text: no text at all
        th = self.fs + 2 if self.text else 0
        img = np.full((h, w, 3), (242, 244, 247), np.uint8)
        labels: list[tuple[int, int, str, tuple[int, int, int]]] = []  # x, y, text, colour

        self.header = (th + 8) if self.text else 0
        img[: self.header] = (30, 41, 66)
        if self.text:
            labels.append((8, 4, "rfb live dashboard: run 42, sensors A-C", (240, 240, 240)))
        gap = max(1, min(w, h) // 120)
        top = self.header + gap
        cw, ch = (w - 3 * gap) // 2, (h - top - 2 * gap) // 2
        cells = [
            (gap + c * (cw + gap), top + r * (ch + gap), cw, ch) for r in (0, 1) for c in (0, 1)
        ]
        titles = ("Sensor readings (last 60 s)", "Temperature field (K)", "Queue depth per worker",
                  "Latency vs load")  # fmt: skip
        self.areas: list[tuple[int, int, int, int]] = []  # each panel's plot area: x, y, w, h
        for k, (x, y, pw, ph) in enumerate(cells):
            img[max(0, y) : y + max(0, ph), x : x + max(0, pw)] = 255
            if self.text and pw > 0:
                tw = int(self.font.getlength(titles[k]))
                labels.append((x + (pw - tw) // 2, y + 3, titles[k], _INK))
            left = int(self.font.getlength("-1.0")) + 10 if self.text else 2
            right = (int(self.font.getlength("1.0")) + 22 + pw // 20) if k == 1 else 10
            right = right if self.text else 2 + (pw // 10 if k == 1 else 0)
            bottom = th + 8 if self.text else 2
            head = th + 8 if self.text else 2
            self.areas.append((x + left, y + head, max(0, pw - left - right),
                               max(0, ph - head - bottom)))  # fmt: skip
        self.rng = np.random.default_rng(29)
        self._static_lines(img, labels)
        self._heat_map(img, labels)
        self._static_bars(img, labels)
        self._scatter(img, labels)
        if labels:
            pil = Image.fromarray(img)
            draw = ImageDraw.Draw(pil)
            for x, y, text, colour in labels:
                draw.text((x, y), text, fill=colour, font=self.font)
            img = np.asarray(pil).copy()
        self.static = img
        self._line_data()
        self.counter_box = (max(0, w - 140), 0, w, self.header)

    def _axes(self, img: np.ndarray, labels: list[Any], k: int, xticks: list[tuple[float, str]],
              yticks: list[tuple[float, str]], xgrid: bool = True, ygrid: bool = True,
              ) -> None:  # fmt: skip
        """Grid lines, the frame and tick labels of panel k; ticks at fractions 0..1."""
        x, y, pw, ph = self.areas[k]
        if pw < 2 or ph < 2:
            return
        for f, text in xticks:
            px = x + round(f * (pw - 1))
            if xgrid:
                _vline(img, px, y, y + ph, _GRID)
            _vline(img, px, y + ph, y + ph + 4, _INK)
            if self.text:
                labels.append((px - int(self.font.getlength(text)) // 2, y + ph + 5, text, _INK))
        for f, text in yticks:
            py = y + ph - 1 - round(f * (ph - 1))
            if ygrid:
                _hline(img, py, x, x + pw, _GRID)
            _hline(img, py, x - 4, x, _INK)
            if self.text:
                tw = int(self.font.getlength(text))
                labels.append((x - 6 - tw, py - self.fs // 2 - 1, text, _INK))
        _hline(img, y - 1, x - 1, x + pw + 1, _INK)
        _hline(img, y + ph, x - 1, x + pw + 1, _INK)
        _vline(img, x - 1, y - 1, y + ph + 1, _INK)
        _vline(img, x + pw, y - 1, y + ph + 1, _INK)

    def _static_lines(self, img: np.ndarray, labels: list[Any]) -> None:
        xt = [(i / 4, f"{15 * i - 60} s") for i in range(5)]
        yt = [(i / 4, f"{(i - 2) / 2:.1f}") for i in range(5)]
        self._axes(img, labels, 0, xt, yt)

    def _line_data(self) -> None:
        """Three periodic signals in [-1, 1], one value per px of scroll."""
        n = self.PERIOD
        k = np.arange(n, dtype=np.float64) * (2 * np.pi / n)
        noise = self.rng.standard_normal((3, n))
        self.signals = np.stack([
            0.7 * np.sin(11 * k) + 0.12 * noise[0],
            0.45 * np.sin(29 * k + 1.0) + 0.3 * np.sin(3 * k) + 0.05 * noise[1],
            0.6 * np.sign(np.sin(7 * k)) * 0.5 + 0.25 * np.sin(53 * k) - 0.3 + 0.04 * noise[2],
        ]).clip(-0.98, 0.98)  # fmt: skip

    def _heat_map(self, img: np.ndarray, labels: list[Any]) -> None:
        x, y, pw, ph = self.areas[1]
        if pw < 2 or ph < 2:
            return
        gh, gw = 36, 48  # cells, each one value: imshow(interpolation="nearest")
        yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
        field = (np.exp(-((xx - 14) ** 2 + (yy - 12) ** 2) / 60)
                 + 0.8 * np.exp(-((xx - 34) ** 2 + (yy - 24) ** 2) / 30)
                 + 0.25 * np.sin(xx / 3) * np.cos(yy / 4)
                 + 0.12 * self.rng.random((gh, gw), dtype=np.float32))  # fmt: skip
        field = (field - field.min()) / float(field.max() - field.min())
        lut = np.empty((256, 3), np.uint8)
        stops = np.linspace(0, 1, len(_VIRIDIS))
        for c in range(3):
            lut[:, c] = np.interp(np.linspace(0, 1, 256), stops, _VIRIDIS[:, c])
        rows = np.arange(ph) * gh // ph
        cols = np.arange(pw) * gw // pw
        img[y : y + ph, x : x + pw] = lut[(field[rows][:, cols] * 255).astype(np.intp)]
        self._axes(img, labels, 1, [(i / 4, str(12 * i)) for i in range(5)],
                   [(i / 3, str(12 * i)) for i in range(4)], xgrid=False, ygrid=False)  # fmt: skip
        # The colour bar, right of the map, with its own ticks.
        bw = max(2, pw // 20)
        bx = x + pw + (12 if self.text else 2)
        if bx + bw >= self.w:
            return
        ramp = lut[(np.linspace(255, 0, ph)).astype(np.intp)]
        img[y : y + ph, bx : bx + bw] = ramp[:, None]
        _hline(img, y - 1, bx - 1, bx + bw + 1, _INK)
        _hline(img, y + ph, bx - 1, bx + bw + 1, _INK)
        _vline(img, bx - 1, y - 1, y + ph + 1, _INK)
        _vline(img, bx + bw, y - 1, y + ph + 1, _INK)
        for i in range(5):
            py = y + ph - 1 - round(i / 4 * (ph - 1))
            _hline(img, py, bx + bw, bx + bw + 4, _INK)
            if self.text:
                labels.append((bx + bw + 6, py - self.fs // 2 - 1, f"{280 + 10 * i}", _INK))

    def _static_bars(self, img: np.ndarray, labels: list[Any]) -> None:
        names = "ABCDEFGHIJ"
        xt = [((j + 0.5) / self.BARS, f"w{names[j]}") for j in range(self.BARS)]
        self._axes(img, labels, 2, xt, [(i / 5, str(20 * i)) for i in range(6)], xgrid=False)

    def _scatter(self, img: np.ndarray, labels: list[Any]) -> None:
        self._axes(img, labels, 3, [(i / 4, f"{25 * i}%") for i in range(5)],
                   [(i / 4, f"{50 * i}") for i in range(5)])  # fmt: skip
        x, y, pw, ph = self.areas[3]
        if pw < 4 or ph < 4:
            return
        rng = self.rng
        for c, (cx, cy, sx, sy, n) in enumerate(
            [
                (0.25, 0.2, 0.1, 0.07, 160),
                (0.55, 0.45, 0.12, 0.1, 160),
                (0.8, 0.75, 0.08, 0.12, 120),
            ]
        ):
            px = np.clip(rng.normal(cx, sx, n), 0.01, 0.99) * (pw - 3) + x + 1
            py = y + ph - 2 - np.clip(rng.normal(cy, sy, n), 0.01, 0.99) * (ph - 3)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    img[py.astype(np.intp) + dy, px.astype(np.intp) + dx] = _TAB10[c]

    def __call__(self, w: int, h: int, i: int) -> np.ndarray:
        img = self.static.copy()
        # Line plots: three 1 px polylines, scrolling SPEED px per frame.
        x, y, pw, ph = self.areas[0]
        if pw >= 2 and ph >= 2:
            ks = (np.arange(pw + 1) + self.SPEED * i) % self.PERIOD
            cols = np.arange(pw)
            for s in range(3):
                v = y + ph - 1 - np.rint((self.signals[s, ks] + 1) / 2 * (ph - 1)).astype(np.intp)
                a, b = v[:-1], v[1:]
                lo, hi = np.minimum(a, b), np.maximum(a, b)  # 8-connected: a..b in a's column
                n = hi - lo + 1
                rr = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
                img[rr, np.repeat(cols, n) + x] = _TAB10[s]
        # Bars: heights move every frame.
        x, y, pw, ph = self.areas[2]
        if pw >= 2 and ph >= 2:
            slot = pw / self.BARS
            bw = max(1, int(slot * 0.6))
            for j in range(self.BARS):
                f = 0.5 + 0.3 * np.sin(0.05 * i + 1.3 * j) + 0.15 * np.sin(0.17 * i + 2.1 * j)
                top = y + ph - int(f * (ph - 1))
                x0 = x + int((j + 0.5) * slot) - bw // 2
                img[top : y + ph, x0 : x0 + bw] = _TAB10[j]
        if self.text:
            from PIL import Image, ImageDraw

            x0, y0, x1, y1 = self.counter_box
            pil = Image.fromarray(img[y0:y1, x0:x1])
            ImageDraw.Draw(pil).text((6, 4), f"frame {i:07d}", fill=(255, 210, 90), font=self.font)
            img[y0:y1, x0:x1] = np.asarray(pil)
        return img


PATTERNS = (
    "scene",
    "dashboard",
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
TRIVIAL_PATTERNS = frozenset(PATTERNS) - {"scene", "dashboard", "test_card"}


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
    if name == "dashboard":
        dashboard = Dashboard(w, h)
        return lambda i: dashboard(w, h, i)
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
