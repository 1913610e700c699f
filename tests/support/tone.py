"""Test tones for the audio tests: a steady publisher and a peak-frequency reader."""

from __future__ import annotations

import asyncio
import base64
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


def tone_error(x: np.ndarray, freq: float = 440.0, rate: int = 48000,
               block: int = 960) -> np.ndarray:  # fmt: skip
    """How far each ``block`` of a decoded mono signal is from a sine of ``freq``: the
    sine (amplitude and phase) fitted to the block and its two neighbours by least
    squares, the residual's RMS in the block over the fitted sine's. Codec noise gives a
    few per cent; a glitch (a gap, a click, a jump in phase) shows as a block far above."""
    x = np.asarray(x, np.float64).reshape(-1)
    n = len(x) // block
    t = np.arange(len(x)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    out = []
    for i in range(n):
        lo, hi = max(0, i - 1) * block, min(n, i + 2) * block
        coef, *_ = np.linalg.lstsq(basis[lo:hi], x[lo:hi], rcond=None)
        fit = basis[i * block : (i + 1) * block] @ coef
        residual = x[i * block : (i + 1) * block] - fit
        out.append(np.sqrt(np.mean(residual**2)) / max(np.sqrt(np.mean(fit**2)), 1e-9))
    return np.array(out)


class LibOpus:
    """The libopus that PyAV bundles, through ctypes: what PyAV's decoder does not expose
    (in-band FEC decoding, ``opus_packet_has_lbrr``). Mono or stereo at 48 kHz."""

    def __init__(self, channels: int = 1) -> None:
        import ctypes
        import glob
        import os

        import av

        libs = os.path.join(os.path.dirname(av.__file__), os.pardir, "av.libs")
        found = sorted(glob.glob(os.path.join(libs, "libopus-*.so*")))
        self._lib = ctypes.CDLL(found[0] if found else "libopus.so.0")
        self._ct = ctypes
        self.channels = channels
        err = ctypes.c_int()
        self._lib.opus_decoder_create.restype = ctypes.c_void_p
        self._dec = self._lib.opus_decoder_create(48000, channels, ctypes.byref(err))
        assert err.value == 0 and self._dec, err.value

    def has_lbrr(self, packet: bytes) -> bool:
        """The packet carries in-band FEC (SILK LBRR) for the one before it."""
        return int(self._lib.opus_packet_has_lbrr(packet, len(packet))) > 0

    def decode(self, packet: bytes | None, fec: bool = False, samples: int = 960) -> np.ndarray:
        """One 20 ms packet (None: lost, concealed); ``fec``: decode the *previous* packet
        from this one's in-band FEC. (samples, channels) float32."""
        ct = self._ct
        out = (ct.c_float * (samples * self.channels))()
        data = None if packet is None else ct.c_char_p(packet)
        self._lib.opus_decode_float.argtypes = [ct.c_void_p, ct.c_char_p, ct.c_int32,
                                                ct.c_void_p, ct.c_int, ct.c_int]  # fmt: skip
        n = self._lib.opus_decode_float(self._dec, data, 0 if packet is None else len(packet),
                                        out, samples, int(fec))  # fmt: skip
        assert n > 0, n
        return np.frombuffer(out, np.float32, n * self.channels).reshape(n, self.channels)

    def close(self) -> None:
        if self._dec:
            self._lib.opus_decoder_destroy.argtypes = [self._ct.c_void_p]
            self._lib.opus_decoder_destroy(self._dec)
            self._dec = None


# What the page hears: `ms` of what goes to the speakers, as time-domain samples.
LISTEN = """async (ms) => {
  const a = window.rfbView.audio;
  const an = a.context.createAnalyser();
  an.fftSize = 32768;
  a.output.connect(an);
  await new Promise((r) => setTimeout(r, ms));
  const buf = new Float32Array(an.fftSize);
  an.getFloatTimeDomainData(buf);
  a.output.disconnect(an);
  // base64 of the float32 bytes: cheap, where a 32k-number JSON array stalls the main thread
  const bytes = new Uint8Array(buf.buffer);
  let s = "";
  for (let k = 0; k < bytes.length; k += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(k, k + 0x8000));
  return { samples: btoa(s), rate: a.context.sampleRate };
}"""

async def heard(page: Any, ms: int = 1000) -> tuple[float, float]:
    """The loudest frequency (Hz) and the RMS level of ``ms`` of what the page plays."""
    got = await page.evaluate(LISTEN, ms)
    x = np.frombuffer(base64.b64decode(got["samples"]), np.float32).astype(np.float64)
    return peak_hz(x, int(got["rate"])), float(np.sqrt(np.mean(x**2)))
