"""Audio, sans I/O: checking what the application publishes, cutting it into 20 ms blocks
on the stream's clock, pacing the blocks out, and what each viewer is sent.

Nothing here reads a clock or does I/O: every call is given the time (``now_us``, the
stream's ``now_us()``, the basis of the frames' ``timestamp_us``). rfb/audio.py is the
shell: a worker thread that encodes the blocks with Opus (encoders/opus.py) and hands the
packets to the viewers on the event loop.

The timeline. A chunk published at ``t`` starts playing at ``t``: its first sample is
stamped ``t``, like a frame published at the same instant. Chunks that follow without a
gap continue the timeline sample by sample (the publish times of a real-time producer
jitter by a few ms; the sample count does not), so a steady producer gives gapless blocks
20 ms apart. When the producer falls behind the timeline by more than RESYNC_US (it paused,
or its clock runs slow), the partial block is padded with silence and sent, and the
timeline starts again at the new chunk's publish time. Sound published ahead of its time
(a file pushed at once, in one call or a burst of calls) keeps its timeline: its blocks
are paced out as their time comes (a block is due at its timestamp), at most MAX_AHEAD_US
ahead of the clock; beyond that, the excess is dropped and counted. But a producer whose
calls keep coming for LEAD_WINDOW_US while the timeline stays more than RESYNC_US ahead of
them (it caught up after a stall: it publishes in real time, yet its sound would play late
from then on) has the waiting sound cut, and the timeline starts again at its call: sound
stays with the picture at the cost of one gap. A partial block that gets no more samples
is padded and sent FLUSH_US after its end.

Per viewer (``AudioOut``): packets wait in a short queue that the transport drains ahead
of video (audio never waits behind frames); a packet older than MAX_WAIT_US by the time
the link could take it, or beyond MAX_QUEUED, is dropped (late audio is worse than none),
and a link whose socket backlog is over BACKLOG_BYTES gets none until it drains.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLE_RATE = 48_000  # Opus's rate, the only one sent
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
FRAME_US = 20_000
CHANNELS = (1, 2)
MIN_RATE, MAX_RATE = 8_000, 192_000  # publish_audio rates resampled to SAMPLE_RATE
RESYNC_US = 60_000  # the producer this far behind the timeline: start it again
LEAD_WINDOW_US = 500_000  # ... or this long, without a break, ahead of it by more than RESYNC_US
FLUSH_US = 10_000  # a partial block with nothing more this long after its end: padded, sent
MAX_AHEAD_US = 10_000_000  # at most this much audio waits for its time
# Per viewer
MAX_QUEUED = 5  # packets (100 ms) waiting for one link
MAX_WAIT_US = 100_000  # a packet that could not go within this is dropped (the browser
# keeps at most 100 ms: it would drop it anyway)
BACKLOG_BYTES = 512 * 1024  # a link with more than this unsent gets no audio
BITRATE = {1: 32_000, 2: 64_000}  # Opus bit/s by channel count (fixed in this version)

EXPECTED = "samples must be (n,) or (n, 1|2) int16 or float32"


def check_samples(samples: Any, sample_rate: Any) -> tuple[np.ndarray, int]:
    """What ``publish_audio`` takes: (float32 array (n, channels) C-contiguous, a copy;
    the sample rate). TypeError / ValueError naming what is expected otherwise."""
    if not isinstance(samples, np.ndarray):
        raise TypeError(f"{EXPECTED} NumPy arrays, got {type(samples).__name__}")
    shape, dtype = samples.shape, samples.dtype
    got = f"got {shape} {dtype}"
    if dtype not in (np.int16, np.float32):
        raise TypeError(f"{EXPECTED}, {got}")
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[1] not in CHANNELS:
        raise ValueError(f"{EXPECTED}, {got}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise TypeError(f"sample_rate must be an int (Hz), got {sample_rate!r}")
    if not MIN_RATE <= int(sample_rate) <= MAX_RATE:
        raise ValueError(
            f"sample_rate must be {MIN_RATE}..{MAX_RATE} Hz (resampled to {SAMPLE_RATE}), "
            f"got {sample_rate}"
        )
    if dtype == np.int16:
        pcm = samples.astype(np.float32) / 32768.0
    else:
        pcm = np.array(samples, dtype=np.float32, order="C", copy=True)
        if not np.isfinite(pcm).all():
            raise ValueError("float32 samples must be finite (-1..1)")
        np.clip(pcm, -1.0, 1.0, out=pcm)
    return np.ascontiguousarray(pcm), int(sample_rate)


@dataclass(frozen=True, slots=True)
class Block:
    """20 ms of audio at 48 kHz, (FRAME_SAMPLES, channels) float32; its first sample's
    time on the stream's clock."""

    pcm: np.ndarray
    timestamp_us: int

    @property
    def channels(self) -> int:
        return int(self.pcm.shape[1])


