"""Patterns (rfb/patterns.py): the device patterns of --gpu draw what the host ones draw."""

from __future__ import annotations

import numpy as np
import pytest

from rfb import patterns


@pytest.mark.parametrize("name", ["bouncing_box", "test_card"])
def test_device_patterns_draw_what_the_host_patterns_draw(name: str) -> None:
    """--gpu's patterns, with NumPy standing in for CuPy: the same pictures."""
    device = patterns.make_device(name, 320, 240, xp=np)
    host = patterns.make(name, 320, 240)
    for i in (0, 7, 100):
        assert np.array_equal(device(i), host(i))
