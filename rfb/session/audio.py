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

Tiers (``tier_for``, ``TierPlan``). Each block is encoded once per *tier* in use, and
every viewer on a tier shares that encode: the normal tier, and a low tier at half the
bitrate for viewers whose video rung says the path is thin (``tier_for``: a video rung of
LOW_TIER_VIDEO_BPS or less, or the bottom rung of a ladder). Both tiers have the same
sample rate and channel count, so a viewer's decoder goes on as it was when it changes
tier. A tier's encoder starts when a viewer wants that tier and a viewer moves to it at a
packet boundary once the encoder is warm (WARM_PACKETS: a fresh encoder starts from
silence, and its first packets do not follow on from another encoder's); until then it
keeps the packets of the tier it was on. A
tier nobody is on is not encoded. Where a WebRTC listener on a tier reports loss, that
tier is encoded with Opus in-band FEC (``FEC_LOSS_PERCENT``): a new encoder, warmed up
the same way, replaces the tier's old one (that switch is heard: FEC needs Opus's hybrid
mode, whose look-ahead is 4 ms longer than the low-delay CELT mode's, so the sound steps
by 4 ms once, when FEC turns on and when it turns off).

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
BITRATE = {1: 32_000, 2: 64_000}  # Opus bit/s by channel count: the normal tier
LOW_BITRATE = {1: 16_000, 2: 32_000}  # ... the low tier: half
# A viewer whose video rung aims at this or less gets the low tier. The default ladder
# ends at 250 kbit/s (ladder.DEFAULT_MIN_BITRATE) in steps of 0.7, so these are its two
# bottom rungs (250 and ~357 kbit/s): there the normal tier's 32 kbit/s is 9-13 % of the
# picture's rate (stereo 64 kbit/s: 18-26 %), and half of it is worth a rung step's share.
LOW_TIER_VIDEO_BPS = 400_000
WARM_PACKETS = 4  # a tier's encoder serves viewers from its 4th packet (measured: from its
# 2nd, the switch shows a 20-40 ms disturbance; from its 4th, none above codec noise)
# In-band FEC (LBRR) needs Opus's SILK layer: the FEC encoder runs the "audio" application
# (hybrid) with this expected loss. None: no FEC on that tier (at 16 kbit/s mono libopus
# 1.6 carries LBRR only when told of >= 30 % loss, and then drops to narrowband SILK).
FEC_LOSS_PERCENT: dict[int, int | None] = {0: 10, 1: None}

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
    """One encoded 20 ms block, as every viewer on its tier gets it. The tiers' packets of
    one block share ``seq`` and ``timestamp_us``."""

    seq: int
    timestamp_us: int
    channels: int
    data: bytes
    duration_us: int = FRAME_US
    tier: int = 0  # NORMAL or LOW
    fec: bool = False  # encoded with in-band FEC
    warm: bool = True  # its encoder had made a packet before (a viewer may switch to it)

    @property
    def variant(self) -> Variant:
        return (self.tier, self.fec)


# -- tiers ------------------------------------------------------------------------------

NORMAL, LOW = 0, 1
TIER_NAMES = {NORMAL: "normal", LOW: "low"}
Variant = tuple[int, bool]  # (tier, FEC on): one encoder


def bitrate(tier: int, channels: int) -> int:
    """Opus bit/s of ``tier`` for this channel count."""
    return (LOW_BITRATE if tier == LOW else BITRATE)[channels]


@dataclass(frozen=True, slots=True)
class RungView:
    """Where a viewer is on its quality ladder: its rung's index among those it may use
    (0 the top), how many it may use, and the rung's video bits/s (None: images)."""

    index: int
    rungs: int
    video_bps: int | None = None


def tier_for(rung: RungView | None) -> int:
    """The audio tier for a viewer on ``rung`` (None: not a viewer of the ladder, e.g. a
    recording or a relay: the normal tier)."""
    if rung is None:
        return NORMAL
    if rung.video_bps is not None and rung.video_bps <= LOW_TIER_VIDEO_BPS:
        return LOW
    if rung.rungs > 1 and rung.index >= rung.rungs - 1:  # the bottom of an adaptive ladder
        return LOW
    return NORMAL


@dataclass(slots=True)
class _Listener:
    tier: int = NORMAL  # the tier it should be on
    lossy: bool = False  # a WebRTC listener whose browser reports loss
    serving: Variant | None = None  # the encoder whose packets it gets now


class TierPlan:
    """Which encoders run and which packet each listener gets. Loop thread; no clock
    needed (decisions happen at packet boundaries: ``choose`` per packet)."""

    def __init__(self) -> None:
        self._listeners: dict[str, _Listener] = {}
        self._warm: set[Variant] = set()  # encoders whose last packet was warm

    def __len__(self) -> int:
        return len(self._listeners)

    def set(self, client_id: str, tier: int, lossy: bool = False) -> None:
        """What a listener needs now (read each packet from its rung and its link)."""
        entry = self._listeners.setdefault(client_id, _Listener())
        entry.tier, entry.lossy = tier, lossy

    def remove(self, client_id: str) -> None:
        self._listeners.pop(client_id, None)

    def fec(self, tier: int) -> bool:
        """In-band FEC on ``tier``: a listener on it reports loss, and the tier has FEC."""
        if FEC_LOSS_PERCENT.get(tier) is None:
            return False
        return any(v.lossy for v in self._listeners.values() if v.tier == tier)

    def wanted(self, client_id: str) -> Variant | None:
        entry = self._listeners.get(client_id)
        return None if entry is None else (entry.tier, self.fec(entry.tier))

    def serving(self, client_id: str) -> Variant | None:
        entry = self._listeners.get(client_id)
        return None if entry is None else entry.serving

    def to_encode(self) -> frozenset[Variant]:
        """The encoders to run for the next block: every wanted one, and the one a
        listener is still served by while its wanted one warms up."""
        out: set[Variant] = set()
        for client_id, entry in self._listeners.items():
            want = self.wanted(client_id)
            assert want is not None
            out.add(want)
            if want not in self._warm and entry.serving is not None:
                out.add(entry.serving)
        # An encoder left out stops (the shell drops it): started again, it is cold.
        self._warm &= out
        return frozenset(out)

    def block(self, packets: dict[Variant, Packet]) -> None:
        """A block's packets have come (one per encoder that ran): note which are warm."""
        self._warm = {v for v, p in packets.items() if p.warm}

    def choose(self, client_id: str, packets: dict[Variant, Packet]) -> Packet | None:
        """The packet of this block that ``client_id`` gets: its wanted encoder's once that
        is warm, else the one it was on, else (nothing else came) any, normal first."""
        entry = self._listeners.get(client_id)
        if entry is None or not packets:
            return None
        want = (entry.tier, self.fec(entry.tier))
        packet = packets.get(want)
        if packet is None or not packet.warm:
            if entry.serving is not None and entry.serving in packets:
                return packets[entry.serving]
            if packet is None:
                packet = packets[min(packets)]  # (NORMAL, False) sorts first
        entry.serving = packet.variant
        return packet


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