class Framer:
    """48 kHz chunks in (each with its publish time), 20 ms blocks out when due."""

    def __init__(self) -> None:
        self._ready: deque[Block] = deque()  # whole blocks, waiting for their time
        self._part: list[np.ndarray] = []  # samples of the block being filled
        self._part_n = 0
        self._part_ts: int | None = None  # timestamp of the block being filled
        self._channels: int | None = None
        self.dropped_ahead = 0  # samples dropped as too far ahead of the clock
        self.cut_us = 0  # sound cut as late (a steady producer ahead of its calls)
        self._ahead_since: int | None = None
        self.resyncs = 0

    @property
    def end_us(self) -> int | None:
        """Where the timeline goes on: the time of the next sample, None when it stopped."""
        if self._part_ts is None:
            return None
        return self._part_ts + self._part_n * 1_000_000 // SAMPLE_RATE

    @property
    def queued(self) -> int:
        return len(self._ready)

    def push(self, pcm: np.ndarray, t_us: int) -> None:
        """``pcm``: (n, channels) float32 at 48 kHz, published at ``t_us``."""
        if pcm.shape[0] == 0:
            return
        channels = int(pcm.shape[1])
        end = self.end_us
        if end is not None and end - t_us > RESYNC_US:  # the timeline is ahead of the calls
            if self._ahead_since is None:
                self._ahead_since = t_us
            elif t_us - self._ahead_since >= LEAD_WINDOW_US:
                # A steady producer whose sound now plays late (it caught up after a stall):
                # what waits from now on is cut, and its sound plays at its calls again.
                self._cut(t_us)
                end = None
        else:
            self._ahead_since = None
        if end is None or channels != self._channels or t_us - end > RESYNC_US:
            if end is not None:
                self.resyncs += 1
            self._pad()
            self._channels, self._part_ts = channels, t_us
            end = t_us
        room = (t_us + MAX_AHEAD_US - end) * SAMPLE_RATE // 1_000_000
        if room < pcm.shape[0]:
            self.dropped_ahead += pcm.shape[0] - max(room, 0)
            pcm = pcm[: max(room, 0)]
        i = 0
        while i < pcm.shape[0]:
            take = min(FRAME_SAMPLES - self._part_n, pcm.shape[0] - i)
            self._part.append(pcm[i : i + take])
            self._part_n += take
            i += take
            if self._part_n == FRAME_SAMPLES:
                self._close_block()

    def due(self, now_us: int) -> list[Block]:
        """The blocks whose time has come; a partial block left alone past its end plus
        FLUSH_US is padded with silence and comes too."""
        part_ts = self._part_ts
        if self._part_n and part_ts is not None and now_us >= part_ts + FRAME_US + FLUSH_US:
            self._pad()
        out = []
        while self._ready and self._ready[0].timestamp_us <= now_us:
            out.append(self._ready.popleft())
        return out

    def next_due_us(self) -> int | None:
        """When ``due`` will next have something: a waiting block's time, or the flush of
        a partial one; None when there is nothing."""
        if self._ready:
            return self._ready[0].timestamp_us
        if self._part_n and self._part_ts is not None:
            return self._part_ts + FRAME_US + FLUSH_US
        return None

    def _cut(self, t_us: int) -> None:
        """Drop the blocks from ``t_us`` on (not sent yet) and the partial one."""
        while self._ready and self._ready[-1].timestamp_us >= t_us:
            self._ready.pop()
            self.cut_us += FRAME_US
        if self._part_ts is not None:
            self.cut_us += self._part_n * 1_000_000 // SAMPLE_RATE
        self._part, self._part_n, self._part_ts = [], 0, None
        self._ahead_since = None
        self.resyncs += 1

    def reset(self) -> None:
        """Forget everything (nobody listens any more)."""
        self._ready.clear()
        self._part, self._part_n, self._part_ts, self._channels = [], 0, None, None

    def _close_block(self) -> None:
        assert self._part_ts is not None
        pcm = self._part[0] if len(self._part) == 1 else np.concatenate(self._part)
        self._ready.append(Block(np.ascontiguousarray(pcm), self._part_ts))
        self._part_ts += FRAME_US
        self._part, self._part_n = [], 0

    def _pad(self) -> None:
        """Fill the partial block with silence and close it; the timeline stops."""
        if self._part_n and self._channels is not None:
            missing = FRAME_SAMPLES - self._part_n
            self._part.append(np.zeros((missing, self._channels), np.float32))
            self._part_n = FRAME_SAMPLES
            self._close_block()
        self._part, self._part_n, self._part_ts = [], 0, None


@dataclass(frozen=True, slots=True)
class Packet:
    """One encoded 20 ms block, as every viewer gets it."""

    seq: int
    timestamp_us: int
    channels: int
    data: bytes
    duration_us: int = FRAME_US


class AudioOut:
    """One viewer's audio queue: drained ahead of its video; late packets dropped."""

    def __init__(self, max_queued: int = MAX_QUEUED, max_wait_us: int = MAX_WAIT_US,
                 backlog_bytes: int = BACKLOG_BYTES) -> None:  # fmt: skip
        self._queue: deque[tuple[int, bytes]] = deque()  # (queued at, message)
        self.max_queued = max_queued
        self.max_wait_us = max_wait_us
        self.backlog_bytes = backlog_bytes
        self.sent = 0
        self.dropped = 0  # late, crowded out, or the link backlogged
        self.bytes_sent = 0

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, message: bytes, now_us: int, link_backlog: int) -> bool:
        """Queue one packet's message, unless the link is backlogged. False: dropped."""
        if link_backlog > self.backlog_bytes:
            self.dropped += 1
            return False
        self._queue.append((now_us, message))
        while len(self._queue) > self.max_queued:
            self._queue.popleft()
            self.dropped += 1
        return True

    def take(self, now_us: int) -> bytes | None:
        """The next message to send now; those that waited too long are dropped."""
        while self._queue:
            queued_at, message = self._queue.popleft()
            if now_us - queued_at > self.max_wait_us:
                self.dropped += 1
                continue
            self.sent += 1
            self.bytes_sent += len(message)
            return message
        return None

    def clear(self) -> None:
        self.dropped += len(self._queue)
        self._queue.clear()
