"""relay_rtp(audio_port=...): the stream's sound as Opus RTP (RFC 7587) on a port and SSRC
of its own, received on a local UDP socket, depacketised and decoded back to the tone;
timestamps on the pictures' clock; sender reports for both tracks on one wall clock."""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct

import av
import numpy as np
import pytest

import rfb
from rfb import patterns
from rfb.rtp import opus as rtp_opus

from .test_relay import free_udp_pair
from support.tone import TonePublisher, peak_hz

W, H = 160, 120


def bind(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.setblocking(False)
    return s


def drain(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096))
        except BlockingIOError:
            return out


def sender_reports(datagrams: list[bytes]) -> list[tuple[int, float, int]]:
    """(SSRC, NTP time in s, RTP timestamp) of each RTCP sender report."""
    out = []
    for d in datagrams:
        if len(d) >= 28 and d[1] == 200:
            ssrc, sec, frac, rtp = struct.unpack_from("!IIII", d, 4)
            out.append((ssrc, sec + frac / 2**32, rtp))
    return out


async def frames(display: rfb.Display, stop: asyncio.Event) -> None:
    i = 0
    while not stop.is_set():
        display.publish(patterns.test_card(W, H, i))
        i += 1
        await asyncio.sleep(1 / 30)


async def test_the_relayed_audio_rtp_decodes_to_the_tone() -> None:
    vport, aport = free_udp_pair(), free_udp_pair()
    socks = {k: bind(p) for k, p in (("v", vport), ("vc", vport + 1), ("a", aport),
                                     ("ac", aport + 1))}  # fmt: skip
    got: dict[str, list[bytes]] = {k: [] for k in socks}
    stop = asyncio.Event()
    try:
        async with await rfb.serve(W, H, port=0) as display:
            relay = display.relay_rtp(f"rtp://127.0.0.1:{vport}", audio_port=aport)
            assert f"m=audio {aport} RTP/AVP 111" in relay.sdp()
            assert "a=rtpmap:111 opus/48000/2" in relay.sdp()
            pictures = asyncio.create_task(frames(display, stop))
            tone = TonePublisher(display, 440.0)
            for _ in range(25):  # 2.5 s
                await asyncio.sleep(0.1)
                for k, s in socks.items():
                    got[k] += drain(s)
            first_us = relay.metrics()
            await tone.stop()
            stop.set()
            await pictures
            await relay.stop()
    finally:
        for s in socks.values():
            s.close()
    assert first_us["audio_packets_sent"] >= 100
    packets = [rtp_opus.depacketize(d) for d in got["a"]]
    assert len(packets) >= 100
    pts, seqs, stamps, ssrcs, payloads = zip(*packets, strict=True)
    assert set(pts) == {111} and len(set(ssrcs)) == 1
    video_ssrc = struct.unpack_from("!I", got["v"][0], 8)[0]
    assert ssrcs[0] != video_ssrc
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))  # none lost on loopback
    # 20 ms at 48 kHz apart; where the producer stalled (a 2-core runner) the sound starts
    # again later, after a gap, with the marker bit (a new talkspurt).
    steps = [(b - a) % 2**32 for a, b in itertools.pairwise(stamps)]
    assert all(960 <= d < 48000 for d in steps), steps
    assert steps.count(960) >= len(steps) - 3, steps
    markers = [bool(d[1] & 0x80) for d in got["a"]]
    assert markers[0] and markers[1:] == [d != 960 for d in steps]
    # The payload is the raw Opus packet: decode it.
    ctx = av.CodecContext.create("opus", "r")
    ctx.sample_rate, ctx.layout = 48000, "mono"
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for p in payloads
                          for f in ctx.decode(av.Packet(p))]).astype(np.float64)  # fmt: skip
    assert abs(peak_hz(pcm[4800:]) - 440.0) <= 5
    assert np.sqrt(np.mean(pcm[4800:] ** 2)) > 0.2
    # Sender reports: one per track, each on the same NTP clock; map RTP time to wall time
    # for both and check that the sound's and the pictures' timelines agree.
    vsr = [r for r in sender_reports(got["vc"]) if r[0] == video_ssrc]
    asr = [r for r in sender_reports(got["ac"]) if r[0] == ssrcs[0]]
    assert vsr and asr
    (_, vntp, vrtp), (_, antp, artp) = vsr[-1], asr[-1]
    assert antp == pytest.approx(vntp, abs=0.002)  # sent together
    # The first audio packet's wall time through the audio SR, and a video packet's through
    # the video SR, are both times on the stream's clock: they differ by under the run.
    a_wall = antp + ((stamps[0] - artp + 2**31) % 2**32 - 2**31) / 48000
    v0 = struct.unpack_from("!I", got["v"][0], 4)[0]
    v_wall = vntp + ((v0 - vrtp + 2**31) % 2**32 - 2**31) / 90000
    assert abs(a_wall - v_wall) < 0.5  # both at the start of the run


async def test_no_audio_port_sends_no_sound_and_encodes_none() -> None:
    vport = free_udp_pair()
    async with await rfb.serve(W, H, port=0) as display:
        relay = display.relay_rtp(f"rtp://127.0.0.1:{vport}")
        tone = TonePublisher(display, 440.0)
        await asyncio.sleep(0.3)
        await tone.stop()
        assert relay.metrics()["audio_packets_sent"] == 0
        assert display.metrics()["display"]["audio"]["packets"] == 0  # nobody listened
        await relay.stop()
        with pytest.raises(ValueError, match="port of its own"):
            display.relay_rtp(f"rtp://127.0.0.1:{vport}", audio_port=vport + 1)
