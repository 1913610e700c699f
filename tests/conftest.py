from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

import rfb
from rfb import patterns

ROOT = Path(__file__).resolve().parent.parent


@contextlib.asynccontextmanager
async def running_app(app: object) -> AsyncIterator[int]:
    """Run an aiohttp application (a user's own, say) on a free loopback port; yields it."""
    from aiohttp import web

    assert isinstance(app, web.Application)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()
@contextlib.asynccontextmanager
async def running_uvicorn(app: object) -> AsyncIterator[int]:
    """Run an ASGI application under uvicorn (lifespan on, the websockets library for
    WebSocket) on a free loopback port; yields the port. Leaving shuts it down."""
    import uvicorn  # in the dev extra

    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", ws="websockets-sansio",
                            log_level="warning")  # fmt: skip
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # older uvicorn
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start
            await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


FIXTURES = Path(__file__).resolve().parent / "fixtures"
PDUM_FIXTURES = FIXTURES / "pdum-rfb-0.x"
SHARED_PDUM_FIXTURES = ROOT.parent / "shared" / "compat" / "pdum-rfb-0.x" / "fixtures"


class Publisher:
    """Publishes a pattern at a steady rate from a task, like a user's render loop."""

    def __init__(self, display: rfb.Display, render: Callable[[int], np.ndarray], fps: float):
        self.display = display
        self.render = render
        self.fps = fps
        self.count = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self.display.closed:
            self.display.publish(self.render(self.count), copy=False)
            self.count += 1
            await asyncio.sleep(1 / self.fps)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


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
