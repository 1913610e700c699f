"""Adaptation without sockets, on a fake clock: the ladder, the path estimate, the rung
policy, the pacer and rung switches at keyframes."""

from __future__ import annotations

import numpy as np
import pytest

from rfb.encoders.base import EncoderSettings, Picture
from rfb.frames import Frame
from rfb.rtp.pacer import Pacer
from rfb.session import EncoderGroup, GroupKey, Viewer
from rfb.session import ladder as ladders
from rfb.session.adapt import AdaptConfig, RungPolicy
from rfb.session.estimate import BandwidthEstimator

H264 = "webcodecs/h264-annexb"
W, H = 1280, 720
TOP = EncoderSettings(fps=30, bitrate=0)  # 0: from size and fps, as serve() does


# -- the ladder ---------------------------------------------------------------------------


def test_video_ladder_steps_down_bitrate_then_size_then_frame_rate() -> None:
    lad = ladders.video_ladder(TOP, W, H)
    rates = [lad.bitrate(i, W, H) for i in range(len(lad))]
    sizes = [lad.coded_size(i, W, H) for i in range(len(lad))]
    fps = [r.fps for r in lad.rungs]
    assert len(lad) == ladders.DEFAULT_MAX_RUNGS
    assert rates == sorted(rates, reverse=True) and len(set(rates)) == len(rates)
    assert rates[0] == ladders.target_bitrate(TOP, W, H)  # the ceiling is the configured rate
    assert rates[-1] >= ladders.DEFAULT_MIN_BITRATE
    assert sizes[0] == (W, H) and sizes[-1] == (640, 360)
    assert [w for w, _ in sizes] == sorted((w for w, _ in sizes), reverse=True)
    assert all(w % 2 == 0 and h % 2 == 0 for w, h in sizes)  # H.264 wants even sides
    assert fps[0] == 30 and fps[-1] == 15 and fps == sorted(fps, reverse=True)
    # A ladder follows the stream when it is resized: rates scale with the pixels.
    assert lad.bitrate(0, 640, 360) < rates[0] / 3


def test_ladder_options() -> None:
    assert len(ladders.video_ladder(TOP, W, H, max_rungs=3)) == 3
    lad = ladders.video_ladder(TOP, W, H, min_bitrate=1_000_000)
    assert min(lad.bitrate(i, W, H) for i in range(len(lad))) >= 1_000_000
    png = ladders.image_ladder(TOP, lossless=True, max_rungs=8)
    assert {r.quality for r in png.rungs} == {TOP.quality}  # PNG: only the size steps
    assert [r.scale for r in png.rungs] == [1.0, 0.75, 0.5]
    jpeg = ladders.image_ladder(TOP, lossless=False, max_rungs=8)
    costs = [jpeg.relative_cost(i) for i in range(len(jpeg))]
    assert costs[0] == 1.0 and costs == sorted(costs, reverse=True)
    assert len(ladders.single(TOP, True)) == 1


# -- a simulated path -----------------------------------------------------------------------


class Path:
    """A FIFO bottleneck of ``rate_bps`` with a fixed one-way delay; units in, arrival
    times out. The viewer reports each arrival on its own clock (offset by 1000 s)."""

    def __init__(self, rate_bps: float, delay_s: float = 0.02) -> None:
        self.rate_bps = rate_bps
        self.delay_s = delay_s
        self._free_at = 0.0

    def send(self, now: float, nbytes: int) -> float:
        start = max(now, self._free_at)
        self._free_at = start + 8 * nbytes / self.rate_bps
        return self._free_at + self.delay_s


