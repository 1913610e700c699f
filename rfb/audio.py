"""The stream's audio: ``publish_audio`` chunks in, one Opus encode out to every viewer
that takes audio. The shell around session/audio.py (the timeline, the blocks, each
viewer's queue).

``publish()``'s twin: ``publish_audio`` (any thread) only checks and copies the samples
and hands them to the stream's audio thread; the thread resamples them to 48 kHz where
needed (PyAV), cuts them into 20 ms blocks on the stream's clock, waits for each block's
time, encodes it once per tier in use (encoders/opus.py; session/audio.py's TierPlan
says which) and hands the packets to the event loop, which gives each viewer that
announced ``audio`` in hello the packet of its tier (a link with ``send_audio``, or
``send_audio_packet`` for a WebRTC audio track: transports/audio_track.py). A viewer's
tier follows its rung of the quality ladder (read from the hub at each packet); a tap (a
recording, a relay) is not on the ladder and takes the normal tier. Nothing runs for a stream nobody
publishes audio to, and nothing is encoded while no viewer takes audio: chunks published
then are dropped on the caller's thread (counted), and the thread idles.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from . import protocol
from .session import audio as core

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger("rfb")


class AudioLink(Protocol):
    """What a transport gives for audio: one packed audio_chunk message, never blocking
    (the link drops what it cannot send in time)."""

    def send_audio(self, message: bytes) -> None: ...


class StreamAudio:
    def __init__(self, now_us: Callable[[], int], name: str = "default",
                 hub: Hub | None = None) -> None:  # fmt: skip
        self._now_us = now_us
        self._name = name
        self._hub = hub  # where the viewers' rungs are (None: everyone on the normal tier)
        self._plan = core.TierPlan()  # loop thread only
        self._encode: frozenset[core.Variant] = frozenset({(core.NORMAL, False)})  # under _cond
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
        self._retired_s = 0.0  # encoding time of encoders since closed
        self.tier_packets: dict[str, int] = {}  # packets encoded, by tier name
        self.tier_bytes: dict[str, int] = {}
        self.fec_packets = 0  # encoded with in-band FEC
        self._framer_figures: tuple[int, int, int] = (0, 0, 0)

    # -- viewers (loop thread) ---------------------------------------------------------

    def open(self, client_id: str, link: Any, features: frozenset[str]) -> None:
        """A viewer that announced ``audio`` and whose link can carry it listens."""
        if protocol.FEATURE_AUDIO in features and callable(getattr(link, "send_audio", None)):
            self._links[client_id] = link
            self._plan.set(client_id, core.tier_for(self._rung(client_id)), _lossy(link))
            self._plan_encoders()
            self._set_listening()

    def close(self, client_id: str) -> None:
        if self._links.pop(client_id, None) is not None:
            self._plan.remove(client_id)
            self._plan_encoders()
            self._set_listening()

    def _rung(self, client_id: str) -> core.RungView | None:
        """Where a viewer is on its ladder (None: a tap, or a viewer the hub lacks)."""
        hub = self._hub
        entry = None if hub is None else hub.routing.entries.get(client_id)
        if hub is None or entry is None or entry.consumer or entry.rung not in entry.allowed:
            return None
        lad = hub.ladder(entry.capability)
        bps = None
        if lad.is_video and entry.settings is None:
            bps = lad.bitrate(entry.rung, *hub.routing.frame_size())
        return core.RungView(entry.allowed.index(entry.rung), len(entry.allowed), bps)

    def _plan_encoders(self) -> None:
        encode = self._plan.to_encode() or frozenset({(core.NORMAL, False)})
        if encode != self._encode:
            with self._cond:
                self._encode = encode

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
        encoders: dict[tuple[core.Variant, int], opus.OpusEncoder] = {}
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
                    listening, loop, encode = self.listening, self._loop, self._encode
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
                for gone in [k for k in encoders if k[0] not in encode]:  # a tier left
                    self._retired_s += encoders.pop(gone).encode_s
                for block in framer.due(self._now_us()):
                    packets: dict[core.Variant, core.Packet] = {}
                    for variant in sorted(encode):  # once per tier in use
                        enc = encoders.get((variant, block.channels))
                        if enc is None:
                            enc = opus.encoder_for(variant, block.channels)
                            encoders[(variant, block.channels)] = enc
                        data = enc.encode(block.pcm)
                        packets[variant] = core.Packet(
                            seq, block.timestamp_us, block.channels, data, tier=variant[0],
                            fec=variant[1], warm=enc.encoded >= core.WARM_PACKETS,
                        )  # fmt: skip
                    self._encode_s = self._retired_s + sum(e.encode_s for e in encoders.values())
                    seq += 1
                    if loop is not None and not loop.is_closed():
                        loop.call_soon_threadsafe(self._deliver, packets)
                self._framer_figures = (framer.dropped_ahead, framer.resyncs, framer.cut_us)
        except Exception:  # never silently: an audio thread that dies says why
            log.exception("rfb: the audio thread of stream %r failed", self._name)

    # -- packets out (loop thread) -------------------------------------------------------

    def _deliver(self, packets: dict[core.Variant, core.Packet]) -> None:
        if not self._links or not packets:
            return
        plan = self._plan
        for client_id, link in self._links.items():  # rungs and losses as they are now
            plan.set(client_id, core.tier_for(self._rung(client_id)), _lossy(link))
        plan.block(packets)
        messages: dict[core.Variant, bytes] = {}
        for made in packets.values():
            name = core.TIER_NAMES[made.tier]
            self.tier_packets[name] = self.tier_packets.get(name, 0) + 1
            self.tier_bytes[name] = self.tier_bytes.get(name, 0) + len(made.data)
            self.fec_packets += made.fec
            self.packets += 1
            self.bytes += len(made.data)
            self.channels = made.channels
        for client_id, link in list(self._links.items()):
            packet = plan.choose(client_id, packets)
            if packet is None:
                continue
            # A WebRTC audio track takes the packet itself (transports/audio_track.py).
            if callable(send_packet := getattr(link, "send_audio_packet", None)):
                send_packet(packet)
                continue
            message = messages.get(packet.variant)
            if message is None:
                message = messages[packet.variant] = protocol.AudioChunkHeader(
                    seq=packet.seq, timestamp_us=packet.timestamp_us,
                    duration_us=packet.duration_us, channels=packet.channels,
                ).pack(packet.data)  # fmt: skip
            link.send_audio(message)
        self._plan_encoders()

    def tier_of(self, client_id: str) -> str | None:
        """The tier whose packets ``client_id`` gets now (None: not listening)."""
        variant = self._plan.serving(client_id) or self._plan.wanted(client_id)
        return None if variant is None else core.TIER_NAMES[variant[0]]

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
            # by tier: packets and bytes encoded, and who is on it now
            "tiers": {
                name: {
                    "packets": self.tier_packets.get(name, 0),
                    "bytes": self.tier_bytes.get(name, 0),
                    "listeners": sum(self.tier_of(c) == name for c in self._links),
                }
                for name in core.TIER_NAMES.values()
            },
            "fec_packets": self.fec_packets,
            "samples_dropped_ahead": dropped_ahead,
            "resyncs": resyncs,
            "cut_ms": cut_us // 1000,  # sound cut as late (a producer caught up after a stall)
        }


def _lossy(link: Any) -> bool:
    """A WebRTC listener whose browser reports loss (transports/audio_red.py's LossWatch)."""
    lossy = getattr(link, "audio_lossy", None)
    return bool(lossy()) if callable(lossy) else False
