"""The viewers' microphones, sans I/O: who may send sound in, how much, and the bounded
queue of decoded chunks the program reads. rfb/audio_in.py is the shell (the decoder
thread, the WebRTC tracks, the program's iterator).

Admission, per packet (``MicGate.admit``):

- the stream must take microphones (``microphone=True``), else ``disabled``;
- the viewer must be one that may drive: a view-only viewer's packets are ``view_only``;
- on an exclusive stream (``control="exclusive"``) only the holder of the control floor is
  heard: the others' packets are ``control``. Speaking does not take the floor (a click
  does, as for other input): sound is no gesture that says "I drive now";
- then the input rate limit: a token bucket of packets (MAX_PACKETS_PER_S, a burst of one
  second) and one of bytes (MAX_BYTES_PER_S) per viewer; past either, ``rate``.

Every refusal is counted by reason; the first refusal of each reason is told to the viewer
(``audio_in_status``) once, so that a page can say why nobody hears it. No clock of its
own: the caller passes ``now`` (seconds).
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_PACKETS_PER_S = 100.0  # 20 ms packets come 50 a second; 10 ms ones 100
MAX_BYTES_PER_S = 64_000.0  # Opus at 510 kbit/s, its highest, is 64 kB/s
MAX_CHUNKS = 500  # decoded chunks waiting for the program (10 s of 20 ms chunks)
MAX_PENDING = 100  # packets waiting for the decoder thread (2 s)


class MicVerdict(enum.Enum):
    DELIVER = "deliver"
    DISABLED = "disabled"  # the stream takes no microphone
    VIEW_ONLY = "view_only"
    CONTROL = "control"  # exclusive control: not the floor's holder
    RATE = "rate"  # over the packets or bytes per second

    @property
    def refused(self) -> bool:
        return self is not MicVerdict.DELIVER


class _Bucket:
    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = rate  # a burst of one second
        self.t = now

    def take(self, n: float, now: float) -> bool:
        self.tokens = min(self.rate, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


class MicGate:
    """One viewer's microphone admission."""

    def __init__(self, now: float, *, enabled: bool, view_only: bool,
                 packets_per_s: float = MAX_PACKETS_PER_S,
                 bytes_per_s: float = MAX_BYTES_PER_S) -> None:  # fmt: skip
        self.enabled = enabled
        self.view_only = view_only
        self._packets = _Bucket(packets_per_s, now)
        self._bytes = _Bucket(bytes_per_s, now)
        self.told: set[MicVerdict] = set()  # refusals already told to the viewer

    def admit(self, nbytes: int, now: float, *, exclusive: bool = False,
              holds_floor: bool = True) -> MicVerdict:  # fmt: skip
        if not self.enabled:
            return MicVerdict.DISABLED
        if self.view_only:
            return MicVerdict.VIEW_ONLY
        if exclusive and not holds_floor:
            return MicVerdict.CONTROL
        if not self._packets.take(1, now):
            return MicVerdict.RATE
        if not self._bytes.take(nbytes, now):
            self._packets.tokens += 1  # charged only when both have room
            return MicVerdict.RATE
        return MicVerdict.DELIVER

    def tell(self, verdict: MicVerdict) -> bool:
        """Whether this refusal is news to the viewer (told once per reason)."""
        if verdict in self.told:
            return False
        self.told.add(verdict)
        return True


@dataclass(frozen=True, slots=True)
class AudioInChunk:
    """Sound from one viewer's microphone, decoded.

    ``pcm``: ``(n, channels)``, float32 in -1..1 (or int16, as asked of ``audio_in`` /
    ``poll_audio_in``); ``sample_rate`` in Hz (48000 from the browser view);
    ``client_id`` and ``principal`` of the sender, as in its input events;
    ``timestamp_us``: when its first sample was captured, on the sender's clock (microseconds;
    consecutive chunks of one sender are ``duration`` apart); ``received_us``: when it
    arrived, on the display's clock (like frame timestamps and input events);
    ``transport``: ``"websocket"`` or ``"webrtc"``; ``seq``: the sender's packet number
    (a gap: packets lost on the way or dropped)."""

    pcm: np.ndarray
    sample_rate: int
    client_id: str
    principal: Any
    timestamp_us: int
    received_us: int
    transport: str = "websocket"
    seq: int = 0

    @property
    def channels(self) -> int:
        return int(self.pcm.shape[1])

    @property
    def duration(self) -> float:
        """Seconds of sound."""
        return self.pcm.shape[0] / self.sample_rate

    def as_int16(self) -> AudioInChunk:
        if self.pcm.dtype == np.int16:
            return self
        pcm = np.clip(np.rint(self.pcm * 32767.0), -32768, 32767).astype(np.int16)
        return _with_pcm(self, pcm)

    def as_float32(self) -> AudioInChunk:
        if self.pcm.dtype == np.float32:
            return self
        return _with_pcm(self, self.pcm.astype(np.float32) / 32768.0)


def _with_pcm(chunk: AudioInChunk, pcm: np.ndarray) -> AudioInChunk:
    return AudioInChunk(pcm, chunk.sample_rate, chunk.client_id, chunk.principal,
                        chunk.timestamp_us, chunk.received_us, chunk.transport,
                        chunk.seq)  # fmt: skip


def check_dtype(dtype: Any) -> np.dtype[Any]:
    """float32 or int16, as a NumPy dtype; TypeError otherwise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (np.float32, np.int16):
        raise TypeError(f"audio_in dtype must be float32 or int16, got {dtype!r}")
    return dt


def as_dtype(chunk: AudioInChunk, dtype: Any) -> AudioInChunk:
    """The chunk with its samples as ``dtype`` (float32 or int16); TypeError otherwise."""
    return chunk.as_int16() if check_dtype(dtype) == np.int16 else chunk.as_float32()


@dataclass
class ChunkQueue:
    """Decoded chunks waiting for the program: bounded, the oldest dropped (counted).
    Thread-safe (the decoder thread puts, any thread takes)."""

    limit: int = MAX_CHUNKS
    dropped: int = 0
    delivered: int = 0
    _items: deque[AudioInChunk] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, chunk: AudioInChunk) -> None:
        with self._lock:
            self._items.append(chunk)
            while len(self._items) > self.limit:
                self._items.popleft()
                self.dropped += 1

    def take_all(self) -> list[AudioInChunk]:
        with self._lock:
            out = list(self._items)
            self._items.clear()
            self.delivered += len(out)
        return out

    def __len__(self) -> int:
        return len(self._items)
