"""Ack-only WebSocket viewers without a library, so that one process can hold hundreds:
each opens the WebSocket, says hello as the browser does, hands every frame's envelope to
a callback and acks the frame at once with its arrival time, like the browser's ack. It
never decodes. Used by tests/integration/test_fanout.py and benchmarks/bench_fanout.py.

Frames to the server are masked with a zero key (the mask is then the identity), which is
valid WebSocket and spares the client the XOR.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Callable
from typing import Any

from rfb import protocol

CAPS = (protocol.CAP_H264, protocol.CAP_JPEG)
# What the browser's hello lists (browser/src/protocol.ts FEATURES).
BROWSER_FEATURES = ("messages", "cursor", "clipboard", "pointer_lock", "exact_still",
                    "control", "presence", "files")  # fmt: skip

# (header, payload) of one binary message
OnFrame = Callable[[dict[str, Any], bytes], None]


class AckViewer(asyncio.Protocol):
    """One viewer: upgrade, hello, then every binary message to ``on_frame`` and an ack for
    each frame (``image_frame`` / ``video_chunk``). ``texts`` keeps the text messages."""

    def __init__(self, host: str, port: int, on_frame: OnFrame, path: str = "/") -> None:
        self.host, self.port, self.path = host, port, path
        self.on_frame = on_frame
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.texts: list[str] = []
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def send_text(self, text: str) -> None:
        data = text.encode()
        n = len(data)
        head = bytes((0x81, 0x80 | n)) if n < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, n)
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(head + b"\0\0\0\0" + data)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"upgrade refused: {bytes(buf[:80])!r}")
            del buf[: end + 4]
            self.upgraded = True
            self.send_text(protocol.build_hello(CAPS, scaled_frames=True,
                                                features=BROWSER_FEATURES))  # fmt: skip
        pos = 0
        while len(buf) - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n, head = b1 & 0x7F, 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                (n,) = struct.unpack_from("!H", buf, pos + 2)
                head = 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                (n,) = struct.unpack_from("!Q", buf, pos + 2)
                head = 10
            if len(buf) - pos < head + n:
                break
            start = pos + head
            pos = start + n
            opcode = b0 & 0x0F
            if b0 & 0x70 or b1 & 0x80 or not b0 & 0x80:
                raise RuntimeError(f"unexpected frame bits {b0:#x} {b1:#x}")  # no RSV, mask, parts
            if opcode == 2:
                self._binary(bytes(buf[start:pos]))
            elif opcode == 1:
                self.texts.append(buf[start:pos].decode())
            elif opcode == 9:  # ping: pong with its payload
                assert self.transport is not None
                self.transport.write(bytes((0x8A, 0x80 | n)) + b"\0\0\0\0" + buf[start:pos])
            elif opcode == 8:
                assert self.transport is not None
                self.transport.close()
        del buf[:pos]

    def _binary(self, message: bytes) -> None:
        header, payload = protocol.unpack_envelope(message)
        self.on_frame(header, payload)
        if header.get("type") in ("video_chunk", "image_frame"):
            self.send_text(protocol.build_ack(header["seq"], 0, round(time.monotonic() * 1000, 3)))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def open_viewers(
    port: int, on_frames: list[OnFrame], batch: int = 25, path: str = "/"
) -> list[AckViewer]:
    """One viewer per callback, opened ``batch`` at a time."""
    loop = asyncio.get_running_loop()
    viewers: list[AckViewer] = []
    for i in range(0, len(on_frames), batch):
        made = await asyncio.gather(*(
            loop.create_connection(lambda f=f: AckViewer("127.0.0.1", port, f, path),  # type: ignore[misc]
                                   "127.0.0.1", port)
            for f in on_frames[i : i + batch]
        ))  # fmt: skip
        viewers += [p for _, p in made]
        await asyncio.sleep(0.01)
    return viewers