class Stream:
    """Frames at 30 fps of a rung's size (an IDR five times a delta every 2 s) through a
    Path into an estimator, acks arriving one way-delay after the frame."""

    def __init__(self, path: Path, est: BandwidthEstimator | None = None) -> None:
        self.path = path
        self.est = est or BandwidthEstimator()
        self.now = 0.0
        self.frame = 0
        self.pending: list[tuple[float, float, float, int]] = []  # (ack_at, sent, arrived, n)

    def run(self, seconds: float, bitrate: float) -> None:
        end = self.now + seconds
        while self.now < end:
            idr = self.frame % 60 == 0
            delta = bitrate / 8 / 30 / (1 + 4 / 60)  # mean rate stays at ``bitrate``
            nbytes = int(delta * (5 if idr else 1))
            arrived = self.path.send(self.now, nbytes)
            self.est.on_sent(self.now, nbytes)
            self.pending.append((arrived + self.path.delay_s, self.now, arrived, nbytes))
            self.frame += 1
            self.now += 1 / 30
            for p in [p for p in self.pending if p[0] <= self.now]:
                self.pending.remove(p)
                ack_at, sent, arrived_at, n = p
                self.est.on_delivery(sent, ack_at, n, received_at=arrived_at + 1000.0)
            oldest = min((p[1] for p in self.pending), default=None)
            self.est.on_outstanding(self.now, oldest)


@pytest.mark.parametrize("capacity", [1e6, 2e6, 5e6])
def test_estimate_finds_a_bottleneck_the_stream_fills(capacity: float) -> None:
    s = Stream(Path(capacity))
    s.run(6, 0.7 * capacity)  # below capacity: only the keyframes queue
    est = s.est.capacity_bps(s.now)
    assert est is not None and 0.75 * capacity <= est <= 1.3 * capacity
    q = s.est.queue_delay(s.now)
    assert q is not None and q < 0.06  # nothing builds up


def test_estimate_sees_a_path_far_above_the_stream_as_ample() -> None:
    s = Stream(Path(50e6))
    s.run(6, 2e6)
    est = s.est.capacity_bps(s.now)
    assert est is not None and est > 8e6  # enough to climb a ladder whose top is 2.8M


def test_queue_builds_when_sending_more_than_the_path_carries() -> None:
    s = Stream(Path(1e6))
    s.run(3, 2e6)
    q = s.est.queue_delay(s.now)
    assert q is not None and q > 0.3


def test_viewer_clock_offset_does_not_matter() -> None:
    a, b = Stream(Path(2e6)), Stream(Path(2e6))
    a.run(4, 1.4e6)
    # the same path with arrival times reported on our clock
    for _ in range(120):
        idr = b.frame % 60 == 0
        n = int(1.4e6 / 8 / 30 / (1 + 4 / 60) * (5 if idr else 1))
        arrived = b.path.send(b.now, n)
        b.est.on_delivery(b.now, arrived + 0.02, n, received_at=arrived)
        b.frame += 1
        b.now += 1 / 30
    ca, cb = a.est.capacity_bps(a.now), b.est.capacity_bps(b.now)
    assert ca is not None and cb is not None and abs(ca - cb) / cb < 0.2


def test_remb_caps_the_estimate_only_when_it_says_the_path_is_overused() -> None:
    s = Stream(Path(50e6))
    s.run(3, 2e6)
    free = s.est.capacity_bps(s.now)
    s.est.on_remb(s.now, 2.5e6)  # about what Chromium says of a path it is not filling
    assert s.est.capacity_bps(s.now) == free
    s.est.on_remb(s.now, 1.2e6)  # below what we send: overuse
    assert s.est.capacity_bps(s.now) == pytest.approx(1.2e6 / 0.85)  # what arrived


def paced(est: BandwidthEstimator, path: Path, pace_bps: float, seconds: float) -> float:
    """Frames at 30 fps (a 25 kB keyframe each second, 5 kB deltas) leaving through a
    pacer at ``pace_bps`` into ``path``, reported with their send spreads, as WebRTC does."""
    now = free = 0.0
    for f in range(int(30 * seconds)):
        n = 25_000 if f % 30 == 0 else 5_000
        sent = max(now, free)  # it waits in the pacer behind the one before
        spread = 8 * n / pace_bps
        free = sent + spread
        arrived = max(path.send(sent, n), sent + spread + path.delay_s)
        est.on_sent(sent, n)
        est.on_delivery(sent, arrived + 0.02, n, received_at=arrived + 1000.0, send_spread=spread)
        now += 1 / 30
    return free + 0.05


