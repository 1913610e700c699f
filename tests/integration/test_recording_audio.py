"""display.record() with sound: the published tone in the MP4's Opus track, on the
pictures' clock, the same packets the viewers get; no sound track where there is no sound."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
import numpy as np

import rfb
from rfb import client, patterns, protocol

from support.tone import TonePublisher, peak_hz

W, H = 160, 120
FPS = 30


def read_back(path: Path) -> dict:
    """The file's tracks: video frame times (s), the sound's first time (s), PCM, packets."""
    with av.open(str(path)) as c:
        out: dict = {"audio_tracks": len(c.streams.audio), "video_tracks": len(c.streams.video)}
        if c.streams.video:
            v = c.streams.video[0]
            out["video_times"] = [float(f.pts * v.time_base) for f in c.decode(v)]
        if c.streams.audio:
            c.seek(0)
            a = c.streams.audio[0]
            out["audio_codec"] = a.codec_context.name
            out["audio_start"] = float(a.start_time * a.time_base)
            pcm, first = [], None
            for f in c.decode(a):
                if first is None:
                    first = float(f.pts * a.time_base)
                x = f.to_ndarray()
                pcm.append(x.T if f.format.is_planar else x.reshape(-1, len(f.layout.channels)))
            out["audio_first"] = first
            out["pcm"] = np.concatenate(pcm).astype(np.float64)
    with av.open(str(path)) as c:
        if c.streams.audio:
            out["packets"] = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
    return out


async def frames(display: rfb.Display, stop: asyncio.Event, marks: dict) -> None:
    """Frames at 30 fps; the frame published when marks["flash"] is set is white, and its
    publish time on the stream clock is kept."""
    i = 0
    while not stop.is_set():
        if marks.get("flash") is True:
            marks["flash"] = display.clock()
            display.publish(np.full((H, W, 3), 255, np.uint8))
        else:
            display.publish(patterns.test_card(W, H, i))
        i += 1
        await asyncio.sleep(1 / FPS)


async def test_the_recorded_tone_is_in_an_opus_track_in_time_with_the_pictures(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sound.mp4"
    stop, marks = asyncio.Event(), {}
    # A viewer that takes sound too: the recording must get the very same packets.
    async with (
        await rfb.serve(W, H, port=0) as display,
        client.connect(display.ws_url, (protocol.CAP_JPEG,), features=("audio",)) as viewer,
    ):
        heard: list[bytes] = []

        async def listen() -> None:
            while True:
                heard.append((await viewer.next_audio(timeout=30))[1])

        listening = asyncio.create_task(listen())
        rec = display.record(path)
        t0 = display.clock()
        pictures = asyncio.create_task(frames(display, stop, marks))
        await asyncio.sleep(0.2)
        # The sound starts with the white frame: published the same instant.
        marks["flash"] = True
        while marks["flash"] is True:
            await asyncio.sleep(0)
        tone = TonePublisher(display, 440.0)
        await asyncio.sleep(2.0)
        await tone.stop()
        stop.set()
        await pictures
        await rec.stop()
        listening.cancel()
    got = read_back(path)
    assert got["video_tracks"] == 1 and got["audio_tracks"] == 1
    assert got["audio_codec"] == "opus"
    assert abs(peak_hz(got["pcm"][4800:]) - 440.0) <= 5
    assert np.sqrt(np.mean(got["pcm"][4800:] ** 2)) > 0.2  # the 0.5 amplitude tone, not a trace
    assert 1.7 * 48000 <= len(got["pcm"]) <= 2.3 * 48000
    # Same clock: the sound starts with the white frame's picture, within a frame or two.
    flash_at = marks["flash"] - t0
    white = min(got["video_times"], key=lambda t: abs(t - flash_at))
    assert abs(white - flash_at) < 1 / FPS  # the picture is where it was published
    assert abs(got["audio_first"] - white) <= 2 / FPS, (got["audio_first"], white)
    # No second encode: the file's packets are those the viewer was sent.
    assert rec.audio_packets == len(got["packets"]) >= 90
    same = set(heard)
    assert sum(p in same for p in got["packets"]) >= len(got["packets"]) - 2


async def test_a_stream_without_sound_records_no_sound_track(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    stop = asyncio.Event()
    async with await rfb.serve(W, H, port=0) as display:
        rec = display.record(path)
        pictures = asyncio.create_task(frames(display, stop, {}))
        await asyncio.sleep(1.0)
        stop.set()
        await pictures
        await rec.stop()
        assert display.metrics()["display"]["audio"]["running"] is False  # nothing encoded
    got = read_back(path)
    assert got["video_tracks"] == 1 and got["audio_tracks"] == 0
    assert rec.audio_packets == 0


async def test_audio_true_takes_sound_that_starts_later(tmp_path: Path) -> None:
    path = tmp_path / "later.mp4"
    stop = asyncio.Event()
    async with await rfb.serve(W, H, port=0) as display:
        rec = display.record(path, audio=True)
        t0 = display.clock()
        pictures = asyncio.create_task(frames(display, stop, {}))
        await asyncio.sleep(1.2)
        started = display.clock() - t0
        tone = TonePublisher(display, 440.0, channels=2)
        await asyncio.sleep(1.0)
        await tone.stop()
        stop.set()
        await pictures
        await rec.stop()
    got = read_back(path)
    assert got["audio_tracks"] == 1
    assert abs(got["audio_first"] - started) <= 2 / FPS, (got["audio_first"], started)
    assert abs(peak_hz(got["pcm"][4800:]) - 440.0) <= 5
