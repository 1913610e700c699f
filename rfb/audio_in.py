"""The viewers' microphones (``microphone=True`` streams): Opus packets in, PCM chunks out
to the program (``display.audio_in()``, ``display.poll_audio_in()``). The shell around
session/audio_in.py (admission, the bounded queue).

WebSocket viewers send binary ``audio_in`` envelopes (protocol.parse_client_binary);
each packet passes its viewer's MicGate on the event loop, then waits (at most
MAX_PENDING, the oldest dropped) for the stream's decoder thread, which decodes it with
PyAV's Opus decoder (imported on first use; one decoder per viewer) and queues the PCM
for the program. WebRTC viewers send a microphone track: aiortc decodes it (in its own
decoder thread), and ``track()`` reads its frames, admits them the same way and queues them
(mono). Nothing runs for a stream that takes no microphone, nor before a packet is let in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from . import protocol
from .session.audio_in import (
    MAX_PENDING,
    AudioInChunk,
    ChunkQueue,
    MicGate,
    MicVerdict,
    as_dtype,
    check_dtype,
)

log = logging.getLogger("rfb")

__all__ = ["AudioInChunk", "MicrophoneIn"]

_STOP = object()


class _Peer:
    __slots__ = ("gate", "principal", "send", "track_refused", "transport")

    def __init__(self, gate: MicGate, principal: Any, transport: str,
                 send: Callable[[str], None] | None) -> None:  # fmt: skip
        self.gate = gate
        self.principal = principal
        self.transport = transport
        self.send = send
        self.track_refused: MicVerdict | None = None  # WebRTC: its mic track was refused


class MicrophoneIn:
    """One stream's microphones in."""

    def __init__(self, clock: Callable[[], float], now_us: Callable[[], int], *,
                 enabled: bool, floor: Any = None) -> None:  # fmt: skip
        self.enabled = enabled
        self._clock = clock
        self._now_us = now_us
        self._floor = floor  # session/control.py Floor: exclusive streams hear the holder
        self._peers: dict[str, _Peer] = {}
        self.chunks = ChunkQueue()
        self._pending: queue.Queue[Any] = queue.Queue()
        self._pending_n = 0
        self._pending_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._decoders: dict[tuple[str, int, int], Any] = {}  # decoder thread only
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signal: asyncio.Event | None = None
        self._closed = False
        self._tracks: set[asyncio.Task[None]] = set()
        # figures
        self.refused: Counter[str] = Counter()  # packets refused, by MicVerdict
        self.packets = 0  # let in
        self.bytes = 0
        self.dropped_pending = 0  # the decoder fell behind: the oldest waiting dropped
        self.decode_errors = 0
        self.decode_s = 0.0
        self.unavailable: str | None = None

    # -- viewers (loop thread) -------------------------------------------------------------

    def open(self, client_id: str, access: Any, transport: str,
             send: Callable[[str], None] | None = None) -> None:  # fmt: skip
        gate = MicGate(self._clock(), enabled=self.enabled, view_only=bool(access.view_only))
        self._peers[client_id] = _Peer(gate, access.principal, transport, send)

    def listen(self, client_id: str, send: Callable[[str], None]) -> None:
        """WebRTC: the data channel is there; refusals can be told (a refused track's too)."""
        peer = self._peers.get(client_id)
        if peer is not None:
            peer.send = send
            if peer.track_refused is not None:
                self._tell(peer, peer.track_refused)

    def refuse_track(self, client_id: str, reason: str) -> None:
        """WebRTC: this viewer's microphone track was answered inactive (``reason``: a
        MicVerdict value). It sends no packets to refuse, so it is told now, on its data
        channel (or once that opens), as a WebSocket viewer is told at its first packet."""
        peer = self._peers.get(client_id)
        if peer is None:
            return
        peer.track_refused = MicVerdict(reason)
        self._tell(peer, peer.track_refused)

    @staticmethod
    def _tell(peer: _Peer, verdict: MicVerdict) -> None:
        """``audio_in_status`` refused, once per reason, where the viewer can be told."""
        if peer.send is not None and peer.gate.tell(verdict):
            with contextlib.suppress(Exception):
                peer.send(status_message("refused", verdict.value))

    def close(self, client_id: str) -> None:
        self._peers.pop(client_id, None)
        if self._thread is not None:
            self._pending.put(("forget", client_id))

    def may_send(self, client_id: str) -> bool:
        """Whether this viewer's microphone would be heard now (WebRTC answers with it)."""
        peer = self._peers.get(client_id)
        return peer is not None and peer.gate.enabled and not peer.gate.view_only

    # -- packets in (loop thread) -----------------------------------------------------------

    def _admit(self, client_id: str, nbytes: int) -> _Peer | None:
        peer = self._peers.get(client_id)
        if peer is None:
            self.refused["unknown_viewer"] += 1
            return None
        floor = self._floor
        exclusive = bool(floor is not None and floor.exclusive)
        holds = bool(floor.holds(client_id)) if exclusive else True
        verdict = peer.gate.admit(nbytes, self._clock(), exclusive=exclusive, holds_floor=holds)
        if verdict is MicVerdict.DELIVER:
            self.packets += 1
            self.bytes += nbytes
            return peer
        self.refused[verdict.value] += 1
        if verdict is not MicVerdict.RATE:
            self._tell(peer, verdict)
        return None

    def push(self, client_id: str, packet: protocol.AudioIn) -> None:
        """One validated ``audio_in`` packet from a WebSocket viewer."""
        peer = self._admit(client_id, len(packet.data))
        if peer is None:
            return
        self._bind()
        with self._pending_lock:
            self._pending_n += 1
            over = self._pending_n > MAX_PENDING
        if over:  # the decoder fell behind: drop the oldest waiting packet
            with contextlib.suppress(queue.Empty):
                item = self._pending.get_nowait()
                if isinstance(item, tuple) and item[0] == "packet":
                    self.dropped_pending += 1
                    with self._pending_lock:
                        self._pending_n -= 1
                else:
                    self._pending.put(item)
        self._pending.put(("packet", client_id, peer.principal, packet, self._now_us()))
        self._start()

    def push_pcm(self, client_id: str, pcm: np.ndarray, sample_rate: int, timestamp_us: int,
                 seq: int, transport: str = "webrtc") -> None:  # fmt: skip
        """Sound already decoded (a WebRTC track's frame, by aiortc): admitted, queued."""
        peer = self._admit(client_id, 0)
        if peer is None:
            return
        self._bind()
        self._deliver(AudioInChunk(pcm, sample_rate, client_id, peer.principal, timestamp_us,
                                   self._now_us(), transport, seq))  # fmt: skip

    def track(self, client_id: str, track: Any) -> None:
        """Read a WebRTC viewer's microphone track (aiortc decodes it) until it ends."""
        self._bind()
        task = asyncio.get_running_loop().create_task(
            self._read_track(client_id, track), name=f"rfb-mic-{client_id}"
        )
        self._tracks.add(task)
        task.add_done_callback(self._tracks.discard)

    async def _read_track(self, client_id: str, track: Any) -> None:
        seq = 0
        with contextlib.suppress(Exception, asyncio.CancelledError):
            while not self._closed:
                frame = await track.recv()
                if client_id not in self._peers:
                    continue  # gone, or not heard: read on so aiortc's queue stays empty
                pcm = frame_pcm(frame)
                rate = int(frame.sample_rate)
                ts = int(frame.pts * 1_000_000 // rate) if frame.pts is not None else 0
                self.push_pcm(client_id, pcm, rate, ts, seq)
                seq += 1

    # -- the decoder thread -----------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="rfb-audio-in", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        import time

        from .encoders.base import EncoderUnavailable
        from .encoders.opus import load_av

        try:
            av = load_av()
        except EncoderUnavailable as exc:
            self.unavailable = f"microphone: {exc}"
            log.warning("rfb: %s; viewers' sound in is dropped", self.unavailable)
            av = None
        while True:
            item = self._pending.get()
            if item is _STOP:
                return
            if item[0] == "forget":
                for key in [k for k in self._decoders if k[0] == item[1]]:
                    del self._decoders[key]
                continue
            _, client_id, principal, packet, received_us = item
            with self._pending_lock:
                self._pending_n -= 1
            if av is None:
                self.refused["no_decoder"] += 1
                continue
            t0 = time.thread_time()
            try:
                pcm = self._decode(av, client_id, packet)
            except Exception as exc:  # a packet libopus refuses: that packet is lost
                self.decode_errors += 1
                log.debug("rfb: microphone packet from %s not decoded: %s", client_id, exc)
                continue
            finally:
                self.decode_s += time.thread_time() - t0
            if pcm is None or pcm.shape[0] == 0:
                continue
            self._deliver(AudioInChunk(pcm, packet.sample_rate, client_id, principal,
                                       packet.timestamp_us, received_us, "websocket",
                                       packet.seq))  # fmt: skip

    def _decode(self, av: Any, client_id: str, packet: protocol.AudioIn) -> np.ndarray | None:
        key = (client_id, packet.sample_rate, packet.channels)
        ctx = self._decoders.get(key)
        if ctx is None:
            ctx = av.CodecContext.create("opus", "r")
            ctx.sample_rate = packet.sample_rate
            ctx.layout = "mono" if packet.channels == 1 else "stereo"
            self._decoders[key] = ctx
        outs = [frame_pcm(f, mono=False) for f in ctx.decode(av.Packet(packet.data))]
        if not outs:
            return None
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    # -- the program ----------------------------------------------------------------------

    def _bind(self) -> None:
        if self._loop is None:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()

    def _deliver(self, chunk: AudioInChunk) -> None:
        self.chunks.put(chunk)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._signal is not None:
            self._signal.set()

    def poll(self, dtype: Any = np.float32) -> list[AudioInChunk]:
        """Every chunk decoded since the last call, oldest first. Thread-safe."""
        check_dtype(dtype)
        return [as_dtype(c, dtype) for c in self.chunks.take_all()]

    async def stream(self, dtype: Any = np.float32) -> AsyncIterator[AudioInChunk]:
        """Chunks as they are decoded, until shut()."""
        check_dtype(dtype)
        self._bind()
        if self._signal is None:
            self._signal = asyncio.Event()
        signal = self._signal
        while not self._closed:
            signal.clear()
            for chunk in self.chunks.take_all():
                yield as_dtype(chunk, dtype)
            if not len(self.chunks) and not self._closed:
                await signal.wait()

    def shut(self) -> None:
        self._closed = True
        for task in list(self._tracks):
            task.cancel()
        if self._thread is not None:
            self._pending.put(_STOP)
        if self._signal is not None:
            self._signal.set()

    def metrics(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "packets": self.packets,
            "bytes": self.bytes,
            "refused": dict(self.refused),
            "chunks_delivered": self.chunks.delivered,
            "chunks_dropped": self.chunks.dropped,
            "packets_dropped": self.dropped_pending,
            "decode_errors": self.decode_errors,
            "decode_ms": round(self.decode_s * 1000, 3),
            "tracks": len(self._tracks),
        }


def status_message(status: str, reason: str | None = None) -> str:
    """``audio_in_status``: what the server does with this viewer's microphone."""
    msg: dict[str, Any] = {"type": "audio_in_status", "status": status}
    if reason is not None:
        msg["reason"] = reason
    return protocol.dumps(msg)


def frame_pcm(frame: Any, mono: bool = True) -> np.ndarray:
    """A PyAV AudioFrame as (n, channels) float32 (``mono``: the channels averaged)."""
    a = frame.to_ndarray()
    channels = len(frame.layout.channels)
    # planar: (channels, n) -> (n, channels); packed: (1, n * channels)
    pcm = a.T if frame.format.is_planar else a.reshape(-1, channels)
    if pcm.dtype == np.int16:
        pcm = pcm.astype(np.float32) / 32768.0
    elif pcm.dtype != np.float32:
        pcm = pcm.astype(np.float32)
    if mono and pcm.shape[1] > 1:
        pcm = pcm.mean(axis=1, keepdims=True, dtype=np.float32)
    return np.ascontiguousarray(pcm)


def answer_microphone(stream: Any, peer: Any, pc: Any, track: Any) -> None:
    """WebRTC, while the offer is applied (aiortc's ``track`` event): a viewer's audio
    track is its microphone. Heard where the stream takes microphones and the viewer may
    drive (read from once it is attached); otherwise its transceiver is answered
    ``inactive``, so the browser sends nothing (and the refusal is counted)."""
    if getattr(track, "kind", None) != "audio":
        return
    mic: MicrophoneIn = stream.audio_in
    transceiver = next((t for t in pc.getTransceivers() if t.receiver.track is track), None)
    reason = None
    if not mic.enabled:
        reason = MicVerdict.DISABLED.value
    elif getattr(peer.access, "view_only", False):
        reason = MicVerdict.VIEW_ONLY.value
    if reason is not None:
        mic.refused[reason] += 1
        if transceiver is not None and transceiver.sender.track is None:
            transceiver.direction = "inactive"
        elif transceiver is not None and transceiver.direction == "sendrecv":
            transceiver.direction = "sendonly"  # the program's sound still goes out

        told = reason  # on its data channel, once it is a viewer
        _once_a_viewer(peer, mic, lambda viewer_id: mic.refuse_track(viewer_id, told))
        return
    if transceiver is not None:
        from .transports.aiortc_compat import rebundle_receiver

        rebundle_receiver(pc, transceiver)
    _once_a_viewer(peer, mic, lambda viewer_id: mic.track(viewer_id, track))


def _once_a_viewer(peer: Any, mic: MicrophoneIn, act: Callable[[str], None]) -> None:
    """``act(viewer id)`` once the connection is a viewer (WebRtcViewer.on_connected), unless
    it or the microphone closes first."""

    async def wait() -> None:
        while peer.viewer is None:
            if peer.closed.is_set() or mic._closed:
                return
            await asyncio.sleep(0.05)
        act(peer.viewer.id)

    peer._spawn(wait())
