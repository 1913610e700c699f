"""Exact stills (rfb/session/group.py, viewer.py) on a fake clock: the resting frame as a
lossless picture to the viewers that ask for it and whose path carries it in about a
second, before (and instead of) the near-lossless still; the video decoder's state left
alone; motion after the rest going on as before. And who asks (Stream.open_viewer)."""

from __future__ import annotations

import numpy as np

from rfb import protocol
from rfb.access import Access
from rfb.encoders.base import EncoderSettings, Picture
from rfb.frames import Frame
from rfb.options import StreamOptions
from rfb.session import EncodedUnit, EncoderGroup, GroupKey, Viewer
from rfb.session.links import LinkKind
from rfb.session.viewer import EXACT_STILL_BUDGET_S
from rfb.stream import Stream

from support.links import KeepingLink

H264 = protocol.CAP_H264
JPEG = protocol.CAP_JPEG
STILL_AFTER = 0.5
EXACT_BYTES = 200_000  # what the pretend PNG encoder makes: 1.6 Mbit


class Sim:
    """A group with a pretend encoder (exact stills EXACT_BYTES long) and transport."""

    def __init__(self, video: bool = True) -> None:
        self.now = 0.0
        self.group = EncoderGroup(GroupKey(H264 if video else JPEG, EncoderSettings()),
                                  is_video=video, still_after_s=STILL_AFTER)  # fmt: skip
        self.group.rung_bps = 4e6  # the rung's rate: 1.6 Mbit take 0.4 s
        self.frame_ids = 0
        self.sent: dict[str, list[EncodedUnit]] = {}
        self.jobs: list[str] = []  # "exact", "still" (near-lossless), "idr", "p"

    def join(self, name: str, *, exact: bool = True, takes_stills: bool = True,
             max_inflight: int = 2) -> Viewer:  # fmt: skip
        v = Viewer(name, self.group.key.capability, is_video=self.group.is_video,
                   max_inflight=max_inflight, takes_stills=takes_stills,
                   exact_stills=exact)  # fmt: skip
        self.group.add(v, self.now)
        self.sent[name] = []
        return v

    def publish(self) -> Frame:
        self.frame_ids += 1
        f = Frame(np.zeros((48, 64, 3), np.uint8), self.frame_ids, int(self.now * 1e6), self.now)
        self.group.publish(f)
        return f

    def step(self) -> EncodedUnit | None:
        g = self.group
        job = g.next_job(self.now)
        if job is None:
            return None
        kind = "exact" if job.exact else "still" if job.still else "idr" if job.keyframe else "p"
        self.jobs.append(kind)
        size = EXACT_BYTES if job.exact else 1000
        codec = "image/png" if job.exact else "c"
        unit = g.complete(job, Picture(bytes(size), job.keyframe or not g.is_video, codec, 64,
                                       48), self.now, 1.0)  # fmt: skip
        assert unit is not None
        for v, _ in g.deliver(unit, self.now):
            self.sent[v.id].append(unit)
        return unit

    def run(self) -> None:
        while self.step() is not None:
            pass

    def ack_all(self, *viewers: Viewer) -> None:
        for v in viewers:
            for seq in list(v.inflight):
                v.on_ack(seq, self.now)

    def rest(self, *viewers: Viewer) -> None:
        """Publish one frame, let it be encoded and acked, then wait past still_after."""
        self.publish()
        self.run()
        self.ack_all(*viewers)
        self.now += STILL_AFTER + 0.1
        self.run()


def kinds(units: list[EncodedUnit]) -> list[str]:
    return ["exact" if u.exact else "still" if u.still else "idr" if u.keyframe else "p"
            for u in units]  # fmt: skip


def test_a_capable_viewer_within_budget_gets_the_exact_still_and_no_near_lossless_one() -> None:
    sim = Sim()
    v = sim.join("a")
    sim.rest(v)
    assert kinds(sim.sent["a"]) == ["idr", "exact"]
    exact = sim.sent["a"][-1]
    assert exact.codec == "image/png" and exact.frame_id == sim.frame_ids
    # everyone took the exact picture: the near-lossless still is never encoded
    assert sim.jobs == ["idr", "exact"]
    sim.ack_all(v)
    sim.now += 5.0
    assert sim.step() is None and sim.group.next_deadline(sim.now) is None
    assert v.stats.exact_stills_sent == 1 and v.stats.near_lossless_stills_sent == 0
    assert v.metrics()["last_still"] == "exact" and sim.group.metrics()["exact_stills"] == 1


def test_a_slow_viewer_gets_the_near_lossless_still_instead() -> None:
    sim = Sim()
    fast, slow = sim.join("fast"), sim.join("slow")
    rate = 8 * EXACT_BYTES / (3 * EXACT_STILL_BUDGET_S)  # the exact still would take 3 s
    slow.estimator.capacity_bps = lambda now: rate  # type: ignore[method-assign]
    sim.rest(fast, slow)
    assert sim.jobs == ["idr", "exact", "still"]  # the exact picture first
    assert kinds(sim.sent["fast"]) == ["idr", "exact"]  # the still is not drawn over it
    assert kinds(sim.sent["slow"]) == ["idr", "still"]
    assert slow.metrics()["last_still"] == "near_lossless"


def test_without_an_estimate_the_budget_is_the_rungs_rate() -> None:
    sim = Sim()
    sim.group.rung_bps = 8 * EXACT_BYTES / 2.0  # 2 s at the rung's rate
    v = sim.join("a")
    v.estimator.capacity_bps = lambda now: None  # type: ignore[method-assign]
    sim.rest(v)
    assert kinds(sim.sent["a"]) == ["idr", "still"]
    # one of that size is known not to fit: the next resting frame is not made exact at all
    sim.ack_all(v)
    sim.rest(v)
    assert sim.jobs.count("exact") == 1 and sim.jobs.count("still") == 2


