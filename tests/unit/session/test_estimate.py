"""The path estimate (rfb/session/estimate.py) on a simulated path: the bottleneck a
stream fills, ample paths, queues, clock offsets, REMB, paced sends, keyframes passing
through the backlog, and TCP's own delivery rates."""

from __future__ import annotations

import pytest

from rfb.session.estimate import BandwidthEstimator

from support.simulated_path import Path, Stream


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


def test_a_keyframe_passing_through_the_backlog_is_not_a_standing_queue() -> None:
    est = BandwidthEstimator()
    est.on_backlog(0.0, 0)
    est.on_backlog(0.2, 60_000)  # an IDR in the socket buffer
    est.on_backlog(0.4, 0)
    assert est.standing_backlog() == 0
    for t in (0.6, 0.8, 1.0, 1.2):
        est.on_backlog(t, 40_000)
    assert est.standing_backlog() == 40_000


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


def test_a_still_alone_after_the_scene_rests_is_not_a_standing_queue() -> None:
    # 10 Mbit/s path, the stream well below it; then the scene rests and one large still
    # (an exact PNG of 97 kB: 78 ms to cross) is the only unit for a second. Its delay is
    # its own size, not a queue: no congestion, so no rung switch (and no IDRs) at rest.
    s = Stream(Path(10e6))
    s.run(4, 2.7e6)
    sent = s.now
    arrived = s.path.send(sent, 97_000)
    s.est.on_sent(sent, 97_000)
    s.est.on_delivery(sent, arrived + s.path.delay_s, 97_000, received_at=arrived + 1000.0)
    for dt in (0.1, 0.3, 0.45):
        q = s.est.queue_delay(arrived + s.path.delay_s + dt)
        assert q is not None and q < 0.01, (dt, q)
    # A queue that stands is still seen from a few units, however few per window.
    t = Stream(Path(1e6))
    t.run(3, 2e6)
    q = t.est.queue_delay(t.now + 0.4)
    assert q is not None and q > 0.3
