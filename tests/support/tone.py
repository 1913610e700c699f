"""Test tones for the audio tests: a steady publisher and a peak-frequency reader."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import numpy as np


def tone(n: int, start: int = 0, freq: float = 440.0, rate: int = 48000, amp: float = 0.5,
         channels: int = 1, dtype: Any = np.float32) -> np.ndarray:  # fmt: skip
    """``n`` samples of a sine from sample ``start``: (n,) mono or (n, channels)."""
    t = (start + np.arange(n)) / rate
    x = amp * np.sin(2 * np.pi * freq * t)
    x = np.round(x * 32767).astype(np.int16) if dtype == np.int16 else x.astype(np.float32)
    return x if channels == 1 else np.repeat(x[:, None], channels, axis=1)


def peak_hz(x: np.ndarray, rate: int = 48000) -> float:
    """The frequency of the strongest bin (Hann window, zero-padded, parabolic peak)."""
    x = np.asarray(x, np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    n = 1 << max(16, int(np.ceil(np.log2(len(x)))))
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    k = int(np.argmax(spec[1:])) + 1
    if 0 < k < len(spec) - 1:
        a, b, c = np.log(spec[k - 1 : k + 2] + 1e-12)
        k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return float(k * rate / n)


def decode_opus(packets: list[tuple[dict, bytes]]) -> np.ndarray:
    """(n, channels) float64 from audio_chunk messages' (header, Opus packet) pairs."""
    import av

    channels = packets[0][0]["channels"]
    ctx = av.CodecContext.create("opus", "r")
    ctx.sample_rate = 48000
    ctx.layout = "mono" if channels == 1 else "stereo"
    out = []
    for _, data in packets:
        for frame in ctx.decode(av.Packet(data)):
            a = frame.to_ndarray()  # planar (channels, n) or packed (1, n * channels)
            out.append(a.T if frame.format.is_planar else a.reshape(-1, channels))
    return np.concatenate(out).astype(np.float64)


class TonePublisher:
    """Publishes a tone in real time, ``chunk_ms`` at a time, from its own task."""

    def __init__(self, display: Any, freq: float = 440.0, chunk_ms: int = 10,
                 rate: int = 48000, channels: int = 1, dtype: Any = np.float32) -> None:  # fmt: skip
        self.display = display
        self._args = (freq, rate, channels, dtype)
        self.chunk = rate * chunk_ms // 1000
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        freq, rate, channels, dtype = self._args
        start, t0 = 0, time.monotonic()
        while True:
            self.display.publish_audio(tone(self.chunk, start, freq, rate, channels=channels,
                                            dtype=dtype), rate)  # fmt: skip
            start += self.chunk
            await asyncio.sleep(max(0.0, t0 + start / rate - time.monotonic()))

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
