"""display.relay_rtp(): the stream's H.264 as RFC 6184 RTP, read back by PyAV from an SDP
file (as ffmpeg or GStreamer would), by a fake receiver that asks for keyframes, and by
nobody at all. (The packetiser and the RTCP reader sans I/O: tests/unit/rtp/test_h264.py.)"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import rfb
from rfb import client, patterns, protocol

W, H = 320, 240
PROBES = ((W // 4, H // 4), (3 * W // 4, H // 4), (W // 4, 3 * H // 4), (3 * W // 4, 3 * H // 4))
COLOUR_TOLERANCE = 8


# -- over UDP --------------------------------------------------------------------------------


def free_udp_pair() -> int:
    """An even port with the next one free too (RTP, RTCP)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1] & ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:  # fmt: skip
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free UDP port pair")


async def publishing(display: rfb.Display, stop: asyncio.Event, fps: float = 30,
                     size: tuple[int, int] = (W, H)) -> None:  # fmt: skip
    i = 0
    while not stop.is_set():
        display.publish(patterns.test_card(*size, i))
        i += 1
        await asyncio.sleep(1 / fps)


def read_sdp(path: Path, frames: int, out: list[Any], error: list[BaseException]) -> None:
    try:
        with av.open(str(path), format="sdp", timeout=10,
                     options={"protocol_whitelist": "file,udp,rtp"}) as c:  # fmt: skip
            for f in c.decode(video=0):
                out.append(f.reformat(format="rgb24", src_colorspace="ITU601",
                                      src_color_range="MPEG").to_ndarray())  # fmt: skip
                if len(out) >= frames:
                    return
    except BaseException as exc:
        error.append(exc)


async def test_pyav_reads_the_relay_from_an_sdp_file_with_no_second_encode(tmp_path: Path) -> None:
    port = free_udp_pair()
    async with await rfb.serve(W, H, port=0) as display:
        stop = asyncio.Event()
        pub = asyncio.create_task(publishing(display, stop))
        try:
            async with client.connect(display.ws_url, [protocol.CAP_H264]) as viewer:
                await viewer.next_frame()
                relay = display.relay_rtp(f"rtp://127.0.0.1:{port}")
                assert display.relays == [relay]
                # One H.264 group serves the viewer and the relay: nothing encoded twice.
                h264 = [g for g in display.stream.hub.live_groups()
                        if g.key.capability == protocol.CAP_H264]  # fmt: skip
                assert len(h264) == 1
                sdp = tmp_path / "relay.sdp"
                sdp.write_text(relay.sdp())
                frames: list[np.ndarray] = []
                error: list[BaseException] = []
                reader = threading.Thread(target=read_sdp, args=(sdp, 20, frames, error))
                reader.start()
                while reader.is_alive():
                    await asyncio.sleep(0.05)
                assert not error, error
                encoded = h264[0].metrics()["frames_encoded"]
                assert relay.units_sent <= encoded + 2  # the group's units, not its own
                await relay.stop()
                assert display.relays == []
        finally:
            stop.set()
            await pub
    assert len(frames) == 20
    for got in frames[-5:]:
        assert got.shape == (H, W, 3)
        assert is_test_card(got)


def is_test_card(got: np.ndarray) -> bool:
    """The picture is a test_card frame (its colours rotate from frame to frame)."""
    return any(
        all(np.abs(got[y, x].astype(int) - want[y, x]).max() <= COLOUR_TOLERANCE
            for x, y in PROBES)
        for want in (patterns.test_card(W, H, k) for k in range(4))
    )  # fmt: skip


class FakeReceiver:
    """What a media server does: takes RTP on ``port``, RTCP on ``port + 1``, and sends
    its feedback back to where the sender reports came from."""

    def __init__(self, port: int) -> None:
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", port))
        self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtcp.bind(("127.0.0.1", port + 1))
        for s in (self.rtp, self.rtcp):
            s.settimeout(5)

    def sender_report(self) -> tuple[bytes, Any]:
        while True:
            data, addr = self.rtcp.recvfrom(2048)
            if data[1] == 200:
                return data, addr

    def packet(self) -> bytes:
        return self.rtp.recv(2048)

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()


