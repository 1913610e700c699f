"""display.relay_rtp(rungs=...): several rungs of the ladder as RTP simulcast, each a
substream with its own SSRC and port, read back by PyAV from the relay's SDP file, and
by fake receivers that ask for keyframes as Janus does (naming the first substream's
SSRC) and as mediasoup does (naming the one they mean). The choice of rungs and of the
substreams a request is for, sans I/O: tests/unit/test_relay.py. Through Janus:
tests/deploy/test_janus.py."""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import rfb
from rfb import client, protocol

from .test_relay import publishing, starts_idr
from support.servers import free_port

W, H = 640, 480


def free_udp_ports(count: int) -> int:
    """The first of ``count`` consecutive free UDP ports (even)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1] & ~1
        held = []
        try:
            for p in range(first, first + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind(("127.0.0.1", p))
            return first
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError("no free UDP ports")


def read_substreams(path: Path, frames: int, out: dict[int, list[np.ndarray]],
                    error: list[BaseException]) -> None:  # fmt: skip
    """Decode every video stream of the SDP until each has ``frames`` pictures."""
    try:
        with av.open(str(path), format="sdp", timeout=10,
                     options={"protocol_whitelist": "file,udp,rtp"}) as c:  # fmt: skip
            for packet in c.demux(video=list(range(len(c.streams.video)))):
                for f in packet.decode():
                    out.setdefault(packet.stream.index, []).append(f.to_ndarray(format="rgb24"))
                if len(out) == len(c.streams.video) and min(map(len, out.values())) >= frames:
                    return
    except BaseException as exc:
        error.append(exc)


async def test_two_rungs_as_simulcast_decode_at_their_sizes_with_no_encode_for_the_watched_one(
    tmp_path: Path,
) -> None:
    port = free_udp_ports(4)
    async with await rfb.serve(W, H, port=0) as display:
        stop = asyncio.Event()
        task = asyncio.create_task(publishing(display, stop, size=(W, H)))
        try:
            async with client.connect(display.ws_url, [protocol.CAP_H264]) as viewer:
                await viewer.next_frame()  # a viewer on the top rung
                lad = display.stream.hub.ladder(protocol.CAP_H264)
                low = next(i for i, r in enumerate(lad.rungs) if r.scale < 1)
                relay = display.relay_rtp(f"rtp://127.0.0.1:{port}", rungs=(0, low))
                assert relay.rungs == (low, 0)  # the lowest quality first: Janus's substream 0
                assert relay.ports == (port, port + 2)
                assert len(set(relay.ssrcs)) == 2
                h264 = [g for g in display.stream.hub.live_groups()
                        if g.key.capability == protocol.CAP_H264]  # fmt: skip
                assert sorted(g.rung for g in h264) == [0, low]  # one more encode: the low rung
                subs = relay.metrics()["substreams"]
                assert [s["shared_with"] for s in subs] == [0, 1]  # the top is the viewer's
                assert subs[0]["size"] == list(lad.coded_size(low, W, H))
                sdp = tmp_path / "simulcast.sdp"
                sdp.write_text(relay.sdp())
                got: dict[int, list[np.ndarray]] = {}
                error: list[BaseException] = []
                reader = threading.Thread(target=read_substreams, args=(sdp, 5, got, error))
                reader.start()
                while reader.is_alive():
                    await viewer.next_frame()  # the viewer goes on meanwhile
                assert not error, error
                await relay.stop()
                # The low rung's group was the relay's alone: it is gone with it.
                assert [g.rung for g in display.stream.hub.live_groups()
                        if g.key.capability == protocol.CAP_H264] == [0]  # fmt: skip
        finally:
            stop.set()
            await task
    want_w, want_h = lad.coded_size(low, W, H)
    assert got[0][-1].shape == (want_h, want_w, 3) and want_w < W
    assert got[1][-1].shape == (H, W, 3)
    for frames in got.values():  # both pictures are the test card, at their own sizes
        small = frames[-1][:: max(1, frames[-1].shape[0] // 4), :: max(1, frames[-1].shape[1] // 4)]
        assert small.std() > 20


class Receiver:
    """A media server's sockets: RTP on each substream's port, RTCP on ``rtcp``."""

    def __init__(self, ports: list[int], rtcp: int) -> None:
        self.rtp = []
        for p in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", p))
            s.settimeout(5)
            self.rtp.append(s)
        self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtcp.bind(("127.0.0.1", rtcp))
        self.rtcp.settimeout(5)

    def sender_reports(self, n: int) -> tuple[set[int], Any]:
        """The SSRCs of the first ``n`` distinct sender reports, and where they came from."""
        seen: set[int] = set()
        while True:
            data, addr = self.rtcp.recvfrom(2048)
            if data[1] == 200:
                seen.add(struct.unpack_from("!I", data, 4)[0])
                if len(seen) >= n:
                    return seen, addr

    def drain(self) -> None:
        """Drop what is queued (sent before a request): each socket until it is empty."""
        for s in self.rtp:
            s.setblocking(False)
            try:
                while True:
                    s.recv(2048)
            except BlockingIOError:
                pass
            s.settimeout(5)

    def next_idr(self, i: int) -> tuple[int, int]:
        """(packets before an IDR on substream ``i``, its SSRC); -1 if none in 300."""
        for n in range(300):
            packet = self.rtp[i].recv(2048)
            if starts_idr(packet):
                return n, struct.unpack_from("!I", packet, 8)[0]
        return -1, 0

    def close(self) -> None:
        for s in (*self.rtp, self.rtcp):
            s.close()


def pli(media_ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x81, 206, 2, 1, media_ssrc)


async def test_keyframe_requests_reach_the_substreams_they_are_for() -> None:
    port = free_udp_ports(6)
    rx = Receiver([port, port + 2, port + 4], port + 1)
    async with await rfb.serve(W, H, port=0, keyframe_interval_s=30) as display:
        stop = asyncio.Event()
        pub = asyncio.create_task(publishing(display, stop, size=(W, H)))
        try:
            relay = display.relay_rtp(f"rtp://127.0.0.1:{port}", simulcast=True)
            assert len(relay.substreams) == 3 and relay.rungs[-1] == 0
            ssrcs, addr = await asyncio.to_thread(rx.sender_reports, 3)
            assert ssrcs == set(relay.ssrcs)  # a sender report per substream, one RTCP port
            await asyncio.sleep(2.5)  # past the first IDRs and the groups' keyframe limit
            await asyncio.to_thread(rx.drain)
            # Janus: its PLI names substream 0's SSRC whichever substream its watcher wants.
            rx.rtcp.sendto(pli(relay.ssrcs[0]), addr)
            found = await asyncio.gather(*(asyncio.to_thread(rx.next_idr, i) for i in range(3)))
            for (n, ssrc), want in zip(found, relay.ssrcs, strict=True):
                assert 0 <= n < 300 and ssrc == want  # long before the 30 s IDR
            # mediasoup: it names the substream it means.
            await asyncio.sleep(1.0)  # past the groups' limit on forced keyframes
            await asyncio.to_thread(rx.drain)
            rx.rtcp.sendto(pli(relay.ssrcs[2]), addr)
            n, ssrc = await asyncio.to_thread(rx.next_idr, 2)
            assert 0 <= n < 300 and ssrc == relay.ssrcs[2]
            assert relay.keyframe_requests == 2 and relay.receiver_seen
        finally:
            stop.set()
            await pub
            rx.close()


async def test_simulcast_arguments_are_checked() -> None:
    async with await rfb.serve(W, H, port=0) as display:
        for kwargs, match in (
            ({"rung": 1, "rungs": (0, 2)}, "not both"),
            ({"rungs": (0, 2), "simulcast": True}, "not both"),
            ({"rungs": ()}, "at least one rung"),
            ({"rungs": (0, -1)}, "0 .the top. or more"),
            ({"rungs": (0, 2), "ports": (5004,)}, "one port per rung"),
            ({"rungs": (0, 2), "ports": (5006, 5008)}, "starts with the URL's port"),
            ({"rungs": (0, 2), "audio_port": 5006}, "a port of its own"),
        ):
            with pytest.raises(ValueError, match=match):
                display.relay_rtp("rtp://127.0.0.1:5004", **kwargs)  # type: ignore[arg-type]
        assert display.relays == []


async def test_one_port_for_every_substream_shares_one_socket() -> None:
    """A receiver that tells substreams apart by SSRC (mediasoup's PlainTransport with
    rtcp-mux) gets them all, and the sender reports, from one address."""
    port = free_udp_ports(2)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", port))
    rx.settimeout(5)
    async with await rfb.serve(W, H, port=0) as display:
        stop = asyncio.Event()
        pub = asyncio.create_task(publishing(display, stop, size=(W, H)))
        try:
            relay = display.relay_rtp(f"rtp://127.0.0.1:{port}", rungs=(0, 3),
                                      ports=(port, port), rtcp_port=port)  # fmt: skip

            def gather() -> tuple[set[int], set[Any], set[int]]:
                media, senders, reports = set(), set(), set()
                for _ in range(400):
                    data, addr = rx.recvfrom(2048)
                    senders.add(addr)
                    if data[1] == 200:
                        reports.add(struct.unpack_from("!I", data, 4)[0])
                    else:
                        media.add(struct.unpack_from("!I", data, 8)[0])
                    if len(media) == 2 and len(reports) == 2:
                        break
                return media, senders, reports

            media, senders, reports = await asyncio.to_thread(gather)
            assert media == reports == set(relay.ssrcs)
            assert len(senders) == 1  # comedia latches onto one address
        finally:
            stop.set()
            await pub
            rx.close()


async def test_the_demo_server_relays_simulcast_from_its_command_line() -> None:
    """``python -m rfb.server --relay-rtp URL --relay-rungs 0,2``: two substreams, each
    on its own port with its own SSRC, both H.264 (payload type 96)."""
    first = free_udp_ports(4)
    socks = []
    for p in (first, first + 2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", p))
        s.setblocking(False)
        socks.append(s)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rfb.server", "--port", str(free_port()), "--width", "320",
        "--height", "240", "--relay-rtp", f"rtp://127.0.0.1:{first}", "--relay-rungs", "0,2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    ssrcs: list[set[int]] = [set(), set()]
    try:
        async with asyncio.timeout(30):
            while not all(len(s) >= 1 for s in ssrcs) or sum(map(len, ssrcs)) < 2:
                for i, s in enumerate(socks):
                    try:
                        data = s.recv(2048)
                    except BlockingIOError:
                        continue
                    assert data[1] & 0x7F == 96
                    ssrcs[i].add(struct.unpack("!I", data[8:12])[0])
                await asyncio.sleep(0.01)
        assert len(ssrcs[0]) == len(ssrcs[1]) == 1 and ssrcs[0] != ssrcs[1]
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        out = await asyncio.wait_for(proc.communicate(), 15)
        assert b"Traceback" not in out[0], out[0].decode()
