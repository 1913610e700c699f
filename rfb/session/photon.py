"""Click-to-photon, sans I/O: which input each frame reflects, and the samples viewers report.

The browser numbers each input event it sends (``input_seq``, per connection, growing).
The path of one input to one latency sample:

1. ``TakenInputs`` (kept by the stream's InputSink): when the program *takes* events
   (``poll_events()``, or each event an ``events()`` iterator yields), the newest
   ``input_seq`` taken from each viewer. Events dropped or coalesced by the sink never
   reach the program, so they are never recorded.
2. ``publish()`` stamps the frame with ``TakenInputs.taken`` at that moment: per viewer,
   the newest input the program had taken, which the frame can reflect. The mapping is
   cumulative, so a frame that never gets encoded (replaced by a newer one, unchanged, or
   skipped by a group) loses nothing: the next frame that is encoded carries the same
   numbers or newer ones, and it reflects those inputs too. Units carry it from the frame.
3. ``Stamps`` (one per stream): when a unit goes to a viewer, its number goes with it
   only if it is newer than the last one that viewer was sent. So only the first frame a
   viewer gets after the program took its input carries it; frames published for other
   reasons (animation, stills, repeats) carry nothing new.
4. The page (browser/src/photon.ts) makes one sample when it draws the first frame that
   carries (or follows a frame that carried) the number of an input it sent, and reports
   it; ``PhotonSamples`` keeps each viewer's recent samples and the stream's histogram.

No false samples: a program that never polls records nothing, so frames carry nothing; a
frame published without newly taken input carries nothing new; an input never taken (or
dropped by the sink) is never stamped, and the page forgets it once a newer one is matched.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Histogram bounds in seconds (Prometheus ``rfb_input_to_photon_seconds``): 5 ms .. 2 s.
BUCKETS_S: tuple[float, ...] = (0.005, 0.01, 0.016, 0.025, 0.033, 0.05, 0.075, 0.1, 0.15,
                                0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0)  # fmt: skip
MAX_SAMPLE_MS = 60_000.0  # a sample above this is a stale page clock, not a latency
RECENT_SAMPLES = 256  # per viewer, for its p50/p95
RECENT_WINDOW_S = 60.0  # per-viewer figures cover at most this long

EMPTY: Mapping[str, int] = {}


class TakenInputs:
    """Per viewer, the newest input number the program has taken.

    ``taken`` is replaced, never changed in place, so ``publish()`` on any thread may keep
    the mapping it read without a copy or a lock (the sink's lock orders the writers)."""

    def __init__(self) -> None:
        self.taken: Mapping[str, int] = EMPTY

    def record(self, seqs: Iterable[tuple[str, int | None]]) -> None:
        """(viewer, input_seq) of events the program just took, in any order."""
        newer: dict[str, int] = {}
        current = self.taken
        for client_id, seq in seqs:
            if seq is None:  # an old client's event, or one the stream made: no number
                continue
            best = newer.get(client_id, current.get(client_id, -1))
            if seq > best:
                newer[client_id] = seq
        if newer:
            self.taken = {**current, **newer}

    def forget(self, client_id: str) -> None:
        if client_id in self.taken:
            self.taken = {k: v for k, v in self.taken.items() if k != client_id}


class Stamps:
    """Per viewer, the newest input number already sent with a frame: a unit's number goes
    to a viewer only when it is newer (the first frame that reflects the input)."""

    def __init__(self) -> None:
        self._sent: dict[str, int] = {}

    def stamp(self, viewer_id: str, inputs: Mapping[str, int]) -> int | None:
        seq = inputs.get(viewer_id)
        if seq is None or seq <= self._sent.get(viewer_id, -1):
            return None
        self._sent[viewer_id] = seq
        return seq

    def forget(self, viewer_id: str) -> None:
        self._sent.pop(viewer_id, None)


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class PhotonSamples:
    """The samples viewers reported: each viewer's recent ones (p50/p95, while it is
    connected) and the stream's histogram since it started (kept after viewers leave)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._recent: dict[str, deque[tuple[float, float]]] = {}  # viewer -> (at, ms)
        self._count: dict[str, int] = {}
        self._last_seq: dict[str, int] = {}
        self.buckets = [0] * (len(BUCKETS_S) + 1)  # the last one: above the top bound
        self.count = 0
        self.sum_s = 0.0
        self.refused = 0  # samples not counted: a repeat, or out of range

    def add(self, viewer_id: str, input_seq: int, ms: float) -> bool:
        """One sample from a viewer: its input ``input_seq`` took ``ms`` to show. A number
        not newer than the viewer's last sample, or an implausible time, is not counted."""
        if not 0.0 <= ms <= MAX_SAMPLE_MS or input_seq <= self._last_seq.get(viewer_id, -1):
            self.refused += 1
            return False
        self._last_seq[viewer_id] = input_seq
        now = self._clock()
        recent = self._recent.setdefault(viewer_id, deque(maxlen=RECENT_SAMPLES))
        recent.append((now, ms))
        self._count[viewer_id] = self._count.get(viewer_id, 0) + 1
        s = ms / 1000
        self.buckets[bisect.bisect_left(BUCKETS_S, s)] += 1
        self.count += 1
        self.sum_s += s
        return True

    def forget(self, viewer_id: str) -> None:
        self._recent.pop(viewer_id, None)
        self._count.pop(viewer_id, None)
        self._last_seq.pop(viewer_id, None)

    def viewer(self, viewer_id: str) -> dict[str, Any]:
        """A viewer's figures: samples since it connected, and over its recent ones (at
        most RECENT_SAMPLES, none older than RECENT_WINDOW_S) p50/p95/last in ms."""
        recent = self._recent.get(viewer_id)
        if recent:
            horizon = self._clock() - RECENT_WINDOW_S
            while recent and recent[0][0] < horizon:
                recent.popleft()
        values = [ms for _, ms in recent or ()]
        ordered = sorted(values)
        return {
            "samples": self._count.get(viewer_id, 0),
            "p50_ms": round(_quantile(ordered, 0.5), 2) if ordered else None,
            "p95_ms": round(_quantile(ordered, 0.95), 2) if ordered else None,
            "last_ms": round(values[-1], 2) if values else None,
        }

    def histogram(self) -> dict[str, Any]:
        """Cumulative buckets (upper bound in seconds, count at or below), Prometheus-style."""
        out, acc = [], 0
        for bound, n in zip((*BUCKETS_S, float("inf")), self.buckets, strict=True):
            acc += n
            out.append((bound, acc))
        return {"buckets": out, "count": self.count, "sum_s": self.sum_s}


class Photon:
    """One stream's click-to-photon state: what was taken, what was stamped, what came back."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.taken = TakenInputs()
        self.stamps = Stamps()
        self.samples = PhotonSamples(clock)

    def close(self, viewer_id: str) -> None:
        self.taken.forget(viewer_id)
        self.stamps.forget(viewer_id)
        self.samples.forget(viewer_id)
