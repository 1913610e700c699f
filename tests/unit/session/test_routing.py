"""Routing without sockets, tasks or an event loop, on a fake clock: which rung a viewer
starts on, what rungs cost, rung moves in adaptation rounds, which groups exist, consumers
held where they are, and the rate a paced link is asked to send at."""

from __future__ import annotations

import numpy as np
import pytest

from rfb import protocol
from rfb.encoders.base import EncoderSettings, Picture
from rfb.frames import Frame
from rfb.options import StreamOptions
from rfb.rtp.pacer import pacing_rate
from rfb.session import EncodedUnit, Viewer
from rfb.session.estimate import BandwidthEstimator
from rfb.session.links import LinkKind
from rfb.session.routing import Effects, LinkReading, Routing

H264, JPEG = protocol.CAP_H264, protocol.CAP_JPEG
W, H = 1280, 720
WS, WEBRTC = LinkKind.WEBSOCKET, LinkKind.WEBRTC
FRAME_S = 1 / 30
ROUND_S = 0.2  # the hub's ADAPT_INTERVAL_S


def routing(**options: object) -> Routing:
    return Routing(StreamOptions(width=W, height=H, still_after=None, **options))  # type: ignore[arg-type]


class Estimate(BandwidthEstimator):
    """A path estimate the test sets: ``capacity`` bits per second, a standing queue of
    ``queue`` seconds (over 60 ms: congested)."""

    def __init__(self, capacity: float, queue: float = 0.0) -> None:
        super().__init__()
        self.capacity, self.queue = capacity, queue
        self.samples = 100  # past measuring

    def capacity_bps(self, now: float) -> float | None:
        return self.capacity

    def queue_delay(self, now: float) -> float | None:
        return self.queue

    def delivered_bps(self, now: float, span: float = 1.0) -> float:
        return self.capacity  # what arrives through a full path is what it carries


class Run:
    """Frames at 30 fps through every group (each encode a unit of ``unit_bytes``), every
    unit confirmed at once, and an adaptation round every ROUND_S; what the rounds and
    deliveries left for the shell is kept in ``fx`` and ``sent``."""

    def __init__(self, r: Routing, unit_bytes: int = 10_000) -> None:
        self.r = r
        self.unit_bytes = unit_bytes
        self.now = 0.0
        self.frames = 0
        self.readings: dict[str, LinkReading] = {}
        self.fx = Effects()
        self.sent: list[tuple[Viewer, EncodedUnit]] = []  # every unit sent, in order
        self._pixels = np.zeros((H, W, 3), np.uint8)

    def seconds(self, seconds: float) -> None:
        for _ in range(round(seconds / FRAME_S)):
            self.frame()

    def frame(self) -> None:
        self.now += FRAME_S
        self.frames += 1
        r = self.r
        r.publish(Frame(self._pixels, self.frames, round(self.now * 1e6), self.now))
        for group in list(r.groups.values()):
            job = group.next_job(self.now)
            if job is None:
                continue
            picture = Picture(b"x" * self.unit_bytes, job.keyframe, "c", W, H)
            unit = group.complete(job, picture, self.now, 1.0)
            if unit is not None:
                r.deliver(group, unit, self.now)
        if self.frames % round(ROUND_S / FRAME_S) == 0:
            r.adapt(self.now, self.readings)
        self.take()

    def take(self) -> Effects:
        fx = self.r.take_effects()
        for viewer, seq, unit in fx.sends:
            self.sent.append((viewer, unit))
            viewer.on_ack(seq, self.now)
        self.fx.closed += fx.closed
        self.fx.moves += fx.moves
        self.fx.pacing.update(fx.pacing)
        return fx


def on_a_clear_path(r: Routing, kind: LinkKind) -> tuple[Viewer, Estimate]:
    """A viewer that may take any rung, whose path carries 10 Mbit/s."""
    v = r.attach(H264, kind, 0.0, scaled_frames=True).viewer
    est = v.estimator = Estimate(10e6)
    return v, est


def rung_of(r: Routing, viewer: Viewer) -> int:
    """The rung of the group the viewer takes its units from."""
    group = r.group_of(viewer.id)
    assert group is not None
    return group.rung


