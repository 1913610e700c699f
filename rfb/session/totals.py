"""Counts since the server started, for /metrics: they only ever go up.

Viewers and groups come and go, each with its own figures. What a departed one counted is
added here when it leaves, so a total is ``retired + sum over the live ones``, and a
Prometheus counter built from it never goes backwards. Encode times are kept as a
histogram with fixed bucket bounds.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .group import EncoderGroup
from .viewer import Viewer

ENCODE_MS_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
VIEWER_COUNTS = ("frames_sent", "frames_skipped", "frames_expired", "bytes_sent",
                 "keyframes_sent", "keyframe_requests", "exact_stills_sent",
                 "near_lossless_stills_sent")  # fmt: skip
GROUP_COUNTS = ("frames_encoded", "keyframes", "bytes_out", "errors", "stills", "exact_stills")


class Totals:
    def __init__(self) -> None:
        self._viewers: Counter[str] = Counter()
        self._groups: Counter[str] = Counter()
        self.encode_buckets = [0] * (len(ENCODE_MS_BUCKETS) + 1)  # the last: above them all
        self.encode_count = 0
        self.encode_sum_ms = 0.0

    def observe_encode(self, ms: float) -> None:
        self.encode_buckets[bisect.bisect_left(ENCODE_MS_BUCKETS, ms)] += 1
        self.encode_count += 1
        self.encode_sum_ms += ms

    def retire_viewer(self, viewer: Viewer) -> None:
        _add(self._viewers, viewer.stats, VIEWER_COUNTS)

    def retire_group(self, group: EncoderGroup) -> None:
        _add(self._groups, group, GROUP_COUNTS)

    def viewers(self, live: Iterable[Viewer]) -> dict[str, int]:
        return _total(self._viewers, (v.stats for v in live), VIEWER_COUNTS)

    def groups(self, live: Iterable[EncoderGroup]) -> dict[str, int]:
        return _total(self._groups, live, GROUP_COUNTS)

    def encode_histogram(self) -> dict[str, Any]:
        """Cumulative bucket counts by upper bound (``inf`` last), count and sum."""
        cumulative, running = [], 0
        for bound, n in zip((*ENCODE_MS_BUCKETS, float("inf")), self.encode_buckets, strict=True):
            running += n
            cumulative.append((bound, running))
        return {"buckets": cumulative, "count": self.encode_count, "sum_ms": self.encode_sum_ms}


def _add(into: Counter[str], source: object, names: tuple[str, ...]) -> None:
    for name in names:
        into[name] += getattr(source, name)


def _total(retired: Counter[str], live: Iterable[object], names: tuple[str, ...]) -> dict[str, int]:
    out = Counter(retired)
    for source in live:
        _add(out, source, names)
    return {name: out[name] for name in names}