def test_units_that_kept_pace_with_the_pacer_bound_the_path_from_below() -> None:
    # A path far faster than the pacer: every arrival reads the pacer's rate, which is
    # then a lower bound (the hub probes above it), and no wait behind a keyframe in
    # the pacer is taken for a queue on the path.
    est = BandwidthEstimator()
    now = paced(est, Path(50e6), 4e6, 4)
    bound = est.paced_rate_bps(now)
    assert bound == pytest.approx(4e6)
    cap = est.capacity_bps(now)
    assert cap is not None and cap >= 0.95 * 4e6
    assert (est.queue_delay(now) or 0.0) < 0.01
    # A path slower than the pacer slows the keyframes: no bound, the path's own rate.
    slow = BandwidthEstimator()
    now = paced(slow, Path(2e6), 4e6, 4)
    assert slow.paced_rate_bps(now) is None
    cap = slow.capacity_bps(now)
    assert cap is not None and 0.75 * 2e6 <= cap <= 1.3 * 2e6


def test_remb_that_lags_a_climb_is_not_overuse() -> None:
    s = Stream(Path(50e6))
    s.run(3, 1.4e6)
    s.est.on_remb(s.now, 2.0e6)  # about 1.5x what arrives
    s.run(1.5, 2.8e6)  # a climb: REMB follows some 8 % a second behind
    free = s.est.capacity_bps(s.now)
    for remb in (2.05e6, 2.1e6, 2.2e6):  # below what is sent now, and rising
        s.est.on_remb(s.now, remb)
        assert s.est.capacity_bps(s.now) == free
    s.est.on_remb(s.now, 1.2e6)  # it fell: the browser saw the path overused
    assert s.est.capacity_bps(s.now) == pytest.approx(1.2e6 / 0.85)


def test_pacing_probes_above_the_estimate_only_below_the_top_rung() -> None:
    from rfb.rtp.pacer import pacing_rate

    # At the top rung: a little over the estimate, within 1.5x..3x the rung's rate.
    assert pacing_rate(2.8e6, 10e6) == pytest.approx(3 * 2.8e6)
    assert pacing_rate(2.8e6, 3e6) == pytest.approx(1.5 * 2.8e6)
    # Below it: up to twice the estimate, no faster than the top rung needs to fit clearly.
    assert pacing_rate(1.37e6, 1.85e6) == pytest.approx(1.2 * 1.85e6)
    assert pacing_rate(1.37e6, 1.85e6, probe_for_bps=2.8e6) == pytest.approx(2 * 1.85e6)
    assert pacing_rate(1.37e6, 2.5e6, probe_for_bps=2.8e6) == pytest.approx(3 * 1.37e6)
    assert pacing_rate(1e6, 1.5e6, probe_for_bps=1.2e6) == pytest.approx(2.4e6)


def test_a_keyframe_passing_through_the_backlog_is_not_a_standing_queue() -> None:
    est = BandwidthEstimator()
    est.on_backlog(0.0, 0)
    est.on_backlog(0.2, 60_000)  # an IDR in the socket buffer
    est.on_backlog(0.4, 0)
    assert est.standing_backlog() == 0
    for t in (0.6, 0.8, 1.0, 1.2):
        est.on_backlog(t, 40_000)
    assert est.standing_backlog() == 40_000


# -- the policy ---------------------------------------------------------------------------


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


# -- the pacer ----------------------------------------------------------------------------


def test_pacer_lets_a_burst_go_then_spaces_packets_at_the_rate() -> None:
    p = Pacer(1e6, burst_s=0.01, min_burst_bytes=0)
    delays = [p.reserve(1250, 0.0) for _ in range(5)]  # 10 ms each at 1 Mbit/s
    assert delays[:2] == [0.0, 0.0]
    assert delays[2:] == pytest.approx([0.01, 0.02, 0.03])
    assert p.queued_s(0.0) == pytest.approx(0.04)
    # idle for a while: the next packet goes at once
    assert p.reserve(1250, 1.0) == 0.0


