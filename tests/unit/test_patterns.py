"""Patterns (rfb/patterns.py): the device patterns of --gpu draw what the host ones draw;
the plot-like ``dashboard``."""

from __future__ import annotations

import numpy as np
import pytest

from rfb import patterns


@pytest.mark.parametrize("name", ["bouncing_box", "test_card", "dashboard"])
def test_device_patterns_draw_what_the_host_patterns_draw(name: str) -> None:
    """--gpu's patterns, with NumPy standing in for CuPy: the same pictures."""
    device = patterns.make_device(name, 320, 240, xp=np)
    host = patterns.make(name, 320, 240)
    for i in (0, 7, 100):
        assert np.array_equal(device(i), host(i))


@pytest.mark.parametrize("size", [(1280, 720), (641, 479), (320, 200), (64, 48), (17, 16)])
def test_dashboard_renders_frames_of_any_size(size: tuple[int, int]) -> None:
    w, h = size
    render = patterns.make("dashboard", w, h)
    for i in (0, 1, 5000):
        frame = render(i)
        assert frame.shape == (h, w, 3) and frame.dtype == np.uint8
    assert "dashboard" in patterns.PATTERNS and "dashboard" not in patterns.TRIVIAL_PATTERNS


def _luma(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.int32) @ np.array([299, 587, 114]) // 1000


def test_dashboard_has_thin_lines_and_saturated_colour_edges() -> None:
    frame = patterns.make("dashboard", 1280, 720)(3)
    y = _luma(frame)
    # 1 px lines: a pixel much darker than both its neighbours, across or along.
    thin_h = (y[1:-1] < y[:-2] - 100) & (y[1:-1] < y[2:] - 100)
    thin_v = (y[:, 1:-1] < y[:, :-2] - 100) & (y[:, 1:-1] < y[:, 2:] - 100)
    assert thin_h.sum(axis=1).max() > 300  # a whole axis line, 1 px high
    assert thin_v.sum(axis=0).max() > 150  # and one 1 px wide
    # Colour edges: neighbours whose chroma differs by most of the range.
    f = frame.astype(np.int32)
    chroma = f.max(axis=2) - f.min(axis=2)
    assert (np.abs(np.diff(chroma, axis=1)) > 150).sum() > 200
    assert chroma.max() > 200
    # Small text: the header's title and counter, light ink on its dark band.
    dash = patterns.Dashboard(1280, 720)
    assert dash.text and (y[: dash.header] > 150).sum() > 300


def test_dashboard_is_mostly_static_and_changes_only_its_live_panels() -> None:
    w, h = 1280, 720
    dash = patterns.Dashboard(w, h)
    render = patterns.make("dashboard", w, h)
    live = np.zeros((h, w), bool)
    for k in (0, 2):  # the line plots and the bar chart
        x, y, pw, ph = dash.areas[k]
        live[y : y + ph, x : x + pw] = True
    x0, y0, x1, y1 = dash.counter_box
    live[y0:y1, x0:x1] = True
    for i in (0, 1, 57, 1000):
        a, b = render(i), render(i + 1)
        changed = (a != b).any(axis=2)
        assert changed.any()  # live: every frame differs from the last
        assert changed.mean() < 0.5  # > 50 % of the pixels the same
        assert not (changed & ~live).any()  # the heat map, the scatter plot: static


def test_dashboard_is_deterministic() -> None:
    one, two = patterns.make("dashboard", 640, 360), patterns.make("dashboard", 640, 360)
    later = one(9)
    for i in (0, 9, 4097):
        assert np.array_equal(one(i), two(i))
    assert np.array_equal(one(9), later)  # frames depend on i alone, not on call order
    assert not np.array_equal(one(0), one(1))
