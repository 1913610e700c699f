"""Looking at pixels: colours near a reference, the test card's quadrants, YUV planes."""

from __future__ import annotations

import numpy as np

from rfb import patterns


def near(pixel: np.ndarray, rgb: tuple[int, int, int], tol: int = 8) -> bool:
    return bool(np.abs(pixel.astype(int) - rgb).max() <= tol)


def quadrant_centres(w: int, h: int) -> list[tuple[int, int]]:
    return [(w // 4, h // 4), (3 * w // 4, h // 4), (w // 4, 3 * h // 4), (3 * w // 4, 3 * h // 4)]


def quadrant_colours(img: np.ndarray, x0: int, y0: int, w: int, h: int) -> list[tuple[int, ...]]:
    pts = [(x0 + w // 4, y0 + h // 4), (x0 + 3 * w // 4, y0 + h // 4),
           (x0 + w // 4, y0 + 3 * h // 4), (x0 + 3 * w // 4, y0 + 3 * h // 4)]  # fmt: skip
    return [tuple(int(c) for c in img[y, x, :3]) for x, y in pts]


def assert_test_card(colours: list[tuple[int, ...]], tol: int) -> None:
    """The four quadrants show the test card's colours, rotated by some whole step."""
    ref = patterns.TEST_CARD_COLOURS
    for step in range(4):
        if all(max(abs(a - b) for a, b in zip(colours[q], ref[(q + step) % 4], strict=True)) <= tol
               for q in range(4)):  # fmt: skip
            return
    raise AssertionError(f"canvas quadrants {colours} are not the test card {ref} within ±{tol}")


def yuv_planes(yuv: object) -> list[np.ndarray]:
    """The Y, U and V planes of a PyAV yuv420p frame, without their line padding."""
    return [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]
            for p in yuv.planes]  # type: ignore[attr-defined]  # fmt: skip
