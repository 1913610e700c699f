"""Audio tiers over a real WebSocket: a viewer held on the bottom rung of the ladder gets
the low tier (half the bits), one on the top rung the normal tier, both decode to the
tone, and each tier is encoded once. (Sans I/O: tests/unit/test_audio_tiers.py.)"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from rfb import client, protocol
from rfb.session import audio as core

from support.tone import TonePublisher, decode_opus, peak_hz

JPEG = (protocol.CAP_JPEG,)


async def _viewer_id(display, known: set[str]) -> str:
    ids = {v.id for v in display.stream.hub.live_viewers()} - known
    assert len(ids) == 1, ids
    return ids.pop()


async def test_bottom_rung_viewer_gets_the_low_tier_and_top_rung_the_normal(serving) -> None:
    display, _ = await serving(160, 120)
    hub = display.stream.hub
    async with client.connect(display.ws_url, JPEG, features=("audio",)) as top:
        await top.next_frame()
        top_id = await _viewer_id(display, set())
        async with client.connect(display.ws_url, JPEG, features=("audio",)) as low:
            await low.next_frame()
            low_id = await _viewer_id(display, {top_id})
            entries = hub.routing.entries
            assert len(entries[low_id].allowed) > 1  # an adaptive ladder
            hub.pin(top_id, entries[top_id].allowed[0])
            hub.pin(low_id, entries[low_id].allowed[-1])  # forced to the lowest rung
            pub = TonePublisher(display, 440.0)
            try:
                got = {"top": [await top.next_audio() for _ in range(75)],
                       "low": [await low.next_audio() for _ in range(75)]}  # fmt: skip
                tiers = {"top": display.stream.audio.tier_of(top_id),
                         "low": display.stream.audio.tier_of(low_id)}  # fmt: skip
            finally:
                await pub.stop()
    assert tiers == {"top": "normal", "low": "low"}
    # the same blocks (seq, timestamps) whichever the tier
    seqs = {k: {h["seq"] for h, _ in v} for k, v in got.items()}
    assert len(seqs["top"] & seqs["low"]) >= 25
    size = {k: np.mean([len(d) for _, d in v[25:]]) for k, v in got.items()}
    kbps = {k: 8 * s * 50 / 1000 for k, s in size.items()}
    # VBR: a pure tone takes a little over the nominal rate; the low tier about half
    assert kbps["low"] < 0.6 * kbps["top"], kbps
    assert kbps["low"] < 1.5 * core.bitrate(core.LOW, 1) / 1000, kbps
    for k, packets in got.items():
        pcm = decode_opus(packets[25:])
        assert abs(peak_hz(pcm[4800:]) - 440.0) <= 5, k
        rms = float(np.sqrt(np.mean(pcm[4800:] ** 2)))
        assert 0.25 < rms < 0.45, (k, rms)  # 0.5 amplitude sine: 0.354
    m = display.metrics()["display"]["audio"]["tiers"]
    # one encode per tier in use, shared: as many low packets as normal ones at most
    assert m["low"]["packets"] > 0 and m["normal"]["packets"] > 0
    assert m["low"]["packets"] <= m["normal"]["packets"] + core.WARM_PACKETS


async def test_a_webrtc_viewer_on_the_bottom_rung_hears_the_low_tier(serving) -> None:
    pytest.importorskip("aiortc", reason="WebRTC tests need aiortc: pip install 'rfb[webrtc]'")
    from support.webrtc import LOOPBACK, whep

    display, _ = await serving(160, 120, transport="webrtc", ice=LOOPBACK)
    hub = display.stream.hub
    async with whep(display, audio=True) as v:
        await v.frame()
        vid = await _viewer_id(display, set())
        hub.pin(vid, hub.routing.entries[vid].allowed[-1])
        pub = TonePublisher(display, 440.0)
        try:
            async with asyncio.timeout(15):
                while sum(f.samples for f in v.audio) < 48000 * 1.5:
                    await asyncio.sleep(0.05)
            tier = display.stream.audio.tier_of(vid)
        finally:
            await pub.stop()
        frames = list(v.audio)
    assert tier == "low"
    pcm = np.concatenate([f.to_ndarray().reshape(-1, len(f.layout.channels)) for f in frames])
    x = pcm[-48000:, 0].astype(np.float64) / 32768
    assert abs(peak_hz(x) - 440.0) <= 5, peak_hz(x)
    assert 0.2 < float(np.sqrt(np.mean(x**2))) < 0.5
    m = display.metrics()["display"]["audio"]["tiers"]
    # its only listener is on the low tier: nothing else was encoded
    assert m["low"]["packets"] >= 50 and m["normal"]["packets"] == 0, m
    assert 8 * m["low"]["bytes"] / m["low"]["packets"] * 50 < 1.5 * core.bitrate(core.LOW, 1), m
