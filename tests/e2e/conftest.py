"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright: one browser
per test module. Helpers for pages (wait_for, capture, ...) are in support/browser.py."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from support.browser import ARGS, CHROMIUM


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
