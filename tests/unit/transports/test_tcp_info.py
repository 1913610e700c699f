"""The kernel's delivery-rate samples (rfb/transports/tcp_info.py), read through uvloop's
stand-in socket from one socket object made once: the samples come, and letting go of it
never closes the connection it was borrowed from."""

from __future__ import annotations

import asyncio
import gc
import sys

import pytest

from rfb.transports import tcp_info

uvloop = pytest.importorskip("uvloop", reason="uvloop is in the dev extra")

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="TCP_INFO is Linux's")


class _Sink(asyncio.Protocol):
    def __init__(self) -> None:
        self.got = bytearray()
        self.more = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.got += data
        self.more.set()


async def _pair() -> tuple[asyncio.Transport, _Sink, asyncio.AbstractServer]:
    loop = asyncio.get_running_loop()
    sink = _Sink()
    server = await loop.create_server(lambda: sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    return transport, sink, server  # type: ignore[return-value]


def test_a_borrowed_socket_reads_samples_and_never_closes_the_connection() -> None:
    async def main() -> None:
        transport, sink, server = await _pair()
        stand_in = transport.get_extra_info("socket")
        borrowed = tcp_info.borrow(stand_in)
        assert isinstance(borrowed, tcp_info.BorrowedSocket)  # uvloop's stand-in replaced
        transport.write(b"x" * 200_000)
        while len(sink.got) < 200_000:
            await sink.more.wait()
            sink.more.clear()
        await asyncio.sleep(0.05)
        sample = tcp_info.delivery_rate(borrowed)
        assert sample is not None
        bits_per_s, min_rtt = sample
        assert bits_per_s > 1e6 and 0 < min_rtt < 0.1  # loopback: fast, short
        tcp_info.release(borrowed)
        assert tcp_info.delivery_rate(borrowed) is None  # released: no more samples
        del borrowed
        gc.collect()
        again = tcp_info.borrow(stand_in)  # dropped without release: still not closed
        del again
        gc.collect()
        transport.write(b"still open")
        while not sink.got.endswith(b"still open"):
            await sink.more.wait()
            sink.more.clear()
        transport.close()
        server.close()
        await server.wait_closed()

    uvloop.run(main())


def test_other_sockets_are_read_as_they_are() -> None:
    async def main() -> None:
        transport, _sink, server = await _pair()
        sock = transport.get_extra_info("socket")
        assert tcp_info.borrow(sock) is sock  # asyncio's own: cheap already
        assert tcp_info.borrow(None) is None
        transport.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