def test_a_viewer_without_the_feature_gets_only_the_near_lossless_still() -> None:
    sim = Sim()
    pdum = sim.join("pdum", exact=False)
    sim.rest(pdum)
    assert sim.jobs == ["idr", "still"]
    assert kinds(sim.sent["pdum"]) == ["idr", "still"]


def test_a_recording_never_takes_an_exact_still() -> None:
    sim = Sim()
    rec = sim.join("rec", exact=True, takes_stills=False)
    sim.rest(rec)
    assert sim.jobs == ["idr"] and kinds(sim.sent["rec"]) == ["idr"]


def test_taking_the_exact_still_leaves_the_decoder_in_sync_and_motion_resumes() -> None:
    sim = Sim()
    v = sim.join("a")
    sim.rest(v)
    assert v.synced and not v.wants_keyframe
    last = v.last_unit_index
    sim.ack_all(v)
    # motion again: the encoder goes on with a P-frame (no IDR after an exact still),
    # which this viewer's decoder can take
    sim.now += 0.033
    sim.publish()
    sim.run()
    assert kinds(sim.sent["a"]) == ["idr", "exact", "p"]
    assert v.last_unit_index > last
    # and the next rest is exact again
    sim.ack_all(v)
    sim.now += STILL_AFTER + 0.1
    sim.run()
    assert kinds(sim.sent["a"]) == ["idr", "exact", "p", "exact"]
    assert v.stats.exact_stills_sent == 2


def test_a_joiner_at_rest_gets_the_exact_still_and_still_waits_for_a_keyframe() -> None:
    sim = Sim()
    a = sim.join("a")
    sim.rest(a)
    b = sim.join("b")
    got = sim.group.catch_up_exact(b, sim.now)  # as the routing does when it attaches
    assert got is not None and got[1].exact and got[1] is sim.group.exact_unit
    assert b.wants_keyframe  # the exact picture is drawn over the video, not decoded
    sim.run()  # the unchanged frame again as an IDR, for b's decoder
    assert sim.jobs[-1] == "idr" and kinds(sim.sent["b"]) == ["idr"] and b.synced
    assert sim.sent["b"][0].frame_id == got[1].frame_id  # (the browser does not draw it)


def test_a_viewer_without_credit_gets_the_exact_still_later_while_it_is_newest() -> None:
    sim = Sim()
    a = sim.join("a")
    b = sim.join("b", max_inflight=1)
    sim.publish()
    sim.run()
    sim.ack_all(a)  # b still holds the IDR: no credit
    sim.now += STILL_AFTER + 0.1
    sim.run()
    assert kinds(sim.sent["a"]) == ["idr", "exact"] and kinds(sim.sent["b"]) == ["idr"]
    # nobody who needs the near-lossless still can take it now: it is not made
    assert "still" not in sim.jobs
    sim.ack_all(b)
    got = sim.group.catch_up_exact(b, sim.now)
    assert got is not None and got[1].exact and got[0] in b.inflight
    assert sim.group.catch_up_exact(b, sim.now) is None  # never twice
    sim.ack_all(b)
    sim.run()
    assert "still" not in sim.jobs
    # a newer frame: the old exact still is not offered any more
    c = sim.join("c")
    sim.now += 0.033
    sim.publish()
    assert sim.group.catch_up_exact(c, sim.now) is None


def test_an_image_viewer_ends_exact_and_skips_other_pictures_of_that_frame() -> None:
    sim = Sim(video=False)
    v = sim.join("a")
    other = sim.join("jpeg-only", exact=False)
    sim.rest(v, other)
    assert kinds(sim.sent["a"]) == ["idr", "exact"]  # (image units count as keyframes)
    assert kinds(sim.sent["jpeg-only"]) == ["idr", "still"]
    sim.ack_all(v)
    # the newest JPEG of that frame is not drawn over its exact picture
    assert sim.group.catch_up(v, sim.now) is None
    v.reset()  # it lost its picture (a resize): the exact one may come again
    assert sim.group.catch_up_exact(v, sim.now) is not None


async def test_who_asks_for_exact_stills() -> None:
    s = Stream("cam", StreamOptions(width=64, height=48))

    def open_(supported: list[str], features: frozenset[str] = frozenset()) -> Viewer:
        return s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(), supported=supported,
                             features=features).viewer  # fmt: skip

    assert open_([JPEG, protocol.CAP_PNG]).exact_stills  # an image viewer that decodes PNG
    assert not open_([JPEG]).exact_stills
    assert open_([JPEG], frozenset({"exact_still"})).exact_stills  # it said so
    hello = protocol.parse_client_message(
        '{"type":"hello","supported":["image/jpeg"],"features":["exact_still","x"]}'
    )
    assert isinstance(hello, protocol.Hello) and hello.features == frozenset({"exact_still"})
    await s.aclose(1.0)


def test_channel_parts_are_at_most_64_kib_and_rejoin() -> None:
    message = bytes(range(256)) * 1100  # 281,600 bytes
    parts = protocol.channel_parts(message, 7)
    assert len(parts) == 5 and all(len(p) <= protocol.CHANNEL_PART_MAX for p in parts)
    assert [p[:8] for p in parts[:2]] == [b"\x07\0\0\0\0\0\x05\0", b"\x07\0\0\0\x01\0\x05\0"]
    assert b"".join(p[8:] for p in parts) == message
    assert protocol.channel_parts(b"", 1) == [b"\x01\0\0\0\0\0\x01\0"]
