"""The program's sound over WebRTC: an Opus track on WHEP sessions whose offer has audio,
carrying the stream's one encode (aiortc's player decodes the tone back), none for the
others. (The timestamp mapping, sans I/O: tests/unit/test_webrtc_audio.py.)"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from support.tone import TonePublisher, peak_hz
from support.webrtc import LOOPBACK, whep

aiortc = pytest.importorskip("aiortc", reason="WebRTC tests need aiortc: pip install 'rfb[webrtc]'")
pytest.importorskip("av")

W, H = 160, 120


def msid_streams(sdp: str) -> dict[str, str]:
    """m-line kind -> its msid's stream id."""
    out, kind = {}, None
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split()[0]
        elif line.startswith("a=msid:") and kind:
            out[kind] = line[len("a=msid:") :].split()[0]
    return out


async def test_a_webrtc_viewer_with_audio_hears_the_tone(serving) -> None:
    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK)
    async with whep(display, audio=True) as v:
        # One MediaStream for both tracks (the browser lip-syncs them), Opus only.
        streams = msid_streams(v.answer)
        assert set(streams) == {"audio", "video"} and len(set(streams.values())) == 1, v.answer
        audio_section = v.answer[v.answer.index("m=audio") :]
        assert "opus/48000/2" in audio_section and "PCMU" not in audio_section
        await v.frame()
        pub = TonePublisher(display, 440.0)
        try:
            async with asyncio.timeout(15):
                while sum(f.samples for f in v.audio) < 48000 * 1.5:
                    await asyncio.sleep(0.05)
        finally:
            await pub.stop()
        frames = list(v.audio)
        assert {f.sample_rate for f in frames} == {48000}
        pcm = np.concatenate([f.to_ndarray().reshape(-1, len(f.layout.channels)) for f in frames])
        x = pcm[-48000:, 0].astype(np.float64) / 32768  # the last second: past the start
        assert abs(peak_hz(x) - 440.0) <= 5, peak_hz(x)
        rms = float(np.sqrt(np.mean(x**2)))
        assert 0.2 < rms < 0.5, rms  # published at amplitude 0.5: RMS 0.35
        audio = display.metrics()["display"]["audio"]
        assert audio["listeners"] == 1 and audio["sent"] >= 50, audio
        # Its sender reports pair NTP now with the RTP timestamp of now on the stream's
        # clock: the last packet on the wire (stamped with its timestamp_us) is a little
        # older than now, never newer.
        from rfb.transports import aiortc_compat

        (peer,) = display.stream.webrtc.sessions.values()
        assert peer.audio is not None and peer.audio.origin is not None
        now_rtp = peer.audio.report_rtp(display.stream.now_us())
        wire = aiortc_compat.wire_rtp_timestamp(peer.audio.sender)
        age_ms = ((now_rtp - wire) % 2**32) / 48
        assert 0 <= age_ms < 300, age_ms
        assert peer.report_rtp() is not None  # the video's too
        # The video still comes.
        await v.fresh_frame()


async def test_a_webrtc_viewer_without_audio_gets_no_track_and_still_works(serving) -> None:
    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK)
    async with whep(display) as v:
        assert "m=audio" not in v.answer
        await v.frame()
        pub = TonePublisher(display, 440.0)
        try:
            for _ in range(5):
                await v.fresh_frame()
        finally:
            await pub.stop()
        audio = display.metrics()["display"]["audio"]
        assert audio["listeners"] == 0 and audio["packets"] == 0 and not audio["running"], audio
        assert not v.audio


async def test_one_encode_for_websocket_and_webrtc_viewers(serving) -> None:
    from rfb import client, protocol

    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK)
    async with (
        whep(display, audio=True) as v,
        client.connect(display.ws_url, (protocol.CAP_JPEG,), features=("audio",)) as ws,
    ):
        await v.frame()
        await ws.next_frame()
        pub = TonePublisher(display, 440.0)
        try:
            for _ in range(25):
                await ws.next_audio()
            async with asyncio.timeout(10):
                while len(v.audio) < 25:
                    await asyncio.sleep(0.05)
        finally:
            await pub.stop()
        audio = display.metrics()["display"]["audio"]
        assert audio["listeners"] == 2, audio
        # One encoder: as many packets encoded as the WebSocket viewer was offered.
        assert audio["packets"] <= audio["sent"], audio
