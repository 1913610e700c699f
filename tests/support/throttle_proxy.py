"""A loopback TCP proxy whose downstream direction is a bottleneck of a given rate.

    proxy = ThrottleProxy(("127.0.0.1", upstream_port), rate_bps=2e6)
    await proxy.start()          # listens on 127.0.0.1:proxy.port
    proxy.rate_bps = 10e6        # lift the bottleneck mid-run (None: no limit)

Bytes from the server to the client leave at ``rate_bps`` (a token bucket with a small
burst), like a link's serialisation; what waits is bounded by ``queue_s`` seconds of the
rate, beyond which the proxy stops reading and TCP's own flow control pushes back to the
server, as a full router queue would (without dropping). Client -> server is not limited.
Only for tests and benchmarks on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

_CHUNK = 1448  # about one TCP segment per write


class ThrottleProxy:
    def __init__(
        self,
        upstream: tuple[str, int],
        rate_bps: float | None,
        *,
        queue_s: float = 0.4,
        burst_bytes: int = 4096,
    ) -> None:
        self.upstream = upstream
        self.rate_bps = rate_bps
        self.queue_s = queue_s
        self.burst_bytes = burst_bytes
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.bytes_down = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._server is not None:
            await self._server.wait_closed()

    def _spawn(self, coro) -> asyncio.Task[None]:  # type: ignore[no-untyped-def]
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        a = self._spawn(self._copy(client_r, up_w, limited=False))
        b = self._spawn(self._copy(up_r, client_w, limited=True))
        await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
        for t in (a, b):
            t.cancel()
        for w in (up_w, client_w):
            w.close()

    async def _copy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, limited: bool
    ) -> None:
        tokens = float(self.burst_bytes)
        last = time.monotonic()
        while True:
            rate = self.rate_bps
            # Read no more than the queue may hold; the rest waits in the server's socket.
            limit = (
                65536 if rate is None or not limited else max(_CHUNK, int(rate / 8 * self.queue_s))
            )
            data = await reader.read(min(limit, 65536))
            if not data:
                return
            if limited and rate is not None:
                for i in range(0, len(data), _CHUNK):
                    piece = data[i : i + _CHUNK]
                    while True:
                        rate = self.rate_bps
                        now = time.monotonic()
                        if rate is None:
                            break
                        tokens = min(float(self.burst_bytes), tokens + (now - last) * rate / 8)
                        last = now
                        if tokens >= len(piece):
                            tokens -= len(piece)
                            break
                        await asyncio.sleep((len(piece) - tokens) * 8 / rate)
                    writer.write(piece)
                    self.bytes_down += len(piece)
                    await writer.drain()
            else:
                writer.write(data)
                if limited:
                    self.bytes_down += len(data)
                await writer.drain()
