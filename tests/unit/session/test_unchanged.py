"""FrameGate (rfb/session/unchanged.py) without sockets or threads, on a fake clock: which
frame is dropped as unchanged, a new shape is a change, the changed=True/False hints, the
newest pending frame wins and is compared with the frame last handed, and an encoder
group fed through the gate rests and makes its still as if publishing had stopped."""

from __future__ import annotations

import numpy as np
import pytest

from rfb.encoders.base import EncoderSettings, Picture
from rfb.frames import Frame, same_pixels
from rfb.session import EncoderGroup, GroupKey, Viewer
from rfb.session.unchanged import FrameGate, Verdict, supersede

H264 = "webcodecs/h264-annexb"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.ids = 0

    def frame(self, value: int = 0, w: int = 64, h: int = 48) -> Frame:
        self.ids += 1
        pixels = np.full((h, w, 3), value, np.uint8)
        return Frame(pixels, self.ids, int(self.now * 1e6), self.now)


def run(gate: FrameGate) -> list[tuple[Verdict, int]]:
    """Take every pending frame, answering comparisons with same_pixels at once."""
    out = []
    while (step := gate.next()) is not None:
        if step.verdict is Verdict.COMPARE:
            assert gate.reference is not None and gate.busy
            step = gate.compared(step.frame, same_pixels(gate.reference.pixels, step.frame.pixels))
        out.append((step.verdict, step.frame.frame_id))
    return out


def test_the_first_frame_is_handed_and_an_identical_one_dropped() -> None:
    c, gate = Clock(), FrameGate()
    gate.offer(c.frame(7))
    assert run(gate) == [(Verdict.HAND, 1)]
    gate.offer(c.frame(7))
    step = gate.next()
    assert step is not None and step.verdict is Verdict.COMPARE and gate.busy
    assert gate.next() is None  # nothing is taken while a comparison is out
    assert gate.compared(step.frame, True).verdict is Verdict.DROP
    assert gate.unchanged == 1 and gate.reference is not None and gate.reference.frame_id == 1
    gate.offer(c.frame(8))
    assert run(gate) == [(Verdict.HAND, 3)]
    assert gate.reference.frame_id == 3 and gate.unchanged == 1


def test_a_new_shape_is_a_change_without_comparing_even_when_told_unchanged() -> None:
    c, gate = Clock(), FrameGate()
    gate.offer(c.frame(0))
    run(gate)
    gate.offer(c.frame(0, w=32))
    assert run(gate) == [(Verdict.HAND, 2)] and gate.compares == 0
    gate.offer(c.frame(0, w=64), changed=False)
    assert run(gate) == [(Verdict.HAND, 3)] and gate.unchanged == 0


def test_hints_skip_the_comparison() -> None:
    c, gate = Clock(), FrameGate()
    gate.offer(c.frame(1), changed=False)  # nothing to compare with: handed
    gate_run = run(gate)
    assert gate_run == [(Verdict.HAND, 1)]
    gate.offer(c.frame(1), changed=True)  # same pixels, but the caller says send it
    assert run(gate) == [(Verdict.HAND, 2)]
    gate.offer(c.frame(9), changed=False)  # the caller's word is taken, pixels unread
    assert run(gate) == [(Verdict.DROP, 3)]
    assert gate.compares == 0 and gate.unchanged == 1


def test_newest_pending_frame_wins_and_is_compared_with_the_frame_handed() -> None:
    c, gate = Clock(), FrameGate()
    gate.offer(c.frame(1))
    run(gate)
    gate.offer(c.frame(2))  # replaced before it was taken
    gate.offer(c.frame(1))  # the same as the frame handed: dropped
    assert run(gate) == [(Verdict.DROP, 3)]
    gate.offer(c.frame(1))
    gate.offer(c.frame(5))
    assert run(gate) == [(Verdict.HAND, 5)]


def test_a_frame_that_comes_while_comparing_waits_and_is_compared_with_the_result() -> None:
    c, gate = Clock(), FrameGate()
    gate.offer(c.frame(1))
    run(gate)
    gate.offer(c.frame(2))
    out = gate.next()
    assert out is not None and out.verdict is Verdict.COMPARE
    gate.offer(c.frame(2))  # came meanwhile: waits
    assert gate.next() is None and gate.pending is not None
    assert gate.compared(out.frame, False).verdict is Verdict.HAND  # frame 2 is the reference
    assert run(gate) == [(Verdict.DROP, 3)]


@pytest.mark.parametrize(
    ("older", "newer", "merged"),
    [(True, False, True), (None, False, None), (False, False, False), (True, None, None),
     (False, True, True), (None, True, True)],
)  # fmt: skip
def test_a_replaced_frame_passes_on_what_was_known_of_it(older, newer, merged) -> None:
    assert supersede(older, newer) is merged


def test_changed_false_after_a_replaced_change_is_still_a_change() -> None:
    """changed=False says "as the frame before": the one before was a change never taken."""
    c, gate = Clock(), FrameGate()
    gate.offer(c.frame(1))
    run(gate)
    gate.offer(c.frame(2), changed=True)
    gate.offer(c.frame(2), changed=False)
    assert run(gate) == [(Verdict.HAND, 3)]


def test_frames_sharing_the_references_memory_or_on_no_host_count_as_changed() -> None:
    c, gate = Clock(), FrameGate()
    f = c.frame(1)
    gate.offer(f)
    run(gate)
    gate.offer(Frame(f.pixels, 2, 0, 0.0))  # copy=False of the same buffer
    assert run(gate) == [(Verdict.HAND, 2)] and gate.compares == 0


def test_same_pixels_compares_shape_and_bytes() -> None:
    a = np.zeros((720, 1280, 3), np.uint8)
    b = a.copy()
    assert same_pixels(a, b)
    b[719, 1279, 2] = 1
    assert not same_pixels(a, b)
    assert not same_pixels(a, np.zeros((1280, 720, 3), np.uint8))


def test_a_group_behind_the_gate_rests_and_makes_its_still() -> None:
    """A scene republished unchanged every 1/30 s: one encode, then the still at
    still_after after the frame handed, as if publishing had stopped; then nothing."""
    c, gate = Clock(), FrameGate()
    group = EncoderGroup(GroupKey(H264, EncoderSettings()), is_video=True, still_after_s=0.3)
    v = Viewer("a", H264, is_video=True, max_inflight=4)
    group.add(v, c.now)
    encodes: list[tuple[int, bool]] = []
    while c.now < 1.0:
        gate.offer(c.frame(3))
        for verdict, _ in run(gate):
            if verdict is Verdict.HAND:
                assert gate.reference is not None
                group.publish(gate.reference)
        while (job := group.next_job(c.now)) is not None:
            encodes.append((job.frame.frame_id, job.still))
            pic = Picture(b"x", job.keyframe, "c", job.frame.width, job.frame.height)
            unit = group.complete(job, pic, c.now, 1.0)
            if unit is not None:
                for _, seq in group.deliver(unit, c.now):
                    v.on_ack(seq, c.now)
        c.now += 1 / 30
    assert encodes == [(1, False), (1, True)]  # the frame, then its still
    assert group.stills == 1 and gate.unchanged == c.ids - 1
