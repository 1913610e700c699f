"""EncoderGroup (rfb/session/group.py) with a fake clock, a pretend encoder and no
sockets or threads: keyframes to newcomers, credit, skips and resumes at keyframes, the
keyframe rate limit, latest frame wins, expiry, encoders that hand units back late, and
viewers moving to a new rung at a keyframe."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rfb.encoders.base import EncoderSettings, Picture
from rfb.frames import Frame
from rfb.session import INFLIGHT_TIMEOUT_S, EncodedUnit, EncoderGroup, GroupKey, Viewer
from rfb.session import ladder as ladders

H264 = "webcodecs/h264-annexb"
JPEG = "image/jpeg"
W, H = 1280, 720
TOP = EncoderSettings(fps=30, bitrate=0)  # 0: from size and fps, as serve() does


class Sim:
    """A group plus a pretend encoder and transport, stepped by hand."""

    def __init__(self, video: bool = True, max_fps: float | None = None, delay: int = 0,
                 **kw: float) -> None:  # fmt: skip
        self.now = 0.0
        self.delay = delay  # the pretend encoder hands units back this many encodes late
        self._late: list[Picture] = []
        self.group = EncoderGroup(
            GroupKey(H264 if video else JPEG, EncoderSettings()),
            is_video=video, max_fps=max_fps, **kw,
        )  # fmt: skip
        self.frame_ids = 0
        self.sent: dict[str, list[tuple[int, EncodedUnit]]] = {}
        self.encodes: list[tuple[int, bool]] = []  # (frame_id, keyframe)

    def join(self, name: str, max_inflight: int = 2) -> Viewer:
        v = Viewer(name, self.group.key.capability, is_video=self.group.is_video,
                   max_inflight=max_inflight)  # fmt: skip
        self.group.add(v, self.now)
        self.sent[name] = []
        seq = self.group.catch_up(v, self.now)
        if seq is not None:
            self.sent[name].append((seq, self.group.latest_unit))
        return v

    def publish(self, w: int = 64, h: int = 48) -> Frame:
        self.frame_ids += 1
        f = Frame(np.zeros((h, w, 3), np.uint8), self.frame_ids, int(self.now * 1e6), self.now)
        self.group.publish(f)
        return f

    def step(self) -> EncodedUnit | None:
        """Run at most one encode (instantly) and deliver it."""
        g = self.group
        g.expire(self.now)
        job = g.next_job(self.now)
        if job is None:
            return None
        self.encodes.append((job.frame.frame_id, job.keyframe))
        if job.rebuild:
            self._late.clear()
        self._late.append(Picture(str(job.frame.frame_id).encode(), job.keyframe, "c",
                                  job.frame.width, job.frame.height))  # fmt: skip
        picture = self._late.pop(0) if len(self._late) > self.delay else None
        unit = g.complete(job, picture, self.now, 1.0)
        if unit is None:
            assert self.delay
            return None
        for v, seq in g.deliver(unit, self.now):
            self.sent[v.id].append((seq, unit))
        return unit

    def ack_all(self, v: Viewer) -> None:
        for seq in list(v.inflight):
            v.on_ack(seq, self.now)

    def tick(self, dt: float) -> None:
        self.now += dt

    def run(self, frames: int, *acking: Viewer, dt: float = 1 / 30) -> None:
        """Publish, encode and deliver ``frames`` frames, ``dt`` apart; ``acking`` ack all."""
        for _ in range(frames):
            self.publish()
            self.step()
            for v in acking:
                self.ack_all(v)
            self.tick(dt)


def test_first_unit_to_every_video_viewer_is_a_keyframe() -> None:
    sim = Sim()
    a = sim.join("a")
    sim.run(5, a)
    b = sim.join("b")
    sim.run(40, a, b)
    for name in ("a", "b"):
        units = [u for _, u in sim.sent[name]]
        assert units and units[0].keyframe, name
        # in order, no unit twice
        idx = [u.index for u in units]
        assert idx == sorted(set(idx))
    # b joined mid-stream and still received nearly every later unit
    assert len(sim.sent["b"]) >= 40 - 1 / 30 * 0 - 16


def test_unsynced_viewer_takes_no_delta() -> None:
    sim = Sim(keyframe_min_interval_s=10, keyframe_interval_s=100)
    a = sim.join("a")
    sim.publish()
    assert sim.step().keyframe
    b = Viewer("b", H264, is_video=True)
    sim.group.viewers["b"] = b  # joined without asking for a keyframe
    sim.sent["b"] = []
    sim.ack_all(a)
    sim.tick(0.1)
    sim.publish()
    unit = sim.step()
    assert unit is not None and not unit.keyframe
    assert sim.sent["b"] == []


def test_max_inflight_never_exceeded_under_random_acks() -> None:
    rng = random.Random(7)
    for video in (True, False):
        sim = Sim(video=video)
        viewers = [sim.join(f"v{i}", max_inflight=rng.randint(1, 3)) for i in range(4)]
        for _ in range(600):
            sim.publish()
            sim.step()
            for v in viewers:
                assert len(v.inflight) <= v.max_inflight
                for seq in list(v.inflight):
                    if rng.random() < 0.5:
                        v.on_ack(seq, sim.now)
            sim.tick(rng.choice([0.005, 0.033, 0.3]))
        for v in viewers:
            seqs = [s for s, _ in sim.sent[v.id]]
            assert seqs == list(range(len(seqs)))  # per-viewer seq counts up from 0


def test_skip_then_resume_only_at_keyframe() -> None:
    sim = Sim(keyframe_min_interval_s=0.2, keyframe_interval_s=100)
    fast = sim.join("fast")
    slow = sim.join("slow", max_inflight=1)
    sim.publish()
    sim.step()  # IDR to both
    for _ in range(3):
        sim.tick(1 / 30)
        sim.ack_all(fast)  # slow never acks: its one credit is used
        sim.publish()
        sim.step()
    assert slow.stats.frames_skipped >= 1 and not slow.synced
    assert len(sim.sent["slow"]) == 1
    sim.ack_all(slow)
    # The next units slow receives must start with a keyframe, and it must come
    # no sooner than the rate limit allows.
    for _ in range(20):
        sim.tick(1 / 30)
        sim.ack_all(fast)
        sim.ack_all(slow)
        sim.publish()
        sim.step()
    later = [u for _, u in sim.sent["slow"][1:]]
    assert later and later[0].keyframe
    assert later[0].published_at >= 0.2 - 1e-9
    # the fast viewer kept every unit
    assert len(sim.sent["fast"]) == sim.group.frames_encoded


def test_forced_keyframes_are_rate_limited() -> None:
    sim = Sim(keyframe_min_interval_s=0.5, keyframe_interval_s=100)
    watcher = sim.join("w")
    kf_times = []
    for i in range(300):  # 10 s at 30 fps, a newcomer or a reset every frame
        sim.join(f"n{i}")
        sim.group.viewers[f"n{i}"].reset()
        sim.group.request_keyframe(sim.now)
        sim.publish()
        unit = sim.step()
        if unit is not None and unit.keyframe:
            kf_times.append(sim.now)
        sim.ack_all(watcher)
        for v in sim.group.viewers.values():
            sim.ack_all(v)
        sim.group.remove(f"n{i - 1}")
        sim.tick(1 / 30)
    gaps = np.diff(kf_times)
    assert gaps.min() >= 0.5 - 1e-9
    assert len(kf_times) <= 10 / 0.5 + 1
    # the watcher still got every encoded unit
    assert len(sim.sent["w"]) == sim.group.frames_encoded


def test_forced_keyframe_right_after_a_periodic_one_is_not_delayed() -> None:
    """A PLI or a newcomer just after a periodic IDR gets its IDR at the next frame: only
    forced IDRs are spaced out, so the limit costs nothing until someone churns."""
    sim = Sim(keyframe_interval_s=1.0, keyframe_min_interval_s=0.5)
    a = sim.join("a")
    sim.run(31, a)  # through the periodic IDR at t = 1 s
    assert [i for i, (_, k) in enumerate(sim.encodes) if k] == [0, 30]
    sim.group.viewers["a"].reset()  # what a PLI does
    sim.publish()
    assert sim.step().keyframe  # at once, although the last IDR is one frame old
    forced_at = sim.now
    sim.ack_all(a)
    sim.tick(1 / 30)
    sim.join("b")  # a second forced request within 0.5 s waits for the limit
    while True:
        sim.ack_all(a)
        sim.tick(1 / 30)
        sim.publish()
        unit = sim.step()
        if unit is not None and unit.keyframe:
            break
    assert sim.now - forced_at >= 0.5 - 1e-6


def test_periodic_keyframe() -> None:
    sim = Sim(keyframe_interval_s=1.0)
    v = sim.join("a")
    sim.run(91, v)
    kf = [i for i, (_, k) in enumerate(sim.encodes) if k]
    assert kf == [0, 30, 60, 90]


def test_latest_frame_wins() -> None:
    sim = Sim()
    sim.join("a")
    sim.publish()
    job = sim.group.next_job(sim.now)
    assert job is not None
    for _ in range(3):
        newest = sim.publish()
    assert sim.group.next_job(sim.now) is None  # one job at a time
    unit = sim.group.complete(job, Picture(b"k", True, "c", 64, 48), sim.now, 1.0)
    sim.group.deliver(unit, sim.now)
    nxt = sim.group.next_job(sim.now)
    assert nxt is not None and nxt.frame is newest


def test_no_encode_when_nobody_has_credit() -> None:
    sim = Sim(video=False)
    sim.join("a", max_inflight=1)
    sim.publish()
    assert sim.step() is not None
    sim.publish()
    assert sim.step() is None  # no credit: the frame waits, nothing is encoded
    assert sim.group.frames_encoded == 1


def test_resize_rebuilds_the_encoder_with_a_keyframe() -> None:
    sim = Sim(keyframe_interval_s=100, keyframe_min_interval_s=100)
    v = sim.join("a")
    sim.publish(64, 48)
    job = sim.group.next_job(sim.now)
    assert job.rebuild and job.keyframe
    sim.group.deliver(sim.group.complete(job, Picture(b"k", True, "c", 64, 48), sim.now, 1), 0)
    sim.ack_all(v)
    sim.tick(0.03)
    sim.publish(64, 48)
    job = sim.group.next_job(sim.now)
    assert not job.rebuild and not job.keyframe
    sim.group.complete(job, Picture(b"d", False, "c", 64, 48), sim.now, 1.0)
    sim.tick(0.03)
    sim.publish(96, 64)
    job = sim.group.next_job(sim.now)
    assert job.rebuild and job.keyframe and job.frame.size == (96, 64)


def test_decoder_reset_forgets_inflight_and_restarts_at_keyframe() -> None:
    sim = Sim(keyframe_min_interval_s=0.1, keyframe_interval_s=100)
    v = sim.join("a")
    sim.publish()
    sim.step()
    sim.tick(0.2)
    sim.publish()
    sim.step()
    assert len(v.inflight) == 2
    v.reset()
    sim.group.request_keyframe(sim.now)
    assert not v.inflight and v.wants_keyframe
    sim.tick(0.01)
    sim.publish()
    unit = sim.step()
    assert unit is not None and unit.keyframe
    assert sim.sent["a"][-1][1] is unit


def test_unacked_frames_expire_after_two_seconds() -> None:
    sim = Sim(video=False)
    v = sim.join("a", max_inflight=2)
    for _ in range(2):
        sim.publish()
        sim.step()
    sim.publish()
    assert sim.step() is None  # no credit
    deadline = sim.group.next_deadline(sim.now)
    assert deadline == pytest.approx(INFLIGHT_TIMEOUT_S)
    sim.tick(INFLIGHT_TIMEOUT_S)
    assert sim.step() is not None  # expired, credit back
    assert v.stats.frames_expired == 2


def test_every_viewers_units_expire_on_time_however_acks_and_joins_interleave() -> None:
    """The group looks at its viewers' expiry times only when the earliest may be due (a
    floor): units still expire exactly INFLIGHT_TIMEOUT_S after they were sent, whoever
    acked what meanwhile, and a viewer that joins with older units in flight (from its
    old rung's group) has them expired on time too."""
    sim = Sim(video=False)
    viewers = [sim.join(name, max_inflight=3) for name in "abcd"]
    rng = random.Random(7)
    for _ in range(60):
        sim.tick(0.05)
        sim.publish()
        sim.step()
        for v in viewers[:2]:  # a and b ack at random; c and d never do
            if rng.random() < 0.5:
                sim.ack_all(v)
    # A viewer from another group, with a unit sent long ago that it never acked.
    other = Viewer("e", JPEG, is_video=False, max_inflight=3)
    other.inflight[99] = (sim.now - INFLIGHT_TIMEOUT_S + 0.01, 0.0, 100)
    sim.group.add(other, sim.now)
    deadline = sim.group.next_deadline(sim.now)
    assert deadline is not None and deadline <= sim.now + 0.01 + 1e-9
    sim.tick(0.02)
    sim.group.expire(sim.now)
    assert 99 not in other.inflight and other.stats.frames_expired == 1
    for v in viewers:  # nothing older than the timeout is left anywhere
        assert all(sim.now - t < INFLIGHT_TIMEOUT_S for t, _, _ in v.inflight.values())
    assert viewers[2].stats.frames_expired > 0 and viewers[3].stats.frames_expired > 0


def test_image_viewer_catches_up_with_newest_unseen_image() -> None:
    sim = Sim(video=False)
    a = sim.join("a", max_inflight=1)
    b = sim.join("b", max_inflight=1)
    sim.publish()
    sim.step()
    sim.ack_all(a)  # b does not ack
    sim.publish()
    newest = sim.step()
    assert [u for _, u in sim.sent["b"]][-1].index == 0
    sim.ack_all(b)
    seq = sim.group.catch_up(b, sim.now)
    assert seq is not None and sim.group.latest_unit is newest
    assert sim.group.catch_up(b, sim.now) is None  # never twice


def test_late_video_joiner_starts_from_the_newest_keyframe_without_an_encode() -> None:
    sim = Sim(keyframe_min_interval_s=0.5)
    sim.join("a")
    sim.publish()
    sim.step()  # an IDR is the newest unit
    late = sim.join("late")
    assert sim.sent["late"] and sim.sent["late"][0][1].keyframe
    assert late.synced


def test_static_scene_newcomer_gets_a_keyframe_of_the_last_frame() -> None:
    sim = Sim(keyframe_min_interval_s=0.5, keyframe_interval_s=100)
    a = sim.join("a")
    sim.publish()
    sim.step()
    sim.ack_all(a)
    sim.tick(0.03)
    sim.publish()
    sim.step()  # newest unit is a delta; then the publisher stops
    sim.tick(0.03)
    sim.join("b")
    assert sim.step() is None  # rate limited
    sim.tick(0.5)
    unit = sim.step()
    assert unit is not None and unit.keyframe and unit.frame_id == 2
    assert sim.sent["b"][0][1] is unit


def test_encode_rate_is_capped_at_max_fps() -> None:
    sim = Sim(video=False, max_fps=30)
    v = sim.join("a", max_inflight=100)
    sim.run(100, v, dt=0.01)  # published at 100 fps for 1 s
    assert 30 <= sim.group.frames_encoded <= 34


def test_request_keyframe_resends_the_newest_image_on_a_static_scene() -> None:
    sim = Sim(video=False)
    v = sim.join("a")
    sim.publish()
    sim.step()
    sim.ack_all(v)
    assert sim.group.catch_up(v, sim.now) is None  # already seen
    v.reset()  # the client lost its picture (resized canvas) and asked for a full one
    assert sim.group.catch_up(v, sim.now) is not None


# -- encoders that hand units back late (NVENC through PyNvVideoCodec) ---------------------


def test_delaying_encoder_brings_a_lone_frame_out() -> None:
    sim = Sim(delay=3)
    a = sim.join("a", max_inflight=100)
    sim.publish()
    for _ in range(10):
        sim.step()
    # Fed again until it came out: one IDR, then three near-empty repeats, then silence.
    assert sim.encodes == [(1, True), (1, False), (1, False), (1, False)]
    assert [(u.frame_id, u.keyframe, u.data) for _, u in sim.sent["a"]] == [(1, True, b"1")]
    sim.ack_all(a)
    sim.publish()
    for _ in range(10):
        sim.step()
    # The next frame pushes out the repeats ahead of it, then comes out itself.
    assert [u.frame_id for _, u in sim.sent["a"]] == [1, 1, 1, 1, 2]


def test_delaying_encoder_units_carry_their_own_frame_and_one_idr() -> None:
    sim = Sim(delay=3)
    a = sim.join("a", max_inflight=100)
    sim.run(12)
    assert [k for _, k in sim.encodes] == [True] + [False] * 11  # no second IDR asked for
    units = [u for _, u in sim.sent["a"]]
    assert [u.frame_id for u in units] == list(range(1, 10))
    assert all(u.data == str(u.frame_id).encode() for u in units)  # metadata matches content
    assert units[0].keyframe and not any(u.keyframe for u in units[1:])
    b = sim.join("b", max_inflight=100)  # a newcomer forces one IDR, made once
    sim.run(12)
    assert sum(k for _, k in sim.encodes[12:]) == 1
    got_b = [u for _, u in sim.sent["b"]]
    assert got_b[0].keyframe and [u.frame_id for u in got_b] == list(range(got_b[0].frame_id, 22))
    assert a.has_credit and b.has_credit


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
