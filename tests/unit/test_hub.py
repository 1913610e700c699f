"""The hub's async shell carries out what routing decides: a pump per group and closed
with it, units to links, credit back from consumers at once, pacing rates set on links.
Real pumps and encoders on small frames, a clock the test moves; no sockets."""

from __future__ import annotations

import asyncio

import pytest

from rfb import encoders, patterns, protocol
from rfb.frames import Frame
from rfb.hub import ConsumerLink, Hub
from rfb.options import StreamOptions
from rfb.rtp.pacer import pacing_rate
from rfb.session import EncodedUnit
from rfb.session.links import LinkKind

from support.clock import Clock
from support.links import KeepingLink
from support.small_hub import H, W, until
from support.small_hub import small_frame as frame
from support.small_hub import small_hub as hub


class PacedLink(KeepingLink):
    kind = LinkKind.WEBRTC

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[tuple[float, float]] = []

    def set_pacing_rate(self, bps: float, now: float) -> None:
        self.rates.append((bps, now))


async def closed(tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def test_a_consumer_takes_every_unit_while_a_stuck_viewer_takes_one() -> None:
    clock = Clock()
    h = hub(clock, adaptive=False)
    took: list[EncodedUnit] = []
    consumer = ConsumerLink(LinkKind.RECORDING, h, lambda v, seq, unit: took.append(unit))
    h.attach(protocol.CAP_JPEG, consumer, max_inflight=1, takes_stills=False)
    stuck = KeepingLink()
    h.attach(protocol.CAP_JPEG, stuck, max_inflight=1)
    assert len(h.live_groups()) == 1  # one encoder for both
    assert h.viewer_count == 1 and h.recording_count == 1
    for i in range(1, 6):
        clock.now += 0.1
        h.publish(frame(i, clock))
        await until(lambda i=i: len(took) == i)
    assert [u.frame_id for u in took] == [1, 2, 3, 4, 5]  # nothing confirmed, none held back
    assert [u.frame_id for u in stuck.got] == [1]  # a viewer waits for its credit
    await h.aclose()


async def test_a_group_nobody_is_in_is_closed_with_its_encoder() -> None:
    clock = Clock()
    h = hub(clock, adaptive=False)
    base = encoders.open_encoder_count()
    a, b = KeepingLink(), KeepingLink()
    va = h.attach(protocol.CAP_JPEG, a)
    vb = h.attach(protocol.CAP_PNG, b)
    clock.now += 0.1
    h.publish(frame(1, clock))
    await until(lambda: bool(a.got) and bool(b.got))
    assert {g.key.capability for g in h.live_groups()} == {protocol.CAP_JPEG, protocol.CAP_PNG}
    await closed(h.detach(va.id))
    assert [g.key.capability for g in h.live_groups()] == [protocol.CAP_PNG]
    assert h.detach(va.id) == []  # twice: nothing more
    await closed(h.detach(vb.id))
    assert not h.groups and encoders.open_encoder_count() == base
    await h.aclose()


async def test_an_image_viewer_pinned_to_a_rung_moves_at_once() -> None:
    clock = Clock()
    h = hub(clock)
    first = KeepingLink()
    v = h.attach(protocol.CAP_JPEG, first)
    clock.now += 0.1
    h.publish(frame(1, clock))
    await until(lambda: bool(first.got))
    h.pin(v.id, 2)  # images move at once: the new rung has made nothing yet
    group = h.group_of(v.id)
    assert group is not None and group.rung == 2
    await until(lambda: len(first.got) == 2)  # the same frame, from the rung-2 encoder
    assert [g.rung for g in h.live_groups()] == [2]  # the top rung's encoder is gone
    await h.aclose()


async def test_an_adaptation_round_sets_the_pacing_rate_of_paced_links() -> None:
    clock = Clock()
    h = hub(clock)
    paced, plain = PacedLink(), KeepingLink()
    v = h.attach(protocol.CAP_H264, paced, scaled_frames=True)
    h.attach(protocol.CAP_H264, plain, scaled_frames=True)
    clock.now = 1.5
    h.adapt()
    # Nothing measured yet: the top rung, paced at its ceiling.
    top = h.ladder(protocol.CAP_H264).bitrate(0, W, H)
    assert paced.rates == [(pytest.approx(pacing_rate(top, None)), 1.5)]
    assert h.adaptation(v.id)["rung"] == 0
    await h.aclose()


async def test_attach_outside_the_event_loop_leaves_no_trace() -> None:
    clock = Clock()
    h = hub(clock)

    def attach() -> None:
        h.attach(protocol.CAP_JPEG, KeepingLink())

    with pytest.raises(RuntimeError):
        await asyncio.to_thread(attach)
    assert not h.groups and h.viewer_count == 0
    await h.aclose()


async def test_a_link_can_be_sent_to_before_attach_returns() -> None:
    """A late joiner may get the newest keyframe at once, inside attach()."""
    import time

    hub = Hub(StreamOptions(width=1280, height=720, adaptive=False, still_after=None),
              time.monotonic)  # fmt: skip
    first = KeepingLink()
    v1 = hub.attach(protocol.CAP_JPEG, first)
    display_frame = Frame(patterns.test_card(64, 64, 0), 1, 0, time.monotonic())
    hub.publish(display_frame)
    async with asyncio.timeout(5):
        while not first.sent:
            await asyncio.sleep(0.01)
    assert first.sent[0][0] is v1
    late = KeepingLink()
    v2 = hub.attach(protocol.CAP_JPEG, late)
    assert late.sent and late.sent[0][0] is v2 and late.sent[0][1] == 0  # inside attach()
    await hub.aclose()


async def test_a_large_audience_is_adapted_a_slice_at_a_time_each_viewer_every_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """120 viewers: rounds of at most ADAPT_SLICE, spread over ADAPT_INTERVAL_S, so the
    loop is never held for everyone at once; yet each viewer is decided every interval,
    and one that leaves is decided no more."""
    from rfb import hub as hub_module

    clock = Clock()
    h = hub(clock)
    rounds: list[list[str]] = []
    decide = h.routing.adapt

    def recording(now, readings=None, entries=None):  # type: ignore[no-untyped-def]
        rounds.append([e.viewer.id for e in entries or []])
        decide(now, readings, entries)

    monkeypatch.setattr(h.routing, "adapt", recording)
    monkeypatch.setattr(hub_module, "ADAPT_INTERVAL_S", 0.06)
    viewers = [h.attach(protocol.CAP_JPEG, KeepingLink()) for _ in range(120)]
    await until(lambda: len(rounds) >= 6)  # two intervals, three slices each
    assert all(0 < len(r) <= hub_module.ADAPT_SLICE for r in rounds[:6])
    for interval in (rounds[:3], rounds[3:6]):
        decided = [vid for r in interval for vid in r]
        assert sorted(decided) == sorted(v.id for v in viewers)  # each once an interval
    gone = viewers[0].id
    await closed(h.detach(gone))
    start = len(rounds)
    await until(lambda: len(rounds) >= start + 6)
    assert all(gone not in r for r in rounds[start:])  # not even in the cycle it left in
    await h.aclose()
