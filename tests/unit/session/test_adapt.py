"""The rung policy (rfb/session/adapt.py) on a simulated path and a fake clock: a viewer
whose path slows moves down and settles, climbs back when it recovers, each rung times its
own hold, a rung that fits is kept, and the policy waits for samples unless congested."""

from __future__ import annotations

from rfb.encoders.base import EncoderSettings
from rfb.session import ladder as ladders
from rfb.session.adapt import AdaptConfig, RungPolicy
from rfb.session.estimate import BandwidthEstimator

from support.simulated_path import Path, Stream

W, H = 1280, 720
TOP = EncoderSettings(fps=30, bitrate=0)  # 0: from size and fps, as serve() does


class Adapting:
    """A viewer on the ladder: its stream follows the policy's rung, every 0.2 s."""

    def __init__(self, capacity: float, **config: float) -> None:
        self.ladder = ladders.video_ladder(TOP, W, H)
        self.costs = [float(self.ladder.bitrate(i, W, H)) for i in range(len(self.ladder))]
        self.policy = RungPolicy(len(self.costs), AdaptConfig(**config))
        self.stream = Stream(Path(capacity))
        self.rungs: list[tuple[float, int]] = []

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / 0.2)):
            self.stream.run(0.2, self.costs[self.policy.rung])
            self.policy.decide(self.stream.est, self.costs, self.stream.now)
            self.rungs.append((self.stream.now, self.policy.rung))

    def rung_at(self, t: float) -> int:
        return next(r for at, r in self.rungs if at >= t)


def test_viewer_whose_path_slows_moves_down_and_settles() -> None:
    a = Adapting(20e6)
    a.run(4)
    assert a.policy.rung == 0  # an ample path keeps the top rung
    a.stream.path.rate_bps = 1e6
    a.run(8)
    settled = {r for at, r in a.rungs if at > a.stream.now - 3}
    assert all(a.costs[r] <= 1e6 for r in settled), settled
    assert max(settled) - min(settled) <= 1  # no flapping across the ladder
    q = a.stream.est.queue_delay(a.stream.now)
    assert q is not None and q < 0.1  # the queue drained


def test_viewer_whose_path_recovers_climbs_back_to_the_top() -> None:
    a = Adapting(1e6)
    a.run(8)
    assert a.costs[a.policy.rung] <= 1e6
    lifted = a.stream.now
    a.stream.path.rate_bps = 20e6
    a.run(6)
    assert a.policy.rung == 0
    back = next(at for at, r in a.rungs if at > lifted and r == 0)
    assert back - lifted < 5  # the target, on the simulated path


class Reading:
    """An estimator that says what a test sets: a clean path of ``capacity``."""

    def __init__(self) -> None:
        self.capacity = 1.5e6
        self.samples = 100

    def capacity_bps(self, now: float) -> float:
        return self.capacity

    def queue_delay(self, now: float) -> float:
        return 0.0

    def stalled_s(self) -> float:
        return 0.0

    def standing_backlog(self) -> int:
        return 0

    def loss(self, now: float) -> float:
        return 0.0

    def delivered_bps(self, now: float) -> float:
        return self.capacity

    def sent_bps(self, now: float) -> float:
        return 0.0

    def inflight_bytes(self) -> int:
        return 0


def test_each_higher_rung_times_its_own_hold() -> None:
    # A path opening up steadily: the rung above starts to fit first, the top a little
    # later, while the climb to the first is still held. The top's hold ran meanwhile,
    # so it is reached one hold after it first fitted, not one hold after the first climb.
    costs = [2.8e6, 1.96e6, 1.37e6, 0.96e6]
    policy, est = RungPolicy(4, start=2), Reading()
    now, top_fits_at, climbs = 0.0, None, []
    while now < 8 and policy.rung:
        est.capacity = min(8e6, 1.5e6 + 2e6 * max(0.0, now - 3))
        before = policy.rung
        d = policy.decide(est, costs, now)  # type: ignore[arg-type]
        # (as the policy sees it: the median of its last second of readings)
        if top_fits_at is None and d.capacity_bps and costs[0] <= 0.8 * d.capacity_bps:
            top_fits_at = now
        if policy.rung != before:
            climbs.append((round(now, 1), policy.rung))
        now += 0.2
    assert [r for _, r in climbs] == [1, 0]
    assert top_fits_at is not None and climbs[-1][0] - top_fits_at <= policy.config.up_hold_s + 0.2


def test_a_rung_that_fits_is_kept_on_a_steady_path() -> None:
    a = Adapting(2e6)
    a.run(15)
    late = [r for at, r in a.rungs if at > 5]
    assert len(set(late)) <= 2 and all(a.costs[r] <= 2e6 for r in late)
    assert a.policy.switches <= 6


def test_policy_waits_for_samples_unless_congested() -> None:
    est = BandwidthEstimator()
    policy = RungPolicy(4)
    costs = [4e6, 2e6, 1e6, 5e5]
    assert policy.decide(est, costs, 0.0).reason == "measuring"
    est.on_outstanding(3.0, 0.0)  # nothing confirmed for 3 s: a queue, estimate or not
    est.on_delivery(0.0, 0.05, 1000)  # one early sample gives a base delay
    d = policy.decide(est, costs, 3.0)
    assert d.rung == 1 and d.congested
