"""The stream's audio: ``publish_audio`` chunks in, one Opus encode out to every viewer
that takes audio. The shell around session/audio.py (the timeline, the blocks, each
viewer's queue).

``publish()``'s twin: ``publish_audio`` (any thread) only checks and copies the samples
and hands them to the stream's audio thread; the thread resamples them to 48 kHz where
needed (PyAV), cuts them into 20 ms blocks on the stream's clock, waits for each block's
time, encodes it once (encoders/opus.py) and hands the packet to the event loop, which
gives the same bytes to every viewer that announced ``audio`` in hello (a link with
``send_audio``, or ``send_audio_packet`` for a WebRTC audio track:
transports/audio_track.py). Nothing runs for a stream nobody
publishes audio to, and nothing is encoded while no viewer takes audio: chunks published
then are dropped on the caller's thread (counted), and the thread idles.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from . import protocol
from .session import audio as core

log = logging.getLogger("rfb")


class AudioLink(Protocol):
    """What a transport gives for audio: one packed audio_chunk message, never blocking
    (the link drops what it cannot send in time)."""

    def send_audio(self, message: bytes) -> None: ...


class StreamAudio:
    def __init__(self, now_us: Callable[[], int], name: str = "default") -> None:
        self._now_us = now_us
        self._name = name
        self._links: dict[str, AudioLink] = {}  # loop thread only
        self._cond = threading.Condition()
        self._chunks: deque[tuple[np.ndarray, int, int]] = deque()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.listening = False  # some viewer takes audio (read from any thread)
        self._checked: str | None = None  # PyAV checked (the empty string: fine)
        # figures
        self.chunks_published = 0
        self.samples_skipped = 0  # published while nobody listened
        self.packets = 0
        self.bytes = 0
        self.channels: int | None = None
        self._encode_s = 0.0
        self._framer_figures: tuple[int, int, int] = (0, 0, 0)

    # -- viewers (loop thread) ---------------------------------------------------------

    def open(self, client_id: str, link: Any, features: frozenset[str]) -> None:
        """A viewer that announced ``audio`` and whose link can carry it listens."""
        if protocol.FEATURE_AUDIO in features and callable(getattr(link, "send_audio", None)):
            self._links[client_id] = link
            self._set_listening()

    def close(self, client_id: str) -> None:
        if self._links.pop(client_id, None) is not None:
            self._set_listening()

    def _set_listening(self) -> None:
        listening = bool(self._links)
        if listening != self.listening:
            with self._cond:
                self.listening = listening
                self._cond.notify()

    @property
    def running(self) -> bool:
        """The audio thread has been started (someone published audio with a listener)."""
        return self._thread is not None

    # -- samples in (any thread) ---------------------------------------------------------

    def publish(self, pcm: np.ndarray, rate: int, t_us: int,
                loop: asyncio.AbstractEventLoop) -> None:  # fmt: skip
        if self._checked is None:
            from .encoders import opus

            self._checked = opus.unavailable_reason() or ""
        if self._checked:
            from .encoders import EncoderUnavailable

            raise EncoderUnavailable(self._checked)
        with self._cond:
            self.chunks_published += 1
            if not self.listening or self._closed:
                self.samples_skipped += int(pcm.shape[0])
                return
            self._loop = loop
            self._chunks.append((pcm, rate, t_us))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"rfb-audio-{self._name}")  # fmt: skip
                self._thread.start()
            self._cond.notify()

    # -- the audio thread ------------------------------------------------------------------

    def _run(self) -> None:
        from .encoders import opus

        framer = core.Framer()
        encoders: dict[int, opus.OpusEncoder] = {}
        resamplers: dict[tuple[int, int], opus.Resampler] = {}
        seq = 0
        try:
            while True:
                with self._cond:
                    while not self._closed:
                        if self._chunks or not self.listening:
                            break
                        due, now = framer.next_due_us(), self._now_us()
                        if due is not None and due <= now:
                            break
                        self._cond.wait(None if due is None else (due - now) / 1e6)
                    if self._closed:
                        return
                    chunks = list(self._chunks)
                    self._chunks.clear()
                    listening, loop = self.listening, self._loop
                if not listening:
                    framer.reset()
                    resamplers.clear()
                    with self._cond:  # sleep until someone listens again
                        while not self.listening and not self._closed:
                            self._cond.wait()
                    continue
                for pcm, rate, t_us in chunks:
                    if rate != core.SAMPLE_RATE:
                        key = (rate, pcm.shape[1])
                        if key not in resamplers:
                            resamplers[key] = opus.Resampler(rate, pcm.shape[1])
                        pcm = resamplers[key].resample(pcm)
                    framer.push(pcm, t_us)
                for block in framer.due(self._now_us()):
                    enc = encoders.get(block.channels)
                    if enc is None:
                        enc = encoders[block.channels] = opus.OpusEncoder(block.channels)
                    data = enc.encode(block.pcm)
                    self._encode_s = sum(e.encode_s for e in encoders.values())
                    packet = core.Packet(seq, block.timestamp_us, block.channels, data)
                    seq += 1
                    if loop is not None and not loop.is_closed():
                        loop.call_soon_threadsafe(self._deliver, packet)
                self._framer_figures = (framer.dropped_ahead, framer.resyncs, framer.cut_us)
        except Exception:  # never silently: an audio thread that dies says why
            log.exception("rfb: the audio thread of stream %r failed", self._name)

    # -- packets out (loop thread) -------------------------------------------------------

    def _deliver(self, packet: core.Packet) -> None:
        if not self._links:
            return
        message = protocol.AudioChunkHeader(
            seq=packet.seq, timestamp_us=packet.timestamp_us, duration_us=packet.duration_us,
            channels=packet.channels,
        ).pack(packet.data)  # fmt: skip
        self.packets += 1
        self.bytes += len(packet.data)
        self.channels = packet.channels
        for link in list(self._links.values()):
            # A WebRTC audio track takes the packet itself (transports/audio_track.py).
            if callable(send_packet := getattr(link, "send_audio_packet", None)):
                send_packet(packet)
            else:
                link.send_audio(message)

    # -- lifecycle -------------------------------------------------------------------------

    def shut(self) -> None:
        """The stream closed: the thread ends (joined briefly)."""
        with self._cond:
            self._closed = True
            self._chunks.clear()
            self._cond.notify_all()
        self._links.clear()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def metrics(self) -> dict[str, Any]:
        dropped_ahead, resyncs, cut_us = self._framer_figures
        figures = [f() for link in self._links.values()
                   if callable(f := getattr(link, "audio_figures", None))]  # fmt: skip
        return {
            "listeners": len(self._links),
            # to the viewers listening now: messages sent, and dropped as late for them
            "sent": sum(s for s, _ in figures),
            "dropped": sum(d for _, d in figures),
            "running": self.running,
            "chunks_published": self.chunks_published,
            "samples_skipped": self.samples_skipped,
            "packets": self.packets,
            "bytes": self.bytes,
            "channels": self.channels,
            "encode_ms_total": round(1000 * self._encode_s, 3),
            "samples_dropped_ahead": dropped_ahead,
            "resyncs": resyncs,
            "cut_ms": cut_us // 1000,  # sound cut as late (a producer caught up after a stall)
        }
