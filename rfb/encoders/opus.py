"""Opus through PyAV's libopus: 20 ms blocks of 48 kHz float PCM in, one packet out each.
And a resampler for publish_audio's other rates (PyAV's AudioResampler). PyAV is imported
on first use; a missing install names the extra to add."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..session.audio import BITRATE, FRAME_SAMPLES, SAMPLE_RATE, Variant, bitrate
from .base import EncoderUnavailable, load_pyav

__all__ = ["OpusEncoder", "Resampler", "encoder_for", "load_av", "unavailable_reason"]

_LAYOUT = {1: "mono", 2: "stereo"}


def load_av() -> Any:
    """PyAV with libopus, imported on first use; a missing install names the audio extra."""
    return load_pyav("libopus", "audio", "audio")


def unavailable_reason() -> str | None:
    try:
        load_av()
    except EncoderUnavailable as exc:
        return str(exc)
    return None


class OpusEncoder:
    """One Opus encoder (one per stream, tier and channel count): ``encode(block)`` ->
    packet. ``fec_loss``: in-band FEC for this expected loss (percent), None: off."""

    def __init__(self, channels: int, bitrate: int | None = None,
                 fec_loss: int | None = None) -> None:  # fmt: skip
        av = load_av()
        self.channels = channels
        self.bitrate = bitrate or BITRATE[channels]
        self.fec_loss = fec_loss
        ctx = av.CodecContext.create("libopus", "w")
        ctx.sample_rate = SAMPLE_RATE
        ctx.layout = _LAYOUT[channels]
        ctx.format = "flt"
        ctx.bit_rate = self.bitrate
        ctx.time_base = Fraction(1, SAMPLE_RATE)
        # lowdelay: CELT only, 2.5 ms lookahead (not voip/audio's 6.5 ms). But in-band FEC
        # (LBRR) is a SILK feature, which lowdelay rules out: with FEC, "audio" (hybrid).
        ctx.options = {"application": "lowdelay", "frame_duration": "20", "vbr": "on"}
        if fec_loss is not None:
            ctx.options = {"application": "audio", "frame_duration": "20", "vbr": "on",
                           "fec": "1", "packet_loss": str(fec_loss)}  # fmt: skip
        ctx.open()
        self._ctx = ctx
        self._av = av
        self._pts = 0
        self.encoded = 0
        self.encode_s = 0.0  # thread CPU time spent encoding (for metrics)

    def encode(self, pcm: np.ndarray) -> bytes:
        """``pcm``: (960, channels) float32. Returns the Opus packet."""
        import time

        t0 = time.thread_time()
        assert pcm.shape == (FRAME_SAMPLES, self.channels), pcm.shape
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm, np.float32).reshape(1, -1), format="flt",
            layout=_LAYOUT[self.channels],
        )  # fmt: skip
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        self._pts += FRAME_SAMPLES
        data = b"".join(bytes(p) for p in self._ctx.encode(frame))
        self.encoded += 1
        self.encode_s += time.thread_time() - t0
        return data

    def close(self) -> None:
        self._ctx = None


def encoder_for(variant: Variant, channels: int) -> OpusEncoder:
    """The encoder of one tier variant (session/audio.py: (tier, FEC on))."""
    from ..session.audio import FEC_LOSS_PERCENT

    tier, fec = variant
    return OpusEncoder(channels, bitrate(tier, channels),
                       FEC_LOSS_PERCENT.get(tier) if fec else None)  # fmt: skip


class Resampler:
    """``rate`` Hz float PCM to 48 kHz (PyAV's AudioResampler, state kept across chunks)."""

    def __init__(self, rate: int, channels: int) -> None:
        av = load_av()
        from av.audio.resampler import AudioResampler

        self.rate, self.channels = rate, channels
        self._av = av
        self._r = AudioResampler(format="flt", layout=_LAYOUT[channels], rate=SAMPLE_RATE)

    def resample(self, pcm: np.ndarray) -> np.ndarray:
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm, np.float32).reshape(1, -1), format="flt",
            layout=_LAYOUT[self.channels],
        )  # fmt: skip
        frame.sample_rate = self.rate
        outs = [f.to_ndarray().reshape(-1, self.channels) for f in self._r.resample(frame)]
        if not outs:
            return np.zeros((0, self.channels), np.float32)
        return np.concatenate(outs).astype(np.float32, copy=False)
