"""A Hub on small frames and a clock the test sets, for tests of the hub and its pumps
without sockets (real pumps and encoders)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from rfb.frames import Frame
from rfb.hub import Hub
from rfb.options import StreamOptions

from support.clock import Clock

W, H = 64, 48


def small_hub(clock: Clock, **options: object) -> Hub:
    return Hub(StreamOptions(width=W, height=H, still_after=None, **options), clock)  # type: ignore[arg-type]


def small_frame(i: int, clock: Clock) -> Frame:
    """Frame ``i``: one flat grey of its own, stamped with the clock's time."""
    pixels = np.full((H, W, 3), i * 10 % 256, np.uint8)
    return Frame(pixels, i, round(clock.now * 1e6), clock.now)


async def until(done: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not done():
            await asyncio.sleep(0.002)
