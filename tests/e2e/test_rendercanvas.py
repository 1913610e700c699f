"""A pygfx scene rendered by wgpu on Mesa's CPU Vulkan driver (lavapipe) through
rfb.rendercanvas, watched in Chromium: the cube's pixels, the canvas following the
viewer's size, and a click that reaches the scene as a rendercanvas event and recolours it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from support.browser import capture, open_page, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pygfx_cube.py"


def wgpu_adapter() -> str:
    """The adapter wgpu finds, or fail saying why there is none."""
    pytest.importorskip("pygfx", reason="needs the dev extra: pip install -e '.[dev]'")
    import wgpu

    try:
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except Exception as exc:  # no Vulkan driver at all
        pytest.fail(f"wgpu found no adapter ({exc}): apt-get install mesa-vulkan-drivers")
    return f"{adapter.info['device']} ({adapter.info['adapter_type']})"


class Example:
    def __init__(self) -> None:
        env = {**os.environ, "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
        self.proc = subprocess.Popen(
            [sys.executable, str(EXAMPLE), "--port", "0", "--print-events"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        self.lines: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        first = await asyncio.wait_for(loop.run_in_executor(None, self.proc.stdout.readline), 60)
        assert first, self.proc.stderr.read().decode(errors="replace")[-2000:]
        self.reader = loop.run_in_executor(None, self._read)
        return str(json.loads(first)["url"])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put_nowait(json.loads(line))  # (a list append would do: one writer)

    async def event(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                e = await self.lines.get()
                if e.get("event_type") == kind:
                    return e

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest_asyncio.fixture(loop_scope="module")
async def example() -> AsyncIterator[Example]:
    wgpu_adapter()
    ex = Example()
    try:
        yield ex
    finally:
        ex.stop()


def centre(img: np.ndarray) -> tuple[int, ...]:
    h, w = img.shape[:2]
    return tuple(int(c) for c in img[h // 2, w // 2, :3])


def dominant(rgb: tuple[int, ...], channel: int) -> bool:
    """That channel is bright and well above the others (a lit face, highlights aside)."""
    others = [v for i, v in enumerate(rgb) if i != channel]
    return rgb[channel] > 120 and all(rgb[channel] > v + 50 for v in others)


async def test_pygfx_scene_streams_follows_the_viewer_and_takes_a_click(browser, example) -> None:
    url = await example.start()
    ctx, page = await open_page(browser, url + "?nooverlay", width=800, height=600)
    try:
        # The canvas took the page's size (CSS pixels, ratio 1): the stream is 800x600.
        resized = await example.event("resize", timeout=20)
        assert (resized["width"], resized["height"]) == (800, 600)
        await wait_for(page, "window.rfbView.stats?.width === 800 && window.rfbView.stats?.height === 600", 20)
        async with asyncio.timeout(20):
            while not dominant(centre(await capture(page)), 0):
                await asyncio.sleep(0.1)  # the lit red cube in the middle of the view
        corner = (await capture(page))[10, 10, :3]
        assert corner.max() < 30, "the black background around it"
        # A click at the page's centre arrives at the scene in the canvas's logical pixels
        # and turns the cube green in the next frames.
        await page.mouse.click(400, 300)
        down = await example.event("pointer_down")
        assert abs(down["x"] - 400) <= 1 and abs(down["y"] - 300) <= 1 and down["button"] == 1
        async with asyncio.timeout(20):
            while not dominant(centre(await capture(page)), 1):
                await asyncio.sleep(0.1)
    finally:
        await ctx.close()
