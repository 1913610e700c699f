"""The tap on aiohttp's message queue (frontend_sockets.AiohttpSocket.tap_text): a text
message with nothing queued ahead of it goes to the tap as it arrives; one the tap declines,
or one behind a queued message, comes through receive() in order. Where the tap cannot be
installed (aiohttp's internals not as expected, or tap=False), every message comes through
receive() as before. And the pump's tap (WebSocketViewer._on_text) takes only well-formed
acks, acting on them as the pump would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rfb import protocol
from rfb.options import StreamOptions
from rfb.stream import Stream
from rfb.transports import frontend_sockets
from rfb.transports.frontend_sockets import AiohttpSocket
from rfb.transports.websocket import TAP_SPAN_S, YIELD_EVERY, WebSocketViewer

from support.clock import Clock
from support.memory_socket import MemorySocket


async def _wait_for(cond: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not cond():
            await asyncio.sleep(0.005)


Serve = Callable[..., Any]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """serve(tap=...) -> (server-side AiohttpSocket future, client WebSocket)."""
    runners: list[web.AppRunner] = []
    clients: list[aiohttp.ClientSession] = []
    dones: list[asyncio.Event] = []

    async def start(
        *, tap: bool = True
    ) -> tuple[asyncio.Future[AiohttpSocket], Any, asyncio.Event]:
        ready: asyncio.Future[AiohttpSocket] = asyncio.get_running_loop().create_future()
        done = asyncio.Event()
        dones.append(done)

        async def handler(request: web.Request) -> web.StreamResponse:
            sock = AiohttpSocket(request, tap=tap)
            await sock.accept()
            ready.set_result(sock)
            await done.wait()
            with contextlib.suppress(Exception):  # the peer may be gone
                async with asyncio.timeout(1):
                    await sock.close(1000, "")
            return sock.ws

        app = web.Application()
        app.router.add_get("/ws", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        client = aiohttp.ClientSession()
        clients.append(client)
        ws = await client.ws_connect(f"http://127.0.0.1:{port}/ws")
        return ready, ws, done

    yield start
    for d in dones:  # a failed test leaves its handler waiting
        d.set()
    for c in clients:
        await c.close()
    for r in runners:
        await r.cleanup()


async def test_tapped_texts_skip_the_queue_and_nothing_jumps_a_queued_message(
    serve: Serve,
) -> None:
    ready, client, done = await serve()
    sock = await ready
    tapped: list[str] = []

    def tap(text: str) -> bool:
        if text.startswith("ack"):
            tapped.append(text)
            return True
        return False

    assert sock.tap_text(tap)
    await client.send_str("ack 0")
    await _wait_for(lambda: tapped == ["ack 0"])
    for text in ("input 1", "ack 1", "input 2"):  # ack 1 is behind a queued message
        await client.send_str(text)
    await client.send_bytes(b"bin")
    await _wait_for(lambda: len(sock.ws._reader._buffer) == 4)
    got = [await sock.receive() for _ in range(4)]
    assert got == ["input 1", "ack 1", "input 2", b"bin"]
    await client.send_str("ack 2")  # the queue is empty again
    await _wait_for(lambda: tapped == ["ack 0", "ack 2"])
    assert sock.tap_text(None)
    await client.send_str("ack 3")
    assert await sock.receive() == "ack 3"
    done.set()


@pytest.mark.parametrize("how", ["tap=False", "internals not as expected"])
async def test_without_the_tap_every_message_comes_through_receive(
    serve: Serve, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "internals not as expected":
        monkeypatch.setattr(frontend_sockets, "_TAP_QUEUE", None)
    ready, client, done = await serve(tap=how != "tap=False")
    sock = await ready
    tapped: list[str] = []
    assert not sock.tap_text(lambda text: tapped.append(text) is None)
    for text in ("ack 0", "input 1", "ack 1"):
        await client.send_str(text)
    assert [await sock.receive() for _ in range(3)] == ["ack 0", "input 1", "ack 1"]
    assert tapped == []
    done.set()


@pytest.mark.parametrize("answers", [True, False])
async def test_the_heartbeat_drops_a_peer_that_does_not_answer_pings(
    serve: Serve, answers: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the tap, rfb's own heartbeat stands in for aiohttp's: a silent peer is pinged,
    and one that does not answer the ping (no pong) is dropped."""
    monkeypatch.setattr(frontend_sockets, "HEARTBEAT_S", 0.1)
    ready, client, done = await serve()
    sock = await ready
    assert sock.ws._heartbeat is None  # aiohttp's own is off
    if answers:  # a client reading its socket answers pings (autoping)
        reading = asyncio.create_task(client.receive())
        await asyncio.sleep(0.6)
        assert not reading.done() and not sock.closed
        done.set()  # the server closes: the client reads the close
        assert (await reading).type is aiohttp.WSMsgType.CLOSE
    else:  # a peer that stopped reading: no pong comes back, the server drops it
        await asyncio.sleep(0.6)
        transport = sock.request.transport
        assert transport is None or transport.is_closing()
        try:  # the client answers the ping now, on a connection that is gone
            msg = await client.receive(timeout=2)
            assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        except aiohttp.ClientConnectionResetError:
            pass
        done.set()