def test_pacer_retransmissions_delay_what_follows_and_rate_changes_keep_the_queue() -> None:
    p = Pacer(1e6, burst_s=0.0, min_burst_bytes=0)
    p.charge(12_500, 0.0)  # 100 ms of RTX
    assert p.reserve(1250, 0.0) == pytest.approx(0.1)
    p.set_rate(2e6, 0.0)  # 13 750 bytes queued drain twice as fast
    assert p.queued_s(0.0) == pytest.approx(0.055)
    with pytest.raises(ValueError):
        Pacer(0)


# -- switches happen at keyframes -----------------------------------------------------------


def frame(i: int, w: int = 64, h: int = 48) -> Frame:
    return Frame(np.zeros((h, w, 3), np.uint8), i, i * 33_333, i / 30)


def encode(group: EncoderGroup, f: Frame, now: float) -> list[tuple[Viewer, int]]:
    group.publish(f)
    job = group.next_job(now)
    assert job is not None
    unit = group.complete(job, Picture(b"x", job.keyframe, "c", f.width, f.height), now, 1.0)
    assert unit is not None
    return group.deliver(unit, now)


def test_a_candidate_joins_its_new_rung_only_at_a_keyframe() -> None:
    top = EncoderGroup(GroupKey(H264, TOP), is_video=True)
    low = EncoderGroup(GroupKey(H264, ladders.video_ladder(TOP, W, H)[4]), is_video=True,
                       keyframe_min_interval_s=1.0)  # fmt: skip
    v = Viewer("v", H264, is_video=True, max_inflight=8)
    w = Viewer("w", H264, is_video=True, max_inflight=8)
    top.add(v, 0.0)
    low.add(w, 0.0)
    assert [x for x, _ in encode(top, frame(1), 0.0)] == [v]
    assert [x for x, _ in encode(low, frame(1), 0.0)] == [w]  # the low rung's keyframe
    low.add_candidate(v, 0.1)  # v should move down; its keyframe may come at 1.0 s
    for i, t in enumerate((0.2, 0.5, 0.8), start=2):
        assert [x for x, _ in encode(top, frame(i), t)] == [v]  # v stays on the top rung
        got = encode(low, frame(i), t)
        assert low.latest_unit is not None and not low.latest_unit.keyframe
        assert [x for x, _ in got] == [w]  # a delta: the candidate could not decode it
        assert not low.take_joined()
        for viewer in (v, w):
            for seq in list(viewer.inflight):
                viewer.on_ack(seq, t + 0.01)
    got = encode(low, frame(5), 1.1)
    assert low.latest_unit is not None and low.latest_unit.keyframe
    assert {x for x, _ in got} == {v, w}
    assert low.take_joined() == [v] and not low.candidates
    top.remove(v.id)
    assert top.empty  # nobody on the top rung: the hub closes it


def test_tcp_delivery_rates_raise_an_estimate_that_slow_arrival_reports_hold_down() -> None:
    # A viewer whose reported arrival times spread each unit out (a busy browser) makes a
    # 20 Mbit/s path look like 2 Mbit/s; TCP's own samples, from a peer as far as the
    # viewer, say what the network carried.
    s = Stream(Path(2e6, delay_s=0.02))
    s.run(4, 1.4e6)
    slow = s.est.capacity_bps(s.now)
    assert slow is not None and slow < 3e6
    for i in range(5):
        s.est.on_path_rate(s.now, [18e6, 20e6, 22e6, 400e6, 19e6][i], rtt_s=0.04)
    assert s.est.capacity_bps(s.now) == pytest.approx(20e6)  # the median: one outlier is not it
    s.now += 1.5
    assert s.est.capacity_bps(s.now) != pytest.approx(20e6)  # samples age out after a second


def test_tcp_delivery_rates_from_a_proxy_next_to_the_server_are_ignored() -> None:
    # Behind an SSH tunnel or a reverse proxy TCP's peer is a few microseconds away: its
    # rates say nothing of the viewer's path.
    s = Stream(Path(2e6, delay_s=0.02))
    s.run(4, 1.4e6)
    before = s.est.capacity_bps(s.now)
    for _ in range(5):
        s.est.on_path_rate(s.now, 10e9, rtt_s=0.0001)
    assert s.est.capacity_bps(s.now) == before
