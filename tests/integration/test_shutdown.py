"""Graceful shutdown: every viewer is told why, nothing is left running, and it ends."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading

import aiohttp
import pytest

import rfb
from rfb import client, encoders, patterns, protocol

from support.servers import free_port

JPEG = [protocol.CAP_JPEG]
H264 = [protocol.CAP_H264, protocol.CAP_JPEG]


def ours() -> list[str]:
    """This library's threads: the encoders' (rfb-<encoder>) and serve_in_thread's."""
    return [t.name for t in threading.enumerate() if t.name.startswith("rfb-")]


async def test_aclose_says_1001_to_everyone_ends_peers_and_stops_encoders() -> None:
    pytest.importorskip("aiortc")
    from support.webrtc import LOOPBACK, whep

    display = await rfb.serve(320, 240, port=0, transport="webrtc", ice=LOOPBACK)
    card = patterns.make("test_card", 320, 240)

    async def publish() -> None:
        i = 0
        while not display.closed:
            display.publish(card(i))
            i += 1
            await asyncio.sleep(1 / 30)

    publisher = asyncio.create_task(publish())
    async with (
        client.connect(display.ws_url, H264) as polite,
        client.connect(display.ws_url, JPEG, auto_ack=False) as stuck,
        aiohttp.ClientSession() as http,
        http.ws_connect(display.ws_url) as silent,  # never says hello
        whep(display, delete=False) as rtc,
    ):
        await polite.next_frame()
        await stuck.next_frame()  # and never reads again: its close handshake stalls
        await rtc.frame()
        await asyncio.wait_for(rtc.opened.wait(), 5)
        assert encoders.open_encoder_count() >= 2 and len(ours()) >= 2
        # Viewers that read answer the close handshake at once, as browsers do.
        (server_peer,) = display.stream.webrtc.sessions.values()
        polite_closed = asyncio.create_task(polite.wait_closed(10))
        silent_closed = asyncio.create_task(silent.receive(timeout=10))
        async with asyncio.timeout(10):  # aclose() is bounded: a hang fails here
            await display.aclose()
        publisher.cancel()
        assert await polite_closed == (protocol.CLOSE_GOING_AWAY, "server shutting down")
        msg = await silent_closed
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == protocol.CLOSE_GOING_AWAY
        async with asyncio.timeout(5):
            while not any(t.get("type") == "close" for t in rtc.texts):
                await asyncio.sleep(0.02)
        bye = next(t for t in rtc.texts if t.get("type") == "close")
        assert bye == {"type": "close", "code": 1001, "reason": "server shutting down"}
        assert server_peer.pc.connectionState == "closed"  # ended on the server's side
    assert display.stream.webrtc.sessions == {}
    assert encoders.open_encoder_count() == 0
    async with asyncio.timeout(5):  # the encoder threads (rfb-<encoder>) end
        while ours():
            await asyncio.sleep(0.05)
    with pytest.raises(RuntimeError):
        display.publish(card(0))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_ctrl_c_closes_viewers_with_1001_and_exits(sig: signal.Signals) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rfb.server", "--port", str(port), "--width", "320",
        "--height", "240", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"serving" in line, line
        async with client.connect(f"ws://127.0.0.1:{port}/", JPEG) as v:
            await v.next_frame()
            proc.send_signal(sig)
            assert await v.wait_closed(10) == (protocol.CLOSE_GOING_AWAY, "server shutting down")
        rest = await asyncio.wait_for(proc.stdout.read(), 15)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert b"rfb: stopped" in rest and b"Traceback" not in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


