"""Which rung of the ladder one viewer should be on. Sans I/O: ``decide`` takes ``now``.

* **Down** as soon as the path is congested (a queue builds: a standing queueing delay
  over ``queue_high_s``, a local backlog as long, nothing confirmed for ``stall_s``, or
  heavy loss) or the current rung needs more
  than the path carries. The new rung is the highest that fits ``headroom`` x capacity,
  and at least one below. Another step down waits ``down_hold_s``, and, while the rung
  fits the capacity, for the bytes in flight to stop falling (the last rung's queue
  drains; the delay of what arrives lags behind by the queue's own length).
* **Up** when a higher rung has fitted ``headroom`` x capacity for ``up_hold_s`` without
  congestion; straight to the highest rung that fitted all through its hold (each rung
  times its own, so the next climb's hold is under way before the last one comes). A climb
  followed by a fall within ``failed_climb_s`` doubles the hold (up to
  ``max_up_hold_s``), so a path at the edge of a rung does not flap; it is reset
  after ``stable_s`` without a failed climb, and does not apply to a rung that needs at
  most ``clear`` x capacity (a bottleneck that lifted: climb at once).

Costs are bits per second per rung, top first (the hub computes them: the video rungs'
target bitrates, the image rungs' measured sizes). A lower index is a higher rung.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from operator import itemgetter

from .estimate import BandwidthEstimator

_SECOND = itemgetter(1)


@dataclass(frozen=True, slots=True)
class AdaptConfig:
    headroom: float = 0.8  # a rung fits when its cost is at most this share of capacity
    clear: float = 0.5  # ... and fits clearly at this share: no backed-off hold
    over: float = 1.0  # the current rung is over the path when its cost passes capacity x this
    over_hold_s: float = 0.6  # ... for this long, with a standing queue of at least
    over_queue_s: float = 0.015
    climb_after_s: float = 2.0  # no climb before this long of estimates (the first are few)
    smooth_s: float = 1.0  # capacity is the median of the readings of this last span
    queue_high_s: float = 0.06
    stall_s: float = 0.5  # nothing confirmed for this long beyond the base delay: congested
    loss_high: float = 0.15  # receiver-report loss that counts as congestion
    down_hold_s: float = 1.0
    up_hold_s: float = 1.0
    max_up_hold_s: float = 8.0
    failed_climb_s: float = 4.0
    stable_s: float = 15.0
    min_samples: int = 5


@dataclass(frozen=True, slots=True)
class Decision:
    rung: int
    capacity_bps: float | None
    queue_delay_s: float | None
    congested: bool
    reason: str


class RungPolicy:
    def __init__(self, rungs: int, config: AdaptConfig | None = None, start: int = 0) -> None:
        self.config = config or AdaptConfig()
        self.rungs = rungs
        self.rung = min(max(0, start), rungs - 1)
        self.up_hold_s = self.config.up_hold_s
        self._fits_since: dict[int, float] = {}  # higher rung -> fitting without a break since
        self._last_down: float | None = None
        self._inflight_at_down = 0
        self._over_since: float | None = None
        self._first_at: float | None = None
        self._readings: deque[tuple[float, float]] = deque()
        self._last_up: float | None = None
        self._last_failed_climb: float | None = None
        self.switches = 0
        self.last: Decision | None = None

    def congested(self, est: BandwidthEstimator, now: float, cost: float) -> bool:
        return self._congested(est, now, cost, est.queue_delay(now))

    def _congested(self, est: BandwidthEstimator, now: float, cost: float, q: float | None) -> bool:
        """congested(), given the estimate's queue_delay(now)."""
        c = self.config
        if q is not None and q > c.queue_high_s:
            return True
        if est.stalled_s() > c.stall_s:
            return True
        if cost > 0 and 8 * est.standing_backlog() / cost > c.queue_high_s:
            return True
        return est.loss(now) > c.loss_high

    def decide(
        self, est: BandwidthEstimator, costs: list[float], now: float, resting: bool = False
    ) -> Decision:
        """The rung this viewer should be on now; ``self.rung`` follows it.

        ``resting``: the scene is at rest (nothing new published for a while). The rung is
        held: no video flows to be adapted, and the one large still that does (an exact
        picture, a near-lossless IDR) sits in the socket and crosses the path for a while
        by its size alone, which reads like a queue; a move would only cost a keyframe."""
        c = self.config
        self.rungs = len(costs)
        self.rung = min(self.rung, self.rungs - 1)
        cur = self.rung
        capacity = self._smoothed(est.capacity_bps(now), now)
        queue = est.queue_delay(now)  # once: it reads a window of deliveries
        congested = self._congested(est, now, costs[cur], queue)
        if resting:
            self._over_since = None
            self._fits_since.clear()
            return self._keep(capacity, queue, congested, "at rest")
        measuring = capacity is None or est.samples < c.min_samples
        if measuring and not congested:
            return self._keep(capacity, queue, congested, "measuring")
        if congested and capacity is not None:
            # A queue is building, so what arrives is all the path carries; the packet-train
            # estimate may still hold samples from before the path slowed.
            delivered = est.delivered_bps(now)
            if delivered > 0:
                capacity = min(capacity, delivered)
        if capacity is None:  # congested before any delivery came back: one step down
            fit = cur + 1
            over = False
        else:
            fit = next((i for i, cost in enumerate(costs) if cost <= c.headroom * capacity),
                       self.rungs - 1)  # fmt: skip
            sent = est.sent_bps(now)
            # A rung sending far less than its rate (a static or simple scene: units too
            # small to measure a path they do not fill) is judged by what it sends; one
            # slowed by flow control (fewer frames) still by its rate.
            rate = sent if 0 < sent < 0.5 * costs[cur] else costs[cur]
            over_now = rate > c.over * capacity
            # One low reading is not a slow path (a resent packet, a noisy estimate): over
            # capacity must last over_hold_s; a path that really is slower builds a queue,
            # which counts at once.
            if not over_now:
                self._over_since = None
            elif self._over_since is None:
                self._over_since = now
            # ...and show at least the start of a queue: a capacity reading alone, with
            # nothing waiting anywhere, is the estimate's noise (resent packets).
            lasted = self._over_since is not None and now - self._over_since >= c.over_hold_s
            waiting = (queue or 0.0) >= c.over_queue_s or est.standing_backlog() > 0
            over = lasted and waiting
        if (congested or over) and cur < self.rungs - 1:
            self._fits_since.clear()
            if self._last_down is not None and now - self._last_down < c.down_hold_s:
                return self._keep(capacity, queue, congested, "draining")
            fits = capacity is not None and costs[cur] <= c.headroom * capacity
            if fits and not over and est.inflight_bytes() < self._inflight_at_down:
                # The queue the last rung built is going down at a rung that fits: wait
                # for it rather than stepping further down the ladder.
                return self._keep(capacity, queue, congested, "draining")
            target = max(fit, cur + 1)
            if self._last_up is not None and now - self._last_up < c.failed_climb_s:
                self._last_failed_climb = now
                self.up_hold_s = min(c.max_up_hold_s, 2 * self.up_hold_s)
            self._last_down = now
            self._inflight_at_down = est.inflight_bytes()
            return self._move(target, capacity, queue, congested,
                              "congested" if congested else "over capacity")  # fmt: skip
        if self._last_failed_climb is not None and now - self._last_failed_climb > c.stable_s:
            self.up_hold_s = c.up_hold_s
            self._last_failed_climb = None
        if self._first_at is None:
            self._first_at = now
        settled = now - self._first_at >= c.climb_after_s
        if fit < cur and not congested and capacity is not None and settled:
            # Every higher rung keeps its own timer, so one that starts fitting during the
            # hold for the rung below it has its own hold under way when that climb comes.
            # A rung climbs only once it has fitted all through its hold: one high reading
            # of a noisy estimate is not a path.
            for i in range(cur):
                if i >= fit:
                    self._fits_since.setdefault(i, now)
                else:
                    self._fits_since.pop(i, None)
            ready = [i for i in range(fit, cur) if now - self._fits_since[i] >= (
                c.up_hold_s if costs[i] <= c.clear * capacity else self.up_hold_s)]  # fmt: skip
            if ready:
                self._last_up = now
                return self._move(min(ready), capacity, queue, congested, "path allows more")
            return self._keep(capacity, queue, congested, "holding before a climb")
        self._fits_since.clear()
        return self._keep(capacity, queue, congested, "steady")

    def _smoothed(self, reading: float | None, now: float) -> float | None:
        """The median of the last smooth_s of capacity readings: the packet-train
        estimate swings both ways on one resent packet or one late report."""
        if reading is None:
            return None
        r = self._readings
        r.append((now, reading))
        while r and now - r[0][0] > self.config.smooth_s:
            r.popleft()
        values = sorted(map(_SECOND, r))
        return values[len(values) // 2]

    def _keep(self, capacity: float | None, queue: float | None, congested: bool,
              reason: str) -> Decision:  # fmt: skip
        self.last = Decision(self.rung, capacity, queue, congested, reason)
        return self.last

    def _move(self, rung: int, capacity: float | None, queue: float | None, congested: bool,
              reason: str) -> Decision:  # fmt: skip
        if rung != self.rung:
            self.switches += 1
            self.rung = rung
        return self._keep(capacity, queue, congested, reason)