def starts_idr(packet: bytes) -> bool:
    payload = packet[12:]
    kind = payload[0] & 0x1F
    if kind == 24:
        kind = payload[3] & 0x1F  # the first NAL unit in the STAP-A
    elif kind == 28:
        kind = payload[1] & 0x1F
    return kind in (5, 7)


async def test_a_pli_from_the_receiver_brings_a_keyframe_at_once() -> None:
    port = free_udp_pair()
    rx = FakeReceiver(port)
    async with await rfb.serve(W, H, port=0, keyframe_interval_s=30) as display:
        stop = asyncio.Event()
        pub = asyncio.create_task(publishing(display, stop))
        try:
            relay = display.relay_rtp(f"rtp://127.0.0.1:{port}")
            sr, addr = await asyncio.to_thread(rx.sender_report)
            ssrc = struct.unpack_from("!I", sr, 4)[0]
            assert ssrc == relay.packetizer.ssrc
            await asyncio.sleep(2.5)  # past the first IDR and the group's keyframe limit
            while True:  # drain what came so far
                rx.rtp.settimeout(0.05)
                try:
                    rx.packet()
                except TimeoutError:
                    break
            rx.rtp.settimeout(5)
            rx.rtcp.sendto(struct.pack("!BBHII", 0x81, 206, 2, 1, ssrc), addr)
            async with asyncio.timeout(3):
                while not relay.keyframe_requests:
                    await asyncio.sleep(0.01)
            assert relay.receiver_seen

            def next_idr() -> int:
                for n in range(200):
                    if starts_idr(rx.packet()):
                        return n
                return -1

            assert 0 <= await asyncio.to_thread(next_idr) < 200  # long before the 30 s IDR
        finally:
            stop.set()
            await pub
            rx.close()


async def test_a_relay_to_nobody_logs_once_and_recovers_when_the_receiver_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_udp_pair()
    caplog.set_level(logging.INFO, logger="rfb")
    async with await rfb.serve(W, H, port=0, keyframe_interval_s=1) as display:
        stop = asyncio.Event()
        pub = asyncio.create_task(publishing(display, stop))
        try:
            async with client.connect(display.ws_url, [protocol.CAP_JPEG]) as viewer:
                relay = display.relay_rtp(f"rtp://127.0.0.1:{port}")
                await asyncio.sleep(1.0)  # nobody listens: ICMP port unreachable
                shown = 0
                for _ in range(10):  # the direct viewer does not notice
                    await viewer.next_frame()
                    shown += 1
                sent = relay.units_sent
                assert sent >= 20
                warned = [r for r in caplog.records if "nothing is listening" in r.message]
                assert len(warned) == 1
                rx = FakeReceiver(port)  # the receiver (re)starts
                try:
                    def first_idr() -> bool:
                        return any(starts_idr(rx.packet()) for _ in range(500))

                    async with asyncio.timeout(3):  # within one keyframe interval (+ slack)
                        assert await asyncio.to_thread(first_idr)
                    assert relay.units_sent > sent
                finally:
                    rx.close()
                assert shown == 10
        finally:
            stop.set()
            await pub


async def test_a_relay_can_take_a_lower_rung_of_the_ladder(tmp_path: Path) -> None:
    port = free_udp_pair()
    async with await rfb.serve(640, 480, port=0) as display:
        stop = asyncio.Event()
        task = asyncio.create_task(publishing(display, stop, size=(640, 480)))
        try:
            lad = display.stream.hub.ladder(protocol.CAP_H264)
            rung = next(i for i, r in enumerate(lad.rungs) if r.scale < 1)  # the first smaller
            want = lad.coded_size(rung, 640, 480)
            relay = display.relay_rtp(f"rtp://127.0.0.1:{port}", rung=rung)
            assert relay.rung == rung
            (group,) = display.stream.hub.live_groups()
            assert group.rung == rung  # its own group: nobody else watches that rung
            sdp = tmp_path / "low.sdp"
            sdp.write_text(relay.sdp())
            frames: list[np.ndarray] = []
            error: list[BaseException] = []
            reader = threading.Thread(target=read_sdp, args=(sdp, 5, frames, error))
            reader.start()
            while reader.is_alive():
                await asyncio.sleep(0.05)
            assert not error, error
            assert frames and frames[-1].shape[:2] == (want[1], want[0]) and want[0] < 640
        finally:
            stop.set()
            await task
