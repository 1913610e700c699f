"""Per-viewer path estimate: how many bits per second reach this viewer, and whether a
queue is building on the way. Sans I/O: every call takes ``now`` (the display's clock).

What transports report:
* a delivery per unit: when it was handed to the transport, when the viewer said it had
  it (WebSocket: the ack after drawing; WebRTC: the frame_shown report), and its size;
* the local backlog: bytes handed over and not yet on the wire (socket buffer, pacer);
* the bytes sent;
* WebRTC only: the receiver's REMB estimate and receiver-report loss.

Capacity, from delivery times (a packet-train estimate; no probing traffic needed). A
unit starts occupying the path when it is sent, or when the one before it arrived if
that was later (it queued behind it); it stops when it arrives:

    busy = arrived - max(sent + base_delay, previous arrival)

Behind a bottleneck of capacity C, ``busy ~ a + bytes / C``, whether the path is full or
not: ``a`` is what does not grow with size (a token bucket's burst lets the first few
kB through at once, which makes small units look fast; the viewer's draw time). A unit
that *queued* behind the one before it met a full path, with no burst allowance left:
where the last ``window_s`` has a few of those (after every IDR, on a path near its
limit), the estimate is their bytes over their busy time, which is the bottleneck's
rate. Elsewhere (a path well above what is sent) it is the slope of a line fitted
through the recent (bytes, busy) points (IDRs and deltas differ enough in size to fix
it), or, where sizes are too alike for a slope, total bytes over total busy time: these
read high when a burst allowance hides part of the size, which matters little on a path
that carries far more than is sent, and the estimate follows the path up as soon as a
bottleneck lifts, with no probing traffic.

Queueing, from the same deliveries: the least ``arrived - sent - base_delay`` of the last
``queue_window_s`` (a standing queue: a keyframe's passing delay is not one), where
``base_delay`` is the least of the last ``base_span_s`` (with the viewer's arrival times
where it reports them: its decode and jitter buffer then play no part; the offset
between the clocks is in every sample alike and cancels). A path that confirms nothing
for long (``stalled_s``) is congested too.
A queue means more is sent than the path carries. A local backlog that stays (its least
over ``backlog_span_s``: one keyframe passing through is not a queue) counts too.

A transport that can see the network's own delivery timing (the WebSocket on Linux:
TCP's per-ACK delivery-rate samples) reports it too, with its connection's least round
trip. Each sample is a lower bound on what the path carries, free of the viewer's CPU;
their median over the last ``path_rate_span_s`` raises the estimate when the viewer's
arrival times read it lower (a browser busy decoding spreads a keyframe's arrival over
far longer than the link did). Only where that round trip is most of the viewer's own
least delay: a TCP peer much nearer than the viewer is a proxy (an SSH tunnel, a
reverse proxy), and its rates say nothing of the viewer's path.

A paced transport (WebRTC) also says how long each unit took to leave. A unit that
arrived as fast as it left was held back by the pacer, not the path: its wait says
nothing of a queue on the way, and its rate (bytes over that spread) is a lower bound
on what the path carries, the one reading that can see above the rate it is sent at.
The newest large unit that the path slowed clears those bounds. The hub paces a viewer
below the top rung faster than its estimate (probing), so a keyframe then shows whether
the path carries a higher rung.

REMB (Chromium's receive-side estimate, from abs-send-time delay gradients) is at most
about 1.5x what arrives, so it cannot say how far a path above the current rung reaches;
it caps the capacity only when it falls, from its peak of the last few seconds to below
what is being sent, which is how the browser says it saw the path overused (after a
climb it lags below the new rate for a while, rising: that is not overuse).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable
from itertools import islice
from operator import itemgetter

# One delivery: (arrived: on our clock; queue: seconds above the least path delay of the
# last base_span_s; nbytes; busy: seconds the unit occupied the path; queued: it waited for
# the unit before it, the path was full all along). A plain tuple of numbers, not an object:
# every viewer adds one per frame and keeps it for seconds, and the garbage collector stops
# tracking such tuples, where each object would count towards its full collections.
_Delivery = tuple[float, float, int, float, bool]
_ARRIVED, _QUEUE, _NBYTES, _BUSY, _QUEUED = range(5)


class BandwidthEstimator:
    def __init__(
        self,
        *,
        window_s: float = 2.0,
        queue_window_s: float = 0.5,
        base_span_s: float = 10.0,
        min_busy_s: float = 0.001,
        backlog_span_s: float = 0.4,
        path_rate_span_s: float = 1.0,
    ) -> None:
        self.window_s = window_s
        self.queue_window_s = queue_window_s
        self.base_span_s = base_span_s
        self.min_busy_s = min_busy_s
        self.backlog_span_s = backlog_span_s
        self.path_rate_span_s = path_rate_span_s
        self._path_rates: deque[tuple[float, float]] = deque()
        self._paced_rates: deque[tuple[float, float]] = deque()  # pacer-limited units
        self._path_limited_at = float("-inf")  # the last large unit the path slowed
        self._backlog: deque[tuple[float, float]] = deque()
        # (time, bytes, bytes sent up to and including it): sums over a span by bisection
        self._sent: deque[tuple[float, int, int]] = deque()
        self._sent_before = 0  # bytes of the sends trimmed off the front
        self._deliveries: deque[_Delivery] = deque()
        # Every viewer is decided every adaptation round: what the estimate reads is kept
        # as deliveries come and go, not recomputed from the whole window each time.
        self._queued: deque[_Delivery] = deque()  # those of _deliveries that queued
        # The fit's sums over _deliveries: they catch up with it when the fit is asked for
        # (deliveries since, and those trimmed off since), which most rounds are not on a
        # path near its limit (the queued units say what it carries).
        self._sums = _WindowSums()
        self._delivered = 0  # deliveries ever kept
        self._trimmed: list[_Delivery] = []  # trimmed off since the sums last caught up
        self._arrival_descents = 0  # deliveries kept that arrived before the one before
        self._path_rate_descents = 0  # samples older than the one before (a clock's: none)
        self._sent_bps_cache: dict[tuple[float, float], float] = {}  # until the next send
        self._sent_descents = 0  # sends older than the one before (a clock's: none)
        self._base: deque[tuple[float, float]] = deque()  # (time, delay), delay increasing
        self._arrival_base: deque[tuple[float, float]] = deque()  # the same, viewer's clock
        self._last_arrival: float | None = None
        self._newest_delivered_sent_at = float("-inf")
        self._received_times_at = float("-inf")  # when a unit last came with its arrival time
        self._outstanding_age = 0.0  # how long the oldest unconfirmed unit has been out
        self.backlog_bytes = 0
        self.remb_bps: float | None = None
        self._remb_at = 0.0
        self._remb_peak: deque[tuple[float, float]] = deque()  # (time, bps), decreasing
        self.loss_fraction: float | None = None  # the last reported, None before any
        self._loss_at = 0.0
        self.samples = 0

    # -- what transports report ------------------------------------------------------

    def on_delivery(
        self,
        sent_at: float,
        acked_at: float,
        nbytes: int,
        received_at: float | None = None,
        send_spread: float | None = None,
    ) -> None:
        """One unit: handed to the transport at ``sent_at``, confirmed at ``acked_at``
        (both on our clock), ``nbytes`` long. ``received_at``, when the viewer says it, is
        when the unit arrived on *its* clock (any origin): busy times then come from
        arrival spacing, free of the viewer's decode time. Queueing always uses our clock.
        ``send_spread``: a paced transport's time from the unit's first packet leaving to
        its last (``sent_at`` is then the first's).
        """
        self._newest_delivered_sent_at = max(self._newest_delivered_sent_at, sent_at)
        delay = max(0.0, acked_at - sent_at)
        base = _note_min(self._base, acked_at, delay, self.base_span_s)
        if received_at is not None:
            self._received_times_at = acked_at
        elif acked_at - self._received_times_at < self.window_s:
            # The viewer reports arrival times, just not for this unit: its timing on our
            # clock cannot be compared with theirs, and would only add noise.
            return
        if received_at is None:
            arrival, path_delay, arrival_base = acked_at, delay, base
        else:
            # The offset between the clocks is in every (received - sent) alike; the least
            # of them stands for the path's base delay in the viewer's clock.
            arrival, path_delay = received_at, received_at - sent_at
            arrival_base = _note_min(self._arrival_base, acked_at, path_delay, self.base_span_s)
        start = sent_at + arrival_base
        last = self._last_arrival
        # It waited for the unit before it only if that one had arrived before it did: a
        # unit that completes *before* an earlier one (whose lost packet was resent) met
        # no queue, and the resent one's delay is repair, not the path.
        queued = last is not None and start < last <= arrival
        if queued and last is not None:
            start = last
        busy = max(0.0, arrival - start)
        if last is None or arrival > last:
            self._last_arrival = arrival
        if send_spread is not None and send_spread > 0:
            # Did it arrive as fast as the pacer let it go? Then the pacer was the
            # bottleneck: any wait was ours, and its rate is a lower bound on the path's.
            kept_pace = busy <= PACED_SLACK * send_spread + PACED_SLACK_S
            queued = queued and not kept_pace
            if nbytes >= MIN_PACED_BYTES and send_spread >= MIN_PACED_SPREAD_S:
                if kept_pace:
                    self._paced_rates.append((acked_at, 8 * nbytes / send_spread))
                else:
                    self._paced_rates.clear()  # the path, not the pacer, held it back
                    self._path_limited_at = acked_at
        while self._paced_rates and acked_at - self._paced_rates[0][0] > self.window_s:
            self._paced_rates.popleft()
        queue = max(0.0, path_delay - arrival_base)
        d = self._deliveries
        if d and not d[-1][_ARRIVED] <= acked_at:
            self._arrival_descents += 1
        delivery = (acked_at, queue, nbytes, busy, queued)
        d.append(delivery)
        self._delivered += 1
        if queued:
            self._queued.append(delivery)
        self.samples += 1
        self._trim(acked_at)

    def on_outstanding(self, now: float, oldest_sent_at: float | None) -> None:
        """The send time of the oldest unit the viewer has not confirmed yet (None: none).

        A path that stops delivering sends no samples at all; the age of what it holds
        is then the only sign of the queue."""
        self._outstanding_age = 0.0 if oldest_sent_at is None else max(0.0, now - oldest_sent_at)

    def on_backlog(self, now: float, nbytes: int) -> None:
        """Bytes handed to the transport and not yet on the wire."""
        self.backlog_bytes = max(0, nbytes)
        _note_min(self._backlog, now, float(self.backlog_bytes), self.backlog_span_s)

    def standing_backlog(self) -> int:
        """The least backlog of the last backlog_span_s: what does not drain."""
        return int(self._backlog[0][1]) if self._backlog else 0

    def on_sent(self, now: float, nbytes: int) -> None:
        if self._sent_bps_cache:
            self._sent_bps_cache.clear()
        sent = self._sent
        if sent and not sent[-1][0] <= now:
            self._sent_descents += 1
        sent.append((now, nbytes, (sent[-1][2] if sent else self._sent_before) + nbytes))
        while sent and now - sent[0][0] > _SENT_SPAN_S:
            t, _, self._sent_before = sent.popleft()
            if sent and not t <= sent[0][0]:
                self._sent_descents -= 1

    def inflight_bytes(self) -> int:
        """Bytes sent after the newest unit the viewer confirmed: on the way, queued
        somewhere, or lost. Unlike the delay of what arrives, which lags by the queue's
        own length, this falls as soon as a queue starts draining."""
        newest = self._newest_delivered_sent_at
        total = 0
        for t, n, _ in reversed(self._sent):  # in send order: stop at the first confirmed
            if t <= newest:
                break
            total += n
        return total

    def sent_bps(self, now: float, span: float = 1.0, ago: float = 0.0) -> float:
        """Bits per second sent over ``span`` seconds ending ``ago`` seconds before now."""
        end = now - ago
        # Asked twice a round with the same ``now`` (the capacity's REMB check, then the
        # decision); nothing was sent in between.
        cached = self._sent_bps_cache.get((end, span))
        if cached is not None:
            return cached
        sent = self._sent
        # The sends with 0 <= end - t <= span, found by bisection (adaptation asks for every
        # viewer each round), their bytes from the running total.
        if not self._sent_descents:  # times ascend (a clock's do): on the times alone
            lo = _first_within(sent, end, span)
            hi = len(sent)  # the first sent after ``end`` (mostly none: ``end`` is now)
            if sent and sent[-1][0] > end:
                hi = bisect.bisect_right(sent, (end, math.inf))
        else:

            def back(e: tuple[float, int, int]) -> float:
                return -(end - e[0])  # ascending in time; exactly the test above, negated

            lo = bisect.bisect_left(sent, -span, key=back)
            hi = bisect.bisect_right(sent, 0.0, key=back)
        if hi <= lo:
            return 0.0
        total = sent[hi - 1][2] - (sent[lo - 1][2] if lo else self._sent_before)
        bps = self._sent_bps_cache[(end, span)] = 8 * total / span
        return bps

    def on_path_rate(self, now: float, bps: float, rtt_s: float) -> None:
        """A delivery-rate sample measured by the network stack (e.g. TCP's, per ACK),
        over a connection whose least round trip is ``rtt_s``."""
        base = self.base_delay
        if base is None or rtt_s < PATH_RTT_SHARE * base:
            return  # not known yet whom TCP talks to, or a proxy nearby
        rates = self._path_rates
        if rates and not rates[-1][0] <= now:
            self._path_rate_descents += 1
        rates.append((now, float(bps)))
        while now - rates[0][0] > self.path_rate_span_s:
            t = rates.popleft()[0]
            if rates and not t <= rates[0][0]:
                self._path_rate_descents -= 1

    def path_rate_bps(self, now: float) -> float | None:
        """The median of the recent path-rate samples (at least three), or None."""
        rates = self._path_rates
        span = self.path_rate_span_s
        if not self._path_rate_descents:
            # Times ascend: the recent ones follow the few too old at the front.
            old = _first_within(rates, now, span)
            if len(rates) - old < _MIN_PATH_RATES:
                return None
            recent = sorted(map(_SECOND, islice(rates, old, None)))
            return recent[len(recent) // 2]
        recent = sorted(b for t, b in rates if now - t <= span)
        return recent[len(recent) // 2] if len(recent) >= _MIN_PATH_RATES else None

    def paced_rate_bps(self, now: float) -> float | None:
        """The fastest recent unit that arrived as fast as the pacer sent it (a lower
        bound on the path), or None: reads the path above the rate it is sent at, which
        no arrival timing can show (the pacer spaces every packet)."""
        rates = [b for t, b in self._paced_rates if now - t <= self.window_s]
        return max(rates) if rates else None

    def on_remb(self, now: float, bps: float) -> None:
        self.remb_bps, self._remb_at = float(bps), now
        _note_max(self._remb_peak, now, float(bps), REMB_PEAK_SPAN_S)

    def on_loss(self, now: float, fraction: float) -> None:
        self.loss_fraction, self._loss_at = min(1.0, max(0.0, fraction)), now

    # -- the estimate ------------------------------------------------------------------

    @property
    def base_delay(self) -> float | None:
        return self._base[0][1] if self._base else None

    def capacity_bps(self, now: float) -> float | None:
        """What the path carries, capped by a fresh REMB; None until there are samples."""
        self._trim(now)
        if self.queue_window_s <= self.window_s:
            # _trim kept only the window's: the running sums are the window's
            own = self._own_capacity(now)
        else:
            own = self._own_capacity_scan(now)
        for floor in (self.path_rate_bps(now), self.paced_rate_bps(now)):
            if floor is not None:
                own = floor if own is None else max(own, floor)
        remb = self.remb_bps if self.remb_bps is not None and now - self._remb_at < 3.0 else None
        if remb is None:  # none fresh (a WebSocket viewer's path): nothing to weigh
            return own
        # The rate REMB speaks of is the one that arrived a moment ago: after a climb it
        # lags the new rate for a second or so, which is not overuse.
        sent = min(self.sent_bps(now), self.sent_bps(now, ago=1.0))
        # After a climb REMB lags for a few seconds (Chromium raises it by some 8 % a
        # second), rising all the while; overuse makes it fall.
        fell = bool(self._remb_peak) and remb < REMB_FALL * self._remb_peak[0][1]
        # A unit the path just slowed measured the path itself, and made the queue REMB
        # falls for (a probing keyframe): REMB then has nothing to add.
        measured = now - self._path_limited_at <= REMB_PEAK_SPAN_S
        if remb >= REMB_OVERUSE * sent or not fell or measured:
            remb = None  # not a sign of overuse: it cannot see past what we send
        else:
            # On overuse Chromium sets its estimate to 0.85x what arrived, and what
            # arrived through a full path is its capacity.
            remb /= REMB_BACKOFF
        if own is None:
            return remb
        return own if remb is None else min(own, remb)

    def queue_delay(self, now: float) -> float | None:
        """The standing queue: the least queueing delay of the last queue_window_s
        (seconds); None: no data yet."""
        base = self.base_delay
        if base is None:
            return None
        d = self._deliveries
        qw = self.queue_window_s
        if not self._arrival_descents:
            # Arrival times ascend: the window is the units from the first recent one on
            # (or the last few, see below); every adaptation round asks for every viewer.
            n = len(d)
            count = max(n - _first_within(d, now, qw), min(n, _MIN_QUEUE_SAMPLES))
            standing = min(map(_SECOND, islice(reversed(d), count)), default=0.0)
        else:
            recent = []
            for u in reversed(d):  # in arrival order: read back to the window's start
                if now - u[_ARRIVED] > qw:
                    break
                recent.append(u[_QUEUE])
            if len(recent) < _MIN_QUEUE_SAMPLES:
                # Too few units for "every sample" to mean anything: at rest, a still is the
                # only unit for a while, and its delay is its own size crossing the path, not
                # a queue. Its neighbours before it (up to window_s old) say whether one stands.
                recent = [u[_QUEUE] for u in d][-_MIN_QUEUE_SAMPLES:]
            # The least, not the median: a keyframe delays the few frames behind it, and that
            # passes; a queue that stays in every sample means more is sent than carried.
            standing = min(recent) if recent else 0.0
        return max(0.0, standing)

    def stalled_s(self) -> float:
        """How much longer than the base delay the oldest unconfirmed unit has been out:
        a path that stops delivering sends no samples, and this is then its only sign."""
        base = self.base_delay
        return 0.0 if base is None else max(0.0, self._outstanding_age - base)

    def delivered_bps(self, now: float, span: float = 1.0) -> float:
        """Bits per second that arrived over the last ``span`` seconds."""
        return 8 * sum(d[_NBYTES] for d in self._deliveries if now - d[_ARRIVED] <= span) / span

    def loss(self, now: float) -> float:
        loss = self.loss_fraction
        return loss if loss is not None and now - self._loss_at < 3.0 else 0.0

    # -- internals -----------------------------------------------------------------------

    def _own_capacity(self, now: float) -> float | None:
        """The capacity from delivery times alone (see the module docstring), from the
        queued units and the running sums: every delivery kept is the window's."""
        queued = self._queued
        # Queued units stand for the path only while it keeps filling: when the last of
        # them is a second old, the bottleneck has lifted (or the rung dropped well below
        # it) and the fit over all units says more.
        fresh = bool(queued) and now - queued[-1][_ARRIVED] <= _QUEUED_FRESH_S
        if len(queued) >= _MIN_QUEUED and fresh:
            # Units that waited for the one before them left a full path: no burst allowance
            # helped them, so their bytes over their busy time is the path's rate.
            busy = max(self.min_busy_s * len(queued), sum(d[_BUSY] for d in queued))
            return 8 * sum(d[_NBYTES] for d in queued) / busy
        recent = self._deliveries
        if queued and not fresh:
            # What arrived since the path last filled says more than what came before.
            # Only where they include a unit as large as any before (a keyframe): small
            # units alone pass within a bottleneck's burst allowance and read high.
            last = queued[-1][_ARRIVED]
            since = [d for d in recent if d[_ARRIVED] > last]
            largest = max(d[_NBYTES] for d in recent)
            if len(since) >= _MIN_FIT and max(d[_NBYTES] for d in since) >= 0.5 * largest:
                return _fit_capacity(since, self.min_busy_s)
        if not recent:
            return None
        sums = self._sums
        sums.catch_up(recent, self._delivered, self._trimmed)
        if sums.exotic:  # a unit the sums cannot hold exactly: one by one
            return _fit_capacity(list(recent), self.min_busy_s)
        return sums.fit(self.min_busy_s)

    def _own_capacity_scan(self, now: float) -> float | None:
        """_own_capacity read from the deliveries one by one, where those kept are not
        all the window's (a queue window longer than it)."""
        if self.queue_window_s <= self.window_s:  # _trim kept only the window's
            recent = list(self._deliveries)
        else:
            recent = [d for d in self._deliveries if now - d[_ARRIVED] <= self.window_s]
        queued = [d for d in recent if d[_QUEUED]]
        fresh = bool(queued) and now - queued[-1][_ARRIVED] <= _QUEUED_FRESH_S
        if len(queued) >= _MIN_QUEUED and fresh:
            busy = max(self.min_busy_s * len(queued), sum(d[_BUSY] for d in queued))
            return 8 * sum(d[_NBYTES] for d in queued) / busy
        if queued and not fresh:
            since = [d for d in recent if d[_ARRIVED] > queued[-1][_ARRIVED]]
            largest = max(d[_NBYTES] for d in recent)
            if len(since) >= _MIN_FIT and max(d[_NBYTES] for d in since) >= 0.5 * largest:
                recent = since
        return _fit_capacity(recent, self.min_busy_s) if recent else None

    def _trim(self, now: float) -> None:
        keep = max(self.window_s, self.queue_window_s)
        d = self._deliveries
        trimmed = self._trimmed
        while d and now - d[0][_ARRIVED] > keep:
            gone = d.popleft()
            trimmed.append(gone)  # for the sums to take out when next asked
            if d and not gone[_ARRIVED] <= d[0][_ARRIVED]:
                self._arrival_descents -= 1
            if gone[_QUEUED]:
                self._queued.popleft()
        if len(trimmed) > _MAX_TRIMMED:  # the fit was not asked for a while
            trimmed.clear()
            self._sums.lost = True


def _note_max(window: deque[tuple[float, float]], now: float, value: float, span: float) -> None:
    """Add ``value`` to a monotonic (decreasing) deque; its head is the largest of ``span``."""
    while window and window[-1][1] <= value:
        window.pop()
    window.append((now, value))
    while window[0][0] < now - span:
        window.popleft()


def _note_min(window: deque[tuple[float, float]], now: float, value: float, span: float) -> float:
    """Add ``value`` to a monotonic deque; returns the least value of the last ``span``."""
    while window and window[-1][1] >= value:
        window.pop()
    window.append((now, value))
    while window[0][0] < now - span:
        window.popleft()
    return window[0][1]


_MIN_QUEUED = 3
_MIN_QUEUE_SAMPLES = 3  # a standing queue is read from at least this many units
_MIN_FIT = 10
# A unit whose arrival took at most this share of its send spread (+ the seconds below)
# kept pace with the pacer; one far smaller than a bottleneck's burst allowance says
# nothing of the path, so only units at least this long count towards its lower bound.
PACED_SLACK, PACED_SLACK_S = 1.15, 0.002
MIN_PACED_BYTES, MIN_PACED_SPREAD_S = 10_000, 0.01
_MIN_PATH_RATES = 3
# TCP's least round trip must be at least this share of the viewer's least send -> ack
# delay (which adds the viewer's receive and draw time) for its rates to be the viewer's.
PATH_RTT_SHARE = 0.5
_QUEUED_FRESH_S = 1.0
_SENT_SPAN_S = 10.0
REMB_BACKOFF = 0.85  # Chromium's AIMD decrease: REMB = this x the incoming rate
REMB_OVERUSE = 0.8  # a REMB below this share of the sent rate says the path is overused
REMB_FALL, REMB_PEAK_SPAN_S = 0.9, 3.0  # ...where it fell below this share of its recent peak
# Sizes must spread at least this much (largest / smallest) for a slope to mean anything.
_MIN_SIZE_SPREAD = 2.0
_MAX_BPS = 10e9


def _spread_enough(sizes: list[float] | list[int]) -> bool:
    return max(sizes) >= _MIN_SIZE_SPREAD * max(1.0, min(sizes))


def _fit_capacity(recent: list[_Delivery], min_busy_s: float) -> float:
    """Bits per second: 8 / slope of busy seconds against bytes (least squares), or
    total bytes over total busy time when the sizes are too alike."""
    n = len(recent)
    xs = [float(d[_NBYTES]) for d in recent]
    ys = [d[_BUSY] for d in recent]
    total = 8 * sum(xs) / max(min_busy_s * n, sum(ys))
    if n < 4 or not _spread_enough(xs):
        return min(_MAX_BPS, total)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    if sxy <= 0:  # busy time does not grow with size: nothing on the way limits it
        return _MAX_BPS
    return min(_MAX_BPS, 8 * sxx / sxy)


_SECOND = itemgetter(1)
# The fit's sums count busy times in units of 2**-_SCALE_BITS s, exactly: a difference of
# two clock readings (seconds) is a multiple of 2**-52 x the larger, far coarser.
_SCALE_BITS = 96
_SCALE = float(2**_SCALE_BITS)
# Deliveries trimmed off and not yet taken out of the fit's sums; beyond this many, the
# sums start afresh when next asked.
_MAX_TRIMMED = 256
_MAX_BUSY_S = 2.0**64  # longer busy times are exotic (their sums would not fit a float)
_MAX_BPS_INT = int(_MAX_BPS)


def _first_within(window: deque[_Delivery] | deque[tuple[float, int, int]]
                  | deque[tuple[float, float]], end: float, span: float) -> int:  # fmt: skip
    """The index of the first entry with ``end - time <= span`` (times ascend): as a
    scan would decide, in float arithmetic, found by bisection on the times."""
    i = bisect.bisect_left(window, (end - span,))  # the first at or after end - span...
    # ...which rounding can put an entry or so away from where the test above changes.
    while i > 0 and end - window[i - 1][0] <= span:
        i -= 1
    n = len(window)
    while i < n and not end - window[i][0] <= span:
        i += 1
    return i


def _exact_busy(nbytes: int, busy: float) -> int | None:
    """A unit's busy time in units of 2**-_SCALE_BITS s, exactly; None for an exotic unit
    (a busy time finer than that, or not finite; a size that is not an int)."""
    scaled = busy * _SCALE  # exact: a power of two
    if type(nbytes) is not int or not 0.0 <= busy < _MAX_BUSY_S or (y := int(scaled)) != scaled:
        return None
    return y


class _WindowSums:
    """What the capacity fit needs of the deliveries kept: their count and the sums of
    sizes x, busy times y, x*x and x*y, and the least and largest size (monotonic deques).
    They catch up when asked (catch_up): the units delivered since come in, those trimmed
    off since go out. Each unit costs a few additions twice, not a pass over the whole
    window every adaptation round.

    Exact, so that a unit trimmed off takes back exactly what it added (no drift over
    hours of deliveries): sizes are ints, and each busy time an integer in units of
    2**-_SCALE_BITS seconds. A unit whose busy time is finer (or not finite) or whose size
    is not an int is "exotic": while one is in, the fit is read one unit at a time.
    The fit is computed exactly and rounded once; the straightforward float sums
    (_fit_capacity) differ from it by their own rounding only."""

    __slots__ = ("_maxs", "_mins", "added", "exotic", "lost", "n", "removed", "sx", "sxx",
                 "sxy", "sy")  # fmt: skip

    def __init__(self) -> None:
        self.added = self.removed = 0  # units taken in, taken out (their indices: in order)
        self.lost = False  # units were trimmed off unrecorded: start afresh
        self._reset()

    def _reset(self) -> None:
        self.n = self.sx = self.sxx = self.sy = self.sxy = 0
        self._mins: deque[tuple[int, int]] = deque()  # (index, size), sizes ascending
        self._maxs: deque[tuple[int, int]] = deque()  # (index, size), sizes descending
        self.exotic = 0  # exotic units in

    def catch_up(self, kept: deque[_Delivery], delivered: int, trimmed: list[_Delivery]) -> None:
        """Take in the units delivered since (the last of ``kept``; ``delivered`` ever
        kept), then take out ``trimmed`` (off its front since), and empty it."""
        new = delivered - self.added
        if new > len(kept) or self.lost:  # some came and went unseen: afresh, from kept
            self._reset()
            self.lost = False
            self.added = self.removed = delivered - len(kept)
            new = len(kept)
            trimmed.clear()
        if new:
            self._take_in(islice(kept, len(kept) - new, None))
        if trimmed:
            self._take_out(trimmed)
            trimmed.clear()

    def _take_in(self, units: Iterable[_Delivery]) -> None:
        n, sx, sxx, sy, sxy = self.n, self.sx, self.sxx, self.sy, self.sxy
        mins, maxs = self._mins, self._maxs
        index = self.added
        for _, _, x, busy, _ in units:
            index += 1
            if (y := _exact_busy(x, busy)) is None:
                self.exotic += 1
                continue
            n += 1
            sx += x
            sxx += x * x
            sy += y
            sxy += x * y
            while mins and mins[-1][1] >= x:
                mins.pop()
            mins.append((index, x))
            while maxs and maxs[-1][1] <= x:
                maxs.pop()
            maxs.append((index, x))
        self.n, self.sx, self.sxx, self.sy, self.sxy = n, sx, sxx, sy, sxy
        self.added = index

    def _take_out(self, units: list[_Delivery]) -> None:
        n, sx, sxx, sy, sxy = self.n, self.sx, self.sxx, self.sy, self.sxy
        mins, maxs = self._mins, self._maxs
        index = self.removed
        for _, _, x, busy, _ in units:
            index += 1
            if (y := _exact_busy(x, busy)) is None:
                self.exotic -= 1
                continue
            n -= 1
            sx -= x
            sxx -= x * x
            sy -= y
            sxy -= x * y
            if mins[0][0] == index:
                mins.popleft()
            if maxs[0][0] == index:
                maxs.popleft()
        self.n, self.sx, self.sxx, self.sy, self.sxy = n, sx, sxx, sy, sxy
        self.removed = index

    def fit(self, min_busy_s: float) -> float:
        """_fit_capacity over the units in (at least one, none exotic), computed exactly."""
        n, sx, sxx, sy, sxy = self.n, self.sx, self.sxx, self.sy, self.sxy
        total = 8 * float(sx) / max(min_busy_s * n, sy / _SCALE)
        largest, least = self._maxs[0][1], self._mins[0][1]
        if n < 4 or not largest >= _MIN_SIZE_SPREAD * max(1.0, least):
            return min(_MAX_BPS, total)
        # n x the sums of products about the means (the y ones in 2**-_SCALE_BITS s)
        cov = n * sxy - sx * sy
        if cov <= 0:  # busy time does not grow with size: nothing on the way limits it
            return _MAX_BPS
        var = (8 * (n * sxx - sx * sx)) << _SCALE_BITS
        if var >= _MAX_BPS_INT * cov:
            return _MAX_BPS
        return var / cov
