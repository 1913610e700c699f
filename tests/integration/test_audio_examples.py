"""The two sound examples run as a user runs them: collision_sound.py (synthesised hits
mixed by the program, one tick of sound per frame) and play_file.py (a file decoded with
PyAV); a viewer that asks for audio gets frames and the sound they make."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from rfb import client, protocol

from support.paths import ROOT
from support.tone import decode_opus, peak_hz, tone

CAPS = [protocol.CAP_H264, protocol.CAP_JPEG, protocol.CAP_PNG]


async def run_example(
    args: list[str], seconds: float = 2.5
) -> tuple[int, list[tuple[dict, bytes]]]:
    """Start the example on a free port; a viewer takes frames and audio for ``seconds``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, "--port", "0", "--seconds", "20",
        stdout=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))["url"]
        ws = url.replace("http", "ws", 1)
        frames = 0
        async with client.connect(ws, CAPS, features=(protocol.FEATURE_AUDIO,)) as v:
            # next_frame sets the audio_chunk messages on the way aside in v.audio.
            loop = asyncio.get_running_loop()
            end = loop.time() + seconds
            while loop.time() < end:
                await v.next_frame(timeout=10)
                frames += 1
            audio = list(v.audio)
        return frames, audio
    finally:
        proc.terminate()
        await proc.wait()


async def test_collision_sound_makes_a_sound_on_the_hits() -> None:
    frames, packets = await run_example(["examples/collision_sound.py", "--balls", "6"])
    assert frames > 10
    pcm = decode_opus(packets)
    # 2.5 s of continuous sound (one tick per frame); six balls hit walls in that time:
    # loud moments (the tocks) among near-silence.
    assert len(pcm) >= 48000 * 2
    n = len(pcm) // 960 * 960
    blocks = np.sqrt(np.mean(pcm[:n].reshape(-1, 960, pcm.shape[1]) ** 2, axis=(1, 2)))
    assert blocks.max() > 0.05 and np.median(blocks) < 0.5 * blocks.max()


async def test_play_file_plays_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(44100)  # resampled to 48 kHz by the example
        f.writeframes(tone(44100 * 2, rate=44100, dtype=np.int16).tobytes())
    frames, packets = await run_example(["examples/play_file.py", str(path)])
    assert frames > 10
    pcm = decode_opus(packets)
    assert abs(peak_hz(pcm[len(pcm) // 4 :]) - 440.0) < 5
