"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

CHROMIUM = os.environ.get("RFB_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # WebRTC on loopback: Chromium offers 127.0.0.1 candidates only to pages with media
    # permission (granted per context in the tests, answered by the fake UI).
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (scripts/test does)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("Python playwright is missing: pip install -e '.[dev]'")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        await b.close()


async def wait_for(page: Any, expression: str, timeout: float = 15.0) -> Any:
    """Poll a JS expression until it is truthy; returns its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out waiting for {expression}")
        await asyncio.sleep(0.05)


async def frames_displayed(page: Any) -> int:
    return int(await page.evaluate("window.rfbView?.stats?.framesDisplayed ?? 0"))


async def capture(page: Any) -> Any:
    """The canvas's pixels as drawn, (H, W, 4) uint8."""
    import base64

    import numpy as np

    w, h, b64 = await page.evaluate(
        """window.rfbView.capture('imagedata').then(i => {
            let s = '';
            for (let k = 0; k < i.data.length; k += 0x8000)
                s += String.fromCharCode.apply(null, i.data.subarray(k, k + 0x8000));
            return [i.width, i.height, btoa(s)];
        })"""
    )
    return np.frombuffer(base64.b64decode(b64), np.uint8).reshape(h, w, 4)