def rungs_open(r: Routing, capability: str = H264) -> set[int]:
    return {g.rung for g in r.groups.values() if g.key.capability == capability}


# -- the start rung ---------------------------------------------------------------------------


def test_a_viewer_starts_on_the_highest_rung_its_start_bitrate_pays_for() -> None:
    r = routing()
    lad = r.ladder(H264)
    rates = [lad.bitrate(i, W, H) for i in range(len(lad))]
    mid = r.attach(H264, WEBRTC, 0.0, scaled_frames=True, start_bitrate=rates[3] + 1).viewer
    assert rung_of(r, mid) == 3
    low = r.attach(H264, WEBRTC, 0.0, scaled_frames=True, start_bitrate=rates[-1] / 2).viewer
    assert rung_of(r, low) == len(lad) - 1  # nothing fits: the lowest
    top = r.attach(H264, WEBRTC, 0.0, scaled_frames=True).viewer
    assert rung_of(r, top) == 0  # no start bitrate: the top, and climb down from there
    assert rungs_open(r) == {0, 3, len(lad) - 1}
    assert r.adaptation(mid.id, 0.0)["rung"] == 3


def test_the_start_rung_follows_the_frame_size_and_ignores_images() -> None:
    r = routing()
    rate = r.ladder(H264).bitrate(0, W // 2, H // 2)
    before = r.attach(H264, WEBRTC, 0.0, scaled_frames=True, start_bitrate=rate).viewer
    assert rung_of(r, before) > 0
    r.publish(Frame(np.zeros((H // 2, W // 2, 3), np.uint8), 1, 0, 0.0))
    # A quarter of the pixels: the top rung needs a quarter of the bits.
    v = r.attach(H264, WEBRTC, 0.0, scaled_frames=True, start_bitrate=rate).viewer
    assert rung_of(r, v) == 0
    jpeg = r.attach(JPEG, WS, 0.0, start_bitrate=1.0).viewer
    assert rung_of(r, jpeg) == 0


def test_a_full_size_viewer_is_offered_only_full_size_rungs() -> None:
    r = routing()
    v = r.attach(H264, WS, 0.0, start_bitrate=1.0).viewer  # draws what it gets, unscaled
    lad = r.ladder(H264)
    full = [i for i in range(len(lad)) if lad[i].scale == 1.0]
    assert rung_of(r, v) == full[-1]
    assert r.adaptation(v.id, 0.0)["rungs"] == len(full)


# -- rung costs ---------------------------------------------------------------------------------


def test_video_rungs_cost_their_ladder_bitrates_at_the_frame_size() -> None:
    r = routing()
    entry = r.attach(H264, WEBRTC, 0.0, scaled_frames=True)
    lad = r.ladder(H264)
    assert r.rung_costs(entry) == [lad.bitrate(i, W, H) for i in range(len(lad))]
    r.publish(Frame(np.zeros((360, 640, 3), np.uint8), 1, 0, 0.0))  # the stream was resized
    costs = r.rung_costs(entry)
    assert costs == [lad.bitrate(i, 640, 360) for i in range(len(lad))]
    assert costs is not None and costs[0] < lad.bitrate(0, W, H) / 3


def test_image_rungs_cost_what_their_group_makes() -> None:
    r = routing()
    entry = r.attach(JPEG, WS, 0.0)
    lad = r.ladder(JPEG)
    full = [i for i in range(len(lad)) if lad[i].scale == 1.0]  # it draws them unscaled
    assert r.rung_costs(entry) is None  # nothing made yet: unknown
    run = Run(r, unit_bytes=10_000)
    run.seconds(0.2)
    top = 8 * 10_000 * 30.0  # bits per unit, 30 units a second
    costs = r.rung_costs(entry)
    assert costs == pytest.approx([top * lad.relative_cost(i) for i in full])
    # On a lower rung the costs come from that rung's own units, scaled back up.
    r.move(entry.viewer.id, 2, run.now)
    run.take()
    assert r.rung_costs(entry) is None
    run.unit_bytes = 5_000
    run.seconds(0.2)
    costs = r.rung_costs(entry)
    assert costs is not None
    assert costs[2] == pytest.approx(8 * 5_000 * 30.0)
    assert costs[0] == pytest.approx(costs[2] / lad.relative_cost(2))


# -- adaptation ---------------------------------------------------------------------------------


def test_a_viewer_moves_down_when_its_estimate_falls_and_back_up_after_the_hold() -> None:
    r = routing()
    v, est = on_a_clear_path(r, WEBRTC)
    run = Run(r)
    run.seconds(3)
    assert rung_of(r, v) == 0 and rungs_open(r) == {0}
    costs = r.rung_costs(r.entries[v.id])
    assert costs is not None
    # The path falls to 1.5 Mbit/s and a queue builds: down to the highest rung that fits
    # with headroom (0.8 x 1.5M), at once.
    est.capacity, est.queue = 1.5e6, 0.1
    run.seconds(ROUND_S)
    est.queue = 0.0  # the lower rung drains it
    fits = next(i for i, c in enumerate(costs) if c <= 0.8 * 1.5e6)
    assert [(m.rung, m.to) for m in run.fx.moves] == [(0, fits)]
    run.seconds(1)  # it joins that rung at its next keyframe; the top rung closes
    assert rung_of(r, v) == fits and rungs_open(r) == {fits}
    assert [g.rung for g in run.fx.closed] == [0]
    # The path clears: back to the top, but only once it has fitted for the hold (1 s;
    # the policy reads the median capacity of the last second).
    est.capacity = 10e6
    run.seconds(1)
    assert rung_of(r, v) == fits and len(run.fx.moves) == 1
    run.seconds(1)
    assert [(m.rung, m.to) for m in run.fx.moves][1:] == [(fits, 0)]
    run.seconds(1)
    assert rung_of(r, v) == 0 and rungs_open(r) == {0}
    assert r.adaptation(v.id, run.now)["rung_switches"] == 2


def test_a_backlog_on_the_link_moves_the_viewer_down() -> None:
    r = routing()
    v, _ = on_a_clear_path(r, WS)
    run = Run(r)
    run.seconds(3)
    assert rung_of(r, v) == 0
    # Half a second of the top rung waits in the socket and does not drain.
    run.readings[v.id] = LinkReading(backlog_bytes=200_000)
    run.seconds(1)
    assert run.fx.moves and run.fx.moves[0].to > 0
    assert run.fx.moves[0].decision.congested


def test_the_group_of_a_rung_nobody_is_on_is_closed() -> None:
    r = routing()
    a = r.attach(JPEG, WS, 0.0).viewer
    b = r.attach(JPEG, WS, 0.0).viewer
    assert [g.rung for g in r.take_effects().opened] == [0]  # one group for both
    r.pin(a.id, 2, 0.1)  # images move at once
    fx = r.take_effects()
    assert [g.rung for g in fx.opened] == [2] and not fx.closed
    assert rungs_open(r, JPEG) == {0, 2}  # b is still on the top rung
    r.pin(b.id, 2, 0.2)
    fx = r.take_effects()
    assert [g.rung for g in fx.closed] == [0] and not fx.opened
    assert rungs_open(r, JPEG) == {2}
    r.detach(a.id)
    assert not r.take_effects().closed
    r.detach(b.id)
    assert [g.rung for g in r.take_effects().closed] == [2]
    assert not r.groups and not r.entries


def test_an_image_viewer_moved_after_a_long_watch_gets_its_next_picture_at_once() -> None:
    r = routing()
    v = r.attach(JPEG, WS, 0.0).viewer
    run = Run(r)
    run.seconds(10)  # 300 pictures on the top rung
    seen = len(run.sent)
    r.pin(v.id, 2, run.now)
    run.frame()
    assert [(viewer, unit.frame_id) for viewer, unit in run.sent[seen:]] == [(v, run.frames)]
    assert rung_of(r, v) == 2 and rungs_open(r, JPEG) == {2}


def test_a_move_called_off_before_its_keyframe_closes_the_rung_it_was_going_to() -> None:
    r = routing()
    v = r.attach(H264, WEBRTC, 0.0, scaled_frames=True).viewer
    run = Run(r)
    run.seconds(0.2)
    r.move(v.id, 3, run.now)  # video: it waits for rung 3's keyframe on the top rung
    assert rung_of(r, v) == 0 and rungs_open(r) == {0, 3}
    r.move(v.id, 0, run.now)
    assert [g.rung for g in run.take().closed] == [3]
    assert rung_of(r, v) == 0 and rungs_open(r) == {0}


# -- consumers ----------------------------------------------------------------------------------


def test_consumers_are_held_on_their_rung_whatever_their_path() -> None:
    r = routing()
    relay = r.attach(H264, LinkKind.RELAY, 0.0, rung=2).viewer
    own = EncoderSettings(fps=30, bitrate=5_000_000)
    recording = r.attach(H264, LinkKind.RECORDING, 0.0, settings=own, adaptive=False).viewer
    far = r.attach(H264, LinkKind.RELAY, 0.0, rung=99).viewer  # past the ladder: its last
    lad = r.ladder(H264)
    assert rung_of(r, relay) == 2 and rung_of(r, far) == len(lad) - 1
    assert r.group_of(recording.id) is not None
    assert r.group_of(recording.id).key.settings == own  # type: ignore[union-attr]
    assert all(r.entries[v.id].consumer for v in (relay, recording, far))
    assert not r.adapting()
    for v in (relay, recording, far):
        v.estimator = Estimate(100e3, queue=0.5)  # a path far too slow for any rung
    run = Run(r)
    run.seconds(3)
    assert not run.fx.moves and not run.fx.pacing and not run.fx.closed
    assert rung_of(r, relay) == 2 and rung_of(r, far) == len(lad) - 1
    assert r.group_of(recording.id).key.settings == own  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        r.attach(H264, LinkKind.RELAY, 0.0, rung=-1)


def test_a_pinned_viewer_stays_until_released() -> None:
    r = routing()
    v, _ = on_a_clear_path(r, WEBRTC)
    run = Run(r)
    run.seconds(1)
    r.pin(v.id, 4, run.now)
    run.seconds(3)  # a clear path, but held
    assert rung_of(r, v) == 4 and not run.fx.moves
    r.pin(v.id, None, run.now)
    run.seconds(4)
    assert rung_of(r, v) == 0  # adapting again: it climbs


# -- pacing -------------------------------------------------------------------------------------


def test_paced_links_are_asked_for_a_rate_for_their_rung() -> None:
    r = routing()
    paced = r.attach(H264, WEBRTC, 0.0, scaled_frames=True).viewer
    other = r.attach(H264, WS, 0.0, scaled_frames=True).viewer
    est = paced.estimator = Estimate(10e6)
    other.estimator = Estimate(10e6)
    run = Run(r)
    run.readings[paced.id] = LinkReading(paced=True)
    run.seconds(1)
    costs = r.rung_costs(r.entries[paced.id])
    assert costs is not None
    assert set(run.fx.pacing) == {paced.id}  # a link that does not pace is asked nothing
    assert run.fx.pacing[paced.id] == pacing_rate(costs[0], 10e6, None)
    # Below the top rung on a clear path, packets may leave fast enough to show whether
    # the top would fit.
    est.capacity = 1e6  # rung 4 fits, rung 3 does not
    r.pin(paced.id, 4, run.now)
    r.pin(paced.id, None, run.now)
    run.fx.pacing.clear()
    run.seconds(ROUND_S)
    assert run.fx.pacing[paced.id] == pacing_rate(costs[4], 1e6, costs[0])
    assert run.fx.pacing[paced.id] > pacing_rate(costs[4], 1e6, None)


def test_rungs_are_held_while_the_scene_rests() -> None:
    # A still crossing the path alone reads like a queue; at rest no video flows, so no
    # move (each would cost a keyframe of a scene nobody sees change).
    r = routing()
    v, est = on_a_clear_path(r, WS)
    run = Run(r)
    run.seconds(3)
    assert rung_of(r, v) == 0
    run.now += 0.5  # at rest (no stills here: after 0.5 s); then a still crosses the path,
    est.queue = 0.1  # which looks like a queue while it does
    for _ in range(10):  # two seconds of adaptation rounds with nothing published
        run.now += ROUND_S
        r.adapt(run.now)
        run.take()
    assert not run.fx.moves and rung_of(r, v) == 0
    assert r.adaptation(v.id, run.now)["adapt_reason"] == "at rest"
    run.seconds(ROUND_S)  # frames again, and the queue still there: now it counts
    assert run.fx.moves and run.fx.moves[0].to > 0
