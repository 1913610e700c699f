"""A ViewerSocket in memory (rfb/transports/websocket.py's protocol), for driving a
WebSocketViewer without sockets: the test (or benchmark) puts text messages in as
aiohttp's parser would hand them over, through the tap where one is set."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class MemorySocket:
    """``transport``: what ``frame_writer`` returns (None: frames go through send_bytes)."""

    def __init__(self, transport: Any = None) -> None:
        self.transport = transport
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.tap: Callable[[str], bool] | None = None
        self.closed = False
        self.close_code: int | None = None

    def feed(self, text: str) -> None:
        """A text message from the viewer: offered to the tap, else queued for receive()."""
        if self.tap is None or not self.tap(text):
            self.incoming.put_nowait(text)

    def tap_text(self, tap: Callable[[str], bool] | None) -> bool:
        self.tap = tap
        return True

    async def receive_text(self, timeout: float | None = None) -> str | None:
        return await self.incoming.get()

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        return await self.incoming.get()

    async def send_bytes(self, data: bytes) -> None:
        pass

    async def send_text(self, text: str) -> None:
        pass

    async def close(self, code: int, reason: str) -> None:
        self.closed = True
        self.close_code = code

    def abort(self) -> None:
        self.closed = True

    def write_buffer_size(self) -> int:
        return 0

    def raw_socket(self) -> None:
        return None

    def frame_writer(self) -> Any:
        return self.transport
