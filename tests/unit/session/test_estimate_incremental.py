"""The path estimate keeps running sums (rfb/session/estimate.py) so that an adaptation
round costs little per viewer: what it reads must be what the straightforward reading of
the same deliveries gives. ``Straightforward`` below is the estimate as it was computed
before, one delivery at a time on every call; both are fed the same random reports.

The capacity may differ by float rounding only: the running sums are exact and rounded
once, the straightforward sums round at every step (relative tolerance 1e-9, far below
any step of the ladder). Everything else must be equal.
"""

from __future__ import annotations

import bisect
from collections import deque
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfb.session.estimate import (
    _ARRIVED,
    _BUSY,
    _MAX_BPS,
    _MIN_FIT,
    _MIN_PATH_RATES,
    _MIN_QUEUE_SAMPLES,
    _MIN_QUEUED,
    _NBYTES,
    _QUEUE,
    _QUEUED,
    _QUEUED_FRESH_S,
    REMB_BACKOFF,
    REMB_FALL,
    REMB_OVERUSE,
    REMB_PEAK_SPAN_S,
    BandwidthEstimator,
    _Delivery,
    _fit_capacity,
    _WindowSums,
)


class Straightforward(BandwidthEstimator):
    """The estimate read from the deliveries one by one, on every call (the code before
    the running sums, as it was)."""

    def capacity_bps(self, now: float) -> float | None:
        self._trim(now)
        if self.queue_window_s <= self.window_s:
            recent = list(self._deliveries)
        else:
            recent = [d for d in self._deliveries if now - d[_ARRIVED] <= self.window_s]
        queued = [d for d in recent if d[_QUEUED]]
        fresh = bool(queued) and now - queued[-1][_ARRIVED] <= _QUEUED_FRESH_S
        if len(queued) >= _MIN_QUEUED and fresh:
            busy = max(self.min_busy_s * len(queued), sum(d[_BUSY] for d in queued))
            own: float | None = 8 * sum(d[_NBYTES] for d in queued) / busy
        else:
            if queued and not fresh:
                since = [d for d in recent if d[_ARRIVED] > queued[-1][_ARRIVED]]
                largest = max(d[_NBYTES] for d in recent)
                if len(since) >= _MIN_FIT and max(d[_NBYTES] for d in since) >= 0.5 * largest:
                    recent = since
            own = _fit_capacity(recent, self.min_busy_s) if recent else None
        for floor in (self.path_rate_bps(now), self.paced_rate_bps(now)):
            if floor is not None:
                own = floor if own is None else max(own, floor)
        remb = self.remb_bps if self.remb_bps is not None and now - self._remb_at < 3.0 else None
        sent = min(self.sent_bps(now), self.sent_bps(now, ago=1.0))
        fell = bool(self._remb_peak) and (remb or 0.0) < REMB_FALL * self._remb_peak[0][1]
        measured = now - self._path_limited_at <= REMB_PEAK_SPAN_S
        if remb is not None and (remb >= REMB_OVERUSE * sent or not fell or measured):
            remb = None
        elif remb is not None:
            remb /= REMB_BACKOFF
        if own is None:
            return remb
        return own if remb is None else min(own, remb)

    def queue_delay(self, now: float) -> float | None:
        if self.base_delay is None:
            return None
        recent = []
        for d in reversed(self._deliveries):
            if now - d[_ARRIVED] > self.queue_window_s:
                break
            recent.append(d[_QUEUE])
        if len(recent) < _MIN_QUEUE_SAMPLES:
            recent = [d[_QUEUE] for d in self._deliveries][-_MIN_QUEUE_SAMPLES:]
        standing = min(recent) if recent else 0.0
        return max(0.0, standing)

    def path_rate_bps(self, now: float) -> float | None:
        rates = sorted(b for t, b in self._path_rates if now - t <= self.path_rate_span_s)
        return rates[len(rates) // 2] if len(rates) >= _MIN_PATH_RATES else None

    def sent_bps(self, now: float, span: float = 1.0, ago: float = 0.0) -> float:
        end = now - ago
        sent = self._sent

        def back(e: tuple[float, int, int]) -> float:
            return -(end - e[0])

        lo = bisect.bisect_left(sent, -span, key=back)
        hi = bisect.bisect_right(sent, 0.0, key=back)
        if hi <= lo:
            return 0.0
        total = sent[hi - 1][2] - (sent[lo - 1][2] if lo else self._sent_before)
        return 8 * total / span


sizes = st.one_of(st.integers(1, 3_000), st.integers(3_000, 40_000), st.integers(40_000, 300_000))


@st.composite
def streams(draw: st.DrawFn, in_order: bool = True, lifts: bool = False) -> list[tuple]:  # type: ignore[type-arg]
    """Reports of a stream through a bottleneck: ("delivery", sent_at, acked_at, nbytes,
    received_at or None, send spread or None), ("rate", now, bps, rtt), ("send", now, nbytes),
    ("remb", now, bps), ("ask", now). Frames every ``interval`` s, a unit starts when the
    one before it has left the bottleneck (whose rate changes half way), acks come in
    order of arrival (``in_order``: on a clock that never steps back; else some swap
    places, and some of TCP's rate samples are stamped earlier than the one before).
    ``lifts``: a full bottleneck for seconds, that then lifts well above the stream."""
    capacity = draw(st.floats(1e5, 2e6) if lifts else st.floats(2e5, 1e8))
    step = draw(st.floats(20, 50) if lifts else st.floats(0.1, 10.0))  # half way: x this
    interval = 1 / 30 if lifts else draw(st.sampled_from([0.005, 1 / 60, 1 / 30, 0.1, 0.4]))
    offset = draw(st.one_of(st.none(), st.floats(-1e4, 1e4)))  # the viewer's clock, if any
    paced = draw(st.booleans())
    frames = draw(st.lists(st.tuples(sizes, st.floats(0, 0.01), st.floats(0, 1)),
                           min_size=150 if lifts else 1, max_size=250))  # fmt: skip
    out: list[tuple] = []  # type: ignore[type-arg]
    free = 0.0
    for i, (nbytes, jitter, dice) in enumerate(frames):
        if i == len(frames) // 2:
            capacity *= step
        now = i * interval + (3.0 if dice > 0.97 else 0.0) * (i > len(frames) // 2)
        start = max(now + 0.01, free)
        free = start + 8 * nbytes / capacity
        arrived = free + jitter
        spread = 8 * nbytes / capacity if paced else None
        received = None if offset is None or dice < 0.05 else arrived + offset
        out.append(("send", now, nbytes))
        out.append(("delivery", now, arrived + 0.01, nbytes, received, spread))
        if dice < 0.5:
            back = 0.0 if in_order else 20 * jitter  # TCP's samples stamped out of order
            out.append(("rate", arrived + 0.01 - back, capacity * (0.5 + dice), 0.02))
        if dice > 0.9:
            out.append(("remb", arrived + 0.01, capacity * (dice - 0.3)))
        if dice < 0.3 or i == len(frames) - 1:
            out.append(("ask", arrived + 0.01 + dice))
    out.sort(key=lambda r: r[2] if r[0] == "delivery" else r[1])  # by when it is reported
    if not in_order:
        for i in draw(st.lists(st.integers(0, len(out) - 2), max_size=20)):
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def feed(ests: list[BandwidthEstimator], script: list[tuple]) -> None:  # type: ignore[type-arg]
    """Play ``script`` into every estimator alike; at each "ask", ask them all what an
    adaptation round reads, and check that they agree."""
    for step in script:
        kind = step[0]
        for est in ests:
            if kind == "delivery":
                est.on_delivery(*step[1:])
            elif kind == "rate":
                est.on_path_rate(*step[1:])
            elif kind == "send":
                est.on_sent(*step[1:])
            elif kind == "remb":
                est.on_remb(*step[1:])
        if kind == "ask":
            ask(ests, step[1])


def ask(ests: list[BandwidthEstimator], now: float) -> None:
    ref, *others = ests
    want = (ref.capacity_bps(now), ref.queue_delay(now), ref.path_rate_bps(now),
            ref.sent_bps(now), ref.sent_bps(now, ago=1.0))  # fmt: skip
    for est in others:
        got = (est.capacity_bps(now), est.queue_delay(now), est.path_rate_bps(now),
               est.sent_bps(now), est.sent_bps(now, ago=1.0))  # fmt: skip
        assert got[1:] == want[1:]
        if want[0] is None or got[0] is None:
            assert got[0] == want[0]
        else:
            assert got[0] == pytest.approx(want[0], rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(streams())
def test_the_running_estimate_reads_as_the_straightforward_one(script: list[tuple]) -> None:  # type: ignore[type-arg]
    feed([Straightforward(), BandwidthEstimator()], script)


@settings(max_examples=40, deadline=None)
@given(streams(lifts=True))
def test_a_bottleneck_that_lifts_reads_alike(script: list[tuple]) -> None:  # type: ignore[type-arg]
    feed([Straightforward(), BandwidthEstimator()], script)


@settings(max_examples=100, deadline=None)
@given(streams(in_order=False))
def test_out_of_order_reports_read_alike_too(script: list[tuple]) -> None:  # type: ignore[type-arg]
    feed([Straightforward(), BandwidthEstimator()], script)


@settings(max_examples=50, deadline=None)
@given(streams())
def test_a_queue_window_longer_than_the_window_reads_alike(script: list[tuple]) -> None:  # type: ignore[type-arg]
    ests: list[BandwidthEstimator] = [Straightforward(queue_window_s=3.0),
                                      BandwidthEstimator(queue_window_s=3.0)]  # fmt: skip
    feed(ests, script)


def test_an_estimate_asked_after_a_long_stream_reads_alike() -> None:
    """100 s of deliveries before the first question (a viewer held on its rung), then
    one every round: the sums start afresh from the units kept, then keep up."""
    ref, est = Straightforward(), BandwidthEstimator()
    t = 0.0
    for i in range(3000):  # 100 s at 30 fps, never asked
        t += 1 / 30
        n = 60_000 if i % 30 == 0 else 8_000 + 37 * (i % 11)
        for e in (ref, est):
            e.on_delivery(t, t + 0.02 + n / 2e6, n)
    ask([ref, est], t)
    for i in range(90):  # then every round
        t += 1 / 30
        n = 60_000 if i % 30 == 0 else 8_000
        for e in (ref, est):
            e.on_delivery(t, t + 0.02 + n / 2e6, n)
        if i % 6 == 0:
            ask([ref, est], t)


def exact_fit(units: list[_Delivery], min_busy_s: float) -> float:
    """_fit_capacity with exact sums: the slope's ratio rounded once; the total bytes
    over the total busy time (where sizes are too alike) from the exact sums, each
    rounded once, in float arithmetic as before."""
    n = len(units)
    xs = [Fraction(d[_NBYTES]) for d in units]
    ys = [Fraction(d[_BUSY]) for d in units]
    total = 8 * float(sum(xs)) / max(min_busy_s * n, float(sum(ys)))
    if n < 4 or not max(xs) >= 2 * max(1, min(xs)):
        return min(_MAX_BPS, total)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    if sxy <= 0:
        return _MAX_BPS
    return min(_MAX_BPS, float(8 * sxx / sxy))


units = st.lists(st.tuples(sizes, st.floats(0, 2.0), st.booleans()), min_size=1, max_size=80)
# ...also busy times as a clock gives them: multiples of its resolution
units = units | st.lists(st.tuples(sizes, st.integers(0, 2**40).map(lambda k: k / 2**38),
                                   st.booleans()), min_size=1, max_size=80)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(units, st.integers(0, 80))
def test_the_running_fit_is_exact(sizes_busy: list[tuple[int, float, bool]], drop: int) -> None:
    """After units come and go, the sums' fit is the exact least-squares fit of those
    kept, rounded once (as Fraction arithmetic gives it)."""
    kept = [(float(i), 0.0, n, busy, q) for i, (n, busy, q) in enumerate(sizes_busy)]
    window = deque(kept)
    sums = _WindowSums()
    sums.catch_up(window, len(kept), [])
    drop = min(drop, len(kept) - 1)
    trimmed = [window.popleft() for _ in range(drop)]
    sums.catch_up(window, len(kept), trimmed)
    rest = list(window)
    # a busy time finer than 2**-96 s is left out of the sums (the fit is then read one
    # unit at a time)
    exotic = [d for d in rest if (d[_BUSY] * 2.0**96) % 1]
    assert (sums.exotic, sums.n) == (len(exotic), len(rest) - len(exotic))
    if not exotic:
        assert sums.fit(0.001) == exact_fit(rest, 0.001)
