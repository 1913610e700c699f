"""Flow control over real sockets: a viewer that never reads is sent no more than its
credit while a healthy one keeps its frame rate, and a viewer that vanishes is
detached."""

from __future__ import annotations

import asyncio

from rfb import client, protocol

H264 = [protocol.CAP_H264, protocol.CAP_JPEG, protocol.CAP_PNG]
JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]


async def test_viewer_that_never_reads_does_not_grow_memory(serving) -> None:
    display, _pub = await serving(640, 480, pattern="checkerboard", fps=60)
    # A raw socket that says hello and then never reads or acks anything.
    _reader, writer = await asyncio.open_connection("127.0.0.1", display.port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    hello = protocol.build_hello([protocol.CAP_PNG]).encode()
    mask = b"\x00\x00\x00\x00"
    writer.write(bytes([0x81, 0x80 | 126]) + len(hello).to_bytes(2, "big") + mask + hello)
    await writer.drain()
    async with client.connect(display.ws_url, H264) as good:
        for _ in range(3 * 60):  # 3 s of frames at 60 fps
            await good.next_frame()
        (conn_viewer,) = [v for v in display.stream.hub.metrics()["viewers"] if v["codec"] == "image/png"]
        # Flow control stops sending after max_inflight unacked frames (and their expiry
        # lets only another couple through): nothing queues up for the stuck viewer.
        assert conn_viewer["frames_sent"] <= 2 * 2 + 2
        assert conn_viewer["inflight"] <= 2
    writer.close()


async def test_dead_viewer_is_detached(serving) -> None:
    display, _ = await serving(64, 64)
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        assert display.client_count == 1
        v.ws._response.connection.transport.abort()  # vanish without a close frame
    async with asyncio.timeout(5):
        while display.client_count:
            await asyncio.sleep(0.01)
