"""A program that moves a marker to each click, for click-to-photon (tests/e2e/
test_click_to_photon.py, benchmarks/bench_click_to_photon.py), and the page's clicks."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import numpy as np

import rfb

MARKER = 12  # the marker's side, in frame pixels


class MarkerProgram:
    """Each frame (``fps``): take the viewers' input, move a marker to each pointer_down, and
    publish. A bar sweeps across, so every frame changes (an animation that publishes for
    other reasons than input). ``react_s``: a deliberately slow program, which sleeps that
    long after taking a click before it publishes the frame that shows it."""

    def __init__(self, display: rfb.Display, fps: float = 30, react_s: float = 0.0) -> None:
        self.display = display
        self.fps = fps
        self.react_s = react_s
        self.downs: list[int] = []  # input_seq of each pointer_down taken
        # per pointer_down: (input_seq, received, taken, published), display clock (us)
        self.clicks: list[tuple[int, int, int, int]] = []
        self.taken: set[tuple[str, int]] = set()  # (viewer, input_seq) of every event taken
        self.frames = 0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        d = self.display
        w, h = d.width, d.height
        x, y = w // 2, h // 2
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not d.closed:
            clicked = False
            taken_us = d.stream.now_us()
            downs: list[tuple[int, int]] = []
            for ev in d.poll_events():
                if ev.input_seq is not None:
                    self.taken.add((ev.client_id, ev.input_seq))
                if ev.type == "pointer_down":
                    x = int(min(max(ev.event["x"], 0), w - 1))
                    y = int(min(max(ev.event["y"], 0), h - 1))
                    clicked = True
                    if ev.input_seq is not None:
                        self.downs.append(ev.input_seq)
                        downs.append((ev.input_seq, ev.received_us))
            if clicked and self.react_s:
                await asyncio.sleep(self.react_s)
            frame = np.full((h, w, 3), 40, np.uint8)
            bar = (self.frames * 4) % w
            frame[:, bar : bar + 4] = (90, 90, 90)
            x0, y0 = max(0, x - MARKER // 2), max(0, y - MARKER // 2)
            frame[y0 : y0 + MARKER, x0 : x0 + MARKER] = (255, 220, 0)
            d.publish(frame, copy=False)
            published_us = d.stream.now_us()
            self.clicks += [(seq, got, taken_us, published_us) for seq, got in downs]
            self.frames += 1
            due += 1 / self.fps
            now = loop.time()
            if due < now:  # behind (a slow reaction): start the beat again from now
                due = now
            await asyncio.sleep(due - now)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def click(page: Any, rng: random.Random, width: int, height: int,
                hold_s: float = 0.25, gap_s: float = 0.25) -> None:  # fmt: skip
    """One click at a random spot of a ``width`` x ``height`` page: move there, press, hold,
    release (the press and the release reach the program in different frames)."""
    await page.mouse.move(rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height)
    await asyncio.sleep(gap_s / 2)
    await page.mouse.down()
    await asyncio.sleep(hold_s)
    await page.mouse.up()
    await asyncio.sleep(gap_s / 2)


async def page_samples(page: Any) -> dict[int, float]:
    """The page's click-to-photon samples (its newest ones): input_seq -> ms."""
    figures = await page.evaluate("window.rfbView.stats?.inputToPhoton ?? null")
    return {} if not figures else {int(s["seq"]): float(s["ms"]) for s in figures["recent"]}


async def page_sample_times(page: Any) -> dict[int, tuple[float, float]]:
    """input_seq -> (ms, when its frame was drawn: the page's epoch ms, performance.timeOrigin
    + performance.now())."""
    figures = await page.evaluate("window.rfbView.stats?.inputToPhoton ?? null")
    if not figures:
        return {}
    return {int(s["seq"]): (float(s["ms"]), float(s["at"])) for s in figures["recent"]}
