"""Servers for tests on loopback: an aiohttp app or an ASGI app on a free port, and
render loops that publish to displays."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable

import numpy as np

import rfb
from rfb import patterns


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


def free_port() -> int:
    """A loopback TCP port nobody listens on (for a program that takes a port number)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@contextlib.asynccontextmanager
async def publishing(*displays: rfb.Display, pattern: str = "test_card") -> AsyncIterator[None]:
    """Each display publishes ``pattern`` at 30 fps while inside."""
    pubs = [Publisher(d, patterns.make(pattern, d.width, d.height), 30) for d in displays]
    try:
        yield
    finally:
        for p in pubs:
            await p.stop()


@contextlib.asynccontextmanager
async def publisher(display: rfb.Display, rgb: tuple[int, int, int]) -> AsyncIterator[None]:
    """The display publishes one flat colour at 30 fps while inside."""
    frame = np.full((display.height, display.width, 3), rgb, np.uint8)
    pub = Publisher(display, lambda i: frame, 30)
    try:
        yield
    finally:
        await pub.stop()
