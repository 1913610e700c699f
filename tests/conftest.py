"""Fixtures every layer may use. Helpers that tests import are in support/ (on the path
through pyproject's ``pythonpath = ["tests"]``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

import rfb
from rfb import patterns

from support.servers import Publisher


@pytest.fixture
async def serving() -> AsyncIterator[Callable[..., object]]:
    """serving(w, h, pattern=..., fps=..., **serve_kwargs) -> (display, publisher)."""
    opened: list[tuple[rfb.Display, Publisher | None]] = []

    async def start(
        w: int = 320, h: int = 240, pattern: str | None = "test_card", fps: float = 30, **kw: object
    ) -> tuple[rfb.Display, Publisher | None]:
        kw.setdefault("port", 0)
        kw.setdefault("fps", fps)
        display = await rfb.serve(w, h, **kw)  # type: ignore[arg-type]
        pub = Publisher(display, patterns.make(pattern, w, h), fps) if pattern else None
        opened.append((display, pub))
        return display, pub

    yield start
    for display, pub in opened:
        if pub is not None:
            await pub.stop()
        await display.aclose()