def test_aiohttp_here_can_be_tapped() -> None:
    """The aiohttp installed here (Cython reader or not): its parser calls the override,
    so rfb's own port takes acks without a wake-up of the pump per ack."""

    async def check() -> type[Any] | None:
        return frontend_sockets._make_tap_queue_class()

    assert asyncio.run(check()) is not None


async def _greeted_viewer(
    clock: Clock | None = None,
) -> tuple[Stream, MemorySocket, WebSocketViewer, asyncio.Task[None], Callable[[str], bool]]:
    """A WebSocketViewer past hello on an in-memory socket: (stream, socket, viewer, its
    run task, the tap it set)."""
    options = StreamOptions(width=64, height=48, fps=30, still_after=None)
    stream = Stream("cam", options) if clock is None else Stream("cam", options, clock=clock)
    sock = MemorySocket()
    conn = WebSocketViewer(sock, stream)  # type: ignore[arg-type]
    run = asyncio.create_task(conn.run())
    sock.incoming.put_nowait(protocol.build_hello([protocol.CAP_H264]))
    await _wait_for(lambda: sock.tap is not None)
    assert sock.tap is not None and conn.viewer is not None
    return stream, sock, conn, run, sock.tap


async def test_the_pump_taps_only_well_formed_acks_and_a_bad_one_closes_with_its_code() -> None:
    stream, sock, _, run, tap = await _greeted_viewer()
    acks: list[int] = []
    real_ack = stream.hub.ack

    def ack(viewer_id: str, seq: int, *args: Any) -> float | None:
        acks.append(seq)
        return real_ack(viewer_id, seq, *args)

    stream.hub.ack = ack  # type: ignore[method-assign]
    assert tap(protocol.build_ack(0, 0))
    assert acks == [0]
    assert not tap('{"type":"input","event":{}}')  # not an ack: the pump's
    assert not tap('{"type": "ack", "seq": 1}')  # not the browser's exact shape: the pump's
    # An ack-shaped message the full parser refuses: left to the pump, which closes.
    bad = '{"type":"ack","seq":-1,"decode_queue_size":0,"displayed":true}'
    assert not tap(bad)
    sock.incoming.put_nowait(bad)
    await asyncio.wait_for(run, 5)
    assert sock.close_code == 1008  # as parse_client_message says: 'seq' out of range
    assert sock.tap is None  # taken off before the viewer goes


async def test_steady_acks_all_go_through_the_tap_and_a_storm_goes_to_the_pump() -> None:
    """One ack a frame is always the tap's (the budget renews each TAP_SPAN_S: before, it
    renewed only when the pump ran, so every YIELD_EVERY-th ack woke the pump and left a
    coroutine chain behind); YIELD_EVERY acks within one span, and the rest of a storm
    comes through the pump, which yields between batches."""
    clock = Clock()
    clock.now = 100.0
    _, sock, _, run, tap = await _greeted_viewer(clock)
    for seq in range(10 * YIELD_EVERY):  # ten budgets' worth, one a frame: all tapped
        clock.now += 1 / 30
        assert tap(protocol.build_ack(seq, 0))
    clock.now += 1 / 30
    storm = [tap(protocol.build_ack(seq, 0)) for seq in range(3 * YIELD_EVERY)]  # at once
    assert storm == [True] * YIELD_EVERY + [False] * (2 * YIELD_EVERY)
    clock.now += TAP_SPAN_S
    assert tap(protocol.build_ack(0, 0))  # the next span: a budget again
    sock.incoming.put_nowait(None)
    await asyncio.wait_for(run, 5)
