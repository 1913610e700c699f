"""The program's sound over a real WebSocket: Opus packets that PyAV decodes back to the
tone, only for viewers that ask, and nothing for a stream without audio. (Sans I/O:
tests/unit/test_audio.py.)"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from rfb import client, protocol

from support.tone import TonePublisher, decode_opus, peak_hz, tone

JPEG = (protocol.CAP_JPEG,)


@pytest.mark.parametrize(("channels", "dtype", "rate"), [(1, np.float32, 48000),
                                                        (2, np.int16, 48000),
                                                        (1, np.float32, 44100)])  # fmt: skip
async def test_a_viewer_that_asks_gets_the_tone(serving, channels, dtype, rate) -> None:
    display, _ = await serving(160, 120)
    async with (
        client.connect(display.ws_url, JPEG, features=("audio",)) as v,
        client.connect(display.ws_url, JPEG) as old,  # a pdum.rfb 0.x client: no audio
    ):
        await v.next_frame()
        await old.next_frame()
        pub = TonePublisher(display, 440.0, rate=rate, channels=channels, dtype=dtype)
        try:
            packets = [await v.next_audio() for _ in range(50)]  # one second
        finally:
            await pub.stop()
        heads = [h for h, _ in packets]
        assert all(h["type"] == "audio_chunk" and h["codec"] == "opus" for h in heads)
        assert {h["channels"] for h in heads} == {channels}
        assert {h["sample_rate"] for h in heads} == {48000}
        assert {h["duration_us"] for h in heads} == {20000}
        # A steady producer: gapless, 20 ms apart. (A stall of this busy machine over
        # 100 ms drops a packet as late; over 60 ms, restarts the timeline a little later.)
        seqs = np.diff([h["seq"] for h in heads])
        assert (seqs >= 1).all() and (seqs > 1).sum() <= 2, seqs
        ts = np.diff([h["timestamp_us"] for h in heads])
        assert (ts >= 20000).all() and (ts == 20000).sum() >= 45, ts
        # on the frames' clock: stamped at publish time, sent as their time comes
        now = display.now_us()
        assert 0 < now - heads[-1]["timestamp_us"] < 500_000
        pcm = decode_opus(packets)
        assert abs(peak_hz(pcm[4800:]) - 440.0) <= 5
        rms = float(np.sqrt(np.mean(pcm[4800:] ** 2)))
        assert 0.25 < rms < 0.45, rms  # 0.5 amplitude sine: 0.354
        await old.next_frame()
        assert old.audio == []
        m = display.metrics()["display"]["audio"]
        assert m["listeners"] == 1 and m["packets"] >= 50 and m["running"]


async def test_a_stream_without_audio_sends_none_and_runs_nothing(serving) -> None:
    display, _ = await serving(160, 120)
    async with client.connect(display.ws_url, JPEG, features=("audio",)) as v:
        for _ in range(10):
            await v.next_frame()
        assert v.audio == []
        m = display.metrics()["display"]["audio"]
        assert m["running"] is False and m["packets"] == 0 and m["listeners"] == 1


async def test_audio_without_listeners_encodes_nothing(serving) -> None:
    display, _ = await serving(160, 120)
    async with client.connect(display.ws_url, JPEG) as v:  # no "audio" in hello
        await v.next_frame()
        for i in range(20):
            display.publish_audio(tone(960, i * 960))
        await asyncio.sleep(0.1)
        m = display.metrics()["display"]["audio"]
        assert m["running"] is False and m["packets"] == 0
        assert m["samples_skipped"] == 20 * 960


async def test_bad_audio_is_refused_with_what_is_expected(serving) -> None:
    display, _ = await serving(160, 120)
    with pytest.raises(
        ValueError, match=r"\(n,\) or \(n, 1\|2\) int16 or float32, got \(3, 5, 2\) float32"
    ):
        display.publish_audio(np.zeros((3, 5, 2), np.float32))
    with pytest.raises(TypeError, match=r"got \(10,\) float64"):
        display.publish_audio(np.zeros(10))
    with pytest.raises(ValueError, match="sample_rate must be"):
        display.publish_audio(np.zeros(10, np.int16), sample_rate=1000)


async def test_a_viewer_that_does_not_read_gets_no_pile_of_audio(serving) -> None:
    """Sound is not held for a viewer whose socket is backed up: its packets are dropped
    (late) while another viewer keeps getting every one."""
    display, _ = await serving(1920, 1080, pattern=None, fps=5)
    rng = np.random.default_rng(1)
    noise = [rng.integers(0, 256, (1080, 1920, 3), np.uint8) for _ in range(2)]

    async def frames() -> None:  # incompressible: two PNGs in flight fill a socket
        i = 0
        while True:
            display.publish(noise[i % 2])
            i += 1
            await asyncio.sleep(0.2)

    video = asyncio.create_task(frames())
    async with (
        client.connect(display.ws_url, (protocol.CAP_PNG,), features=("audio",)) as stuck,
        client.connect(display.ws_url, JPEG, features=("audio",)) as reader,
    ):
        await stuck.next_frame()
        await reader.next_frame()
        pub = TonePublisher(display, 440.0)
        try:
            # `stuck` reads nothing for 3 s (and acks nothing: its frames stop too)
            got = [await reader.next_audio() for _ in range(150)]
        finally:
            await pub.stop()
            video.cancel()
        seqs = [h["seq"] for h, _ in got]
        assert seqs == list(range(seqs[0], seqs[0] + 150))  # the reader: every packet
        m = display.metrics()["display"]["audio"]
        (conn,) = [c for c in display.stream.connections if c.audio_figures()[1] > 0]
        sent, dropped = conn.audio_figures()
        print("stuck viewer: audio sent", sent, "dropped", dropped)
        assert dropped > 0 and m["dropped"] == dropped
        assert len(conn._audio) <= 5  # never more than 100 ms waiting for it
