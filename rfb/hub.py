"""Hub: the registry of viewers and encoder groups, shared by every transport.

Transports attach a viewer with a link (how to send it a unit) and report what the
viewer says; the hub routes frames to groups, units to links and wakes pumps when
credit returns. Runs on the event loop thread only.

Adaptation: each capability has a quality ladder (session/ladder.py), and each rung in
use is one encoder group. Every ``ADAPT_INTERVAL_S`` the hub asks each viewer's
RungPolicy (session/adapt.py) which rung it should be on, from that viewer's
BandwidthEstimator; a move to another rung is made at a keyframe of the new rung
(EncoderGroup candidates), and a rung nobody is on, or moving to, is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from . import encoders, protocol
from .encoders.base import EncoderSettings
from .frames import Frame
from .pump import GroupPump
from .session import EncodedUnit, EncoderGroup, GroupKey, Viewer
from .session import ladder as ladders
from .session.adapt import AdaptConfig, RungPolicy
from .session.totals import Totals

if TYPE_CHECKING:
    from .options import StreamOptions

log = logging.getLogger("rfb")

ADAPT_INTERVAL_S = 0.2
RECORDER = "record"  # a link's ``transport`` for a recording: a consumer, not a viewer
RELAY = "rtp"  # ... and for an RTP relay (rfb/relay.py)
CONSUMERS = frozenset({RECORDER, RELAY})
PACE_MIN, PACE_MAX, PACE_OVER_ESTIMATE = 1.5, 3.0, 1.2
PROBE_GAIN = 2.0  # below the top rung, packets may leave at this many times the estimate
PROBE_FIT = 0.5  # ... but no faster than the top rung needs to fit clearly (AdaptConfig.clear)


def _bps(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e6:.2f}M"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{1000 * x:.0f} ms"


def pacing_rate(
    cost_bps: float, capacity_bps: float | None, probe_for_bps: float | None = None
) -> float:
    """What a paced link (WebRTC) may send at: a little over the path's estimate, so a
    keyframe leaves no faster than the bottleneck drains it, but never so near the rung's
    own rate that a keyframe waits long, nor so far above it that pacing means nothing.

    ``probe_for_bps``: the top rung's cost, for a viewer below it on an uncongested path.
    Packets then leave up to PROBE_GAIN x the estimate (enough for the top rung to fit
    clearly, no more): a path slower than that spreads the next keyframe out and keeps
    the estimate where it is, a faster one lets it through as sent and raises it. Paced
    at the estimate, no keyframe could ever show a path above it."""
    ceiling = PACE_MAX * cost_bps
    if capacity_bps is None:
        return ceiling
    rate = max(PACE_MIN * cost_bps, min(ceiling, PACE_OVER_ESTIMATE * capacity_bps))
    if probe_for_bps is not None:
        probe = min(ceiling, PROBE_GAIN * capacity_bps, probe_for_bps / PROBE_FIT)
        rate = max(rate, probe)
    return rate


class ConsumerLink:
    """A consumer's side of the hub (a recording, a relay): ``take`` gets every unit, and
    the credit goes back at once, so a consumer never holds its group back."""

    def __init__(self, transport: str, hub: Hub,
                 take: Callable[[Viewer, int, EncodedUnit], None]) -> None:  # fmt: skip
        self.transport = transport
        self._hub = hub
        self._take = take

    def send_unit(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
        asyncio.get_running_loop().call_soon(self._hub.delivered, viewer.id, seq)
        self._take(viewer, seq, unit)


class ViewerLink(Protocol):
    """What a transport gives the hub: a way to send one encoded unit, never blocking.

    The transport calls ``Hub.written(viewer_id)`` once the unit has left (or was dropped).
    A link may also have ``backlog_bytes() -> int`` (bytes handed to it and not yet on the
    wire) and ``outstanding_since() -> float | None`` (the send time of the oldest unit
    the viewer has not confirmed), which adaptation reads, and
    ``set_pacing_rate(bps, now)``, which adaptation calls with pacing_rate().
    """

    def send_unit(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None: ...


@dataclass(eq=False, slots=True)
class _Entry:
    viewer: Viewer
    link: ViewerLink
    capability: str
    allowed: tuple[int, ...]  # ladder rungs this viewer may use, top first
    rung: int  # the rung whose group it is in
    target: int | None = None  # the rung it is moving to
    policy: RungPolicy | None = None
    settings: EncoderSettings | None = None  # its own encoder settings, off the ladder

    @property
    def consumer(self) -> bool:
        """A consumer (a recording, a relay), not a viewer."""
        return getattr(self.link, "transport", None) in CONSUMERS


class Hub:
    def __init__(
        self, options: StreamOptions, clock: Callable[[], float], adapt: AdaptConfig | None = None
    ) -> None:
        self.options = options
        self.settings = options.encoder_settings()  # the top rung's
        self.adapt_config = adapt or AdaptConfig()
        self._clock = clock
        self._ids = itertools.count(1)
        self.groups: dict[GroupKey, tuple[EncoderGroup, GroupPump]] = {}
        self._viewers: dict[str, _Entry] = {}
        self._ladders: dict[str, ladders.Ladder] = {}
        self._closing_pumps: set[asyncio.Task[None]] = set()
        self._adapt_task: asyncio.Task[None] | None = None
        self.latest: Frame | None = None
        self.totals = Totals()  # counts since start, for /metrics

    # -- the ladder -------------------------------------------------------------------

    def ladder(self, capability: str) -> ladders.Ladder:
        lad = self._ladders.get(capability)
        if lad is None:
            o = self.options
            is_video = encoders.spec_for(capability).is_video
            if not o.adaptive:
                lad = ladders.single(self.settings, is_video)
            elif is_video:
                lad = ladders.video_ladder(
                    self.settings, o.width, o.height, min_bitrate=o.min_bitrate,
                    max_rungs=o.max_rungs,
                )  # fmt: skip
            else:
                lossless = capability == protocol.CAP_PNG
                lad = ladders.image_ladder(self.settings, lossless=lossless,
                                           max_rungs=o.max_rungs)  # fmt: skip
            self._ladders[capability] = lad
        return lad

    def _key(self, capability: str, rung: int) -> GroupKey:
        return GroupKey(capability, self.ladder(capability)[rung])

    def _entry_key(self, entry: _Entry, rung: int) -> GroupKey:
        if entry.settings is not None:
            return GroupKey(entry.capability, entry.settings)
        return self._key(entry.capability, rung)

    def _entry_group(self, entry: _Entry, rung: int) -> EncoderGroup | None:
        found = self.groups.get(self._entry_key(entry, rung))
        return found[0] if found else None

    def _frame_size(self) -> tuple[int, int]:
        if self.latest is not None:
            return self.latest.size
        return self.options.width, self.options.height

    def rung_costs(self, entry: _Entry) -> list[float] | None:
        """Bits per second each allowed rung needs; None while unknown (images: until the
        viewer's group has made a few pictures)."""
        lad = self.ladder(entry.capability)
        w, h = self._frame_size()
        if lad.is_video:
            return [float(lad.bitrate(i, w, h)) for i in entry.allowed]
        group = self._group(entry.capability, entry.rung)
        if group is None or len(group.unit_bytes) < 3:
            return None
        fps = self.options.fps
        per_unit = 8 * sum(group.unit_bytes) / len(group.unit_bytes)
        top = per_unit * fps / max(1e-6, lad.relative_cost(entry.rung))
        return [top * lad.relative_cost(i) for i in entry.allowed]

    # -- viewers ----------------------------------------------------------------------

    def attach(
        self,
        capability: str,
        link: ViewerLink,
        max_inflight: int | None = None,
        *,
        scaled_frames: bool = False,
        acks_measure_path: bool = True,
        start_bitrate: float | None = None,
        settings: EncoderSettings | None = None,
        adaptive: bool = True,
        takes_stills: bool = True,
        rung: int | None = None,
    ) -> Viewer:
        """A new viewer of ``capability``. ``scaled_frames``: it draws pictures smaller
        than the frame at the frame's size (and maps input to frame pixels), so it may be
        given rungs that scale; ``acks_measure_path``: see Viewer; ``start_bitrate``
        (video): start on the highest rung that needs no more, and climb from there.
        ``settings``: its own encoder settings instead of the ladder (a recording at
        another quality); viewers with equal settings still share one encoder.
        ``adaptive=False``: held on the top rung. ``takes_stills``: see Viewer.
        ``rung``: held on that rung of the ladder (its last, where there are fewer), any
        size (a relay)."""
        spec = encoders.spec_for(capability)
        viewer = Viewer(
            f"v{next(self._ids)}",
            capability,
            is_video=spec.is_video,
            max_inflight=max_inflight or self.options.max_inflight,
            frame_rate=self.options.fps,
            acks_measure_path=acks_measure_path,
            takes_stills=takes_stills,
        )
        lad = self.ladder(capability)
        allowed = tuple(i for i, r in enumerate(lad.rungs) if scaled_frames or r.scale >= 1.0)
        if rung is not None:
            if rung < 0:
                raise ValueError(f"rung is 0 (the top) or more, got {rung}")
            allowed = (min(rung, len(lad) - 1),)
        elif settings is not None or not adaptive:
            allowed = allowed[:1]  # its own settings, or held on the top rung
        start = 0
        if start_bitrate is not None and lad.is_video and len(allowed) > 1:
            w, h = self._frame_size()
            costs = [lad.bitrate(i, w, h) for i in allowed]
            start = next((k for k, c in enumerate(costs) if c <= start_bitrate), len(costs) - 1)
        entry = _Entry(viewer, link, capability, allowed, rung=allowed[start], settings=settings)
        if len(allowed) > 1:
            entry.policy = RungPolicy(len(allowed), self.adapt_config, start=start)
            self._start_adapting()
        group, pump = self._group_and_pump(capability, entry.rung, settings)
        group.add(viewer, self._clock())
        self._viewers[viewer.id] = entry
        # May send at once (a newest unit it can start from), before attach() returns:
        # links get the viewer with every unit for that reason.
        self._catch_up(group, viewer)
        pump.wake()
        return viewer

    def detach(self, viewer_id: str) -> list[asyncio.Task[None]]:
        """Remove a viewer; returns the closing of groups it was the last one in (await
        them to know their encoders are closed)."""
        entry = self._viewers.pop(viewer_id, None)
        if entry is None:
            return []
        self.totals.retire_viewer(entry.viewer)
        closing = [self._leave(entry, entry.rung)]
        if entry.target is not None:
            closing.append(self._leave(entry, entry.target))
        if not self._viewers and self._adapt_task is not None:
            self._adapt_task.cancel()  # nobody left to adapt for; the next attach restarts it
            self._adapt_task = None
        return [t for t in closing if t is not None]

    def _leave(self, entry: _Entry, rung: int) -> asyncio.Task[None] | None:
        key = self._entry_key(entry, rung)
        found = self.groups.get(key)
        if found is None:
            return None
        group, pump = found
        group.remove(entry.viewer.id)
        if group.empty:
            del self.groups[key]
            self.totals.retire_group(group)
            task = asyncio.get_running_loop().create_task(pump.aclose())
            self._closing_pumps.add(task)
            task.add_done_callback(self._closing_pumps.discard)
            return task
        pump.wake()
        return None

    def _group(self, capability: str, rung: int) -> EncoderGroup | None:
        found = self.groups.get(self._key(capability, rung))
        return found[0] if found else None

    def _group_and_pump(
        self, capability: str, rung: int, settings: EncoderSettings | None = None
    ) -> tuple[EncoderGroup, GroupPump]:
        key = self._key(capability, rung) if settings is None else GroupKey(capability, settings)
        found = self.groups.get(key)
        if found is not None:
            return found
        spec = encoders.spec_for(capability)
        fps = key.settings.fps
        max_fps = min(self.options.fps, fps)
        group = EncoderGroup(
            key,
            is_video=spec.is_video,
            encoder_name=spec.name,
            max_fps=max_fps,
            keyframe_interval_s=key.settings.keyframe_interval_s,
            keyframe_min_interval_s=self.options.keyframe_min_interval_s,
            still_after_s=self.options.still_after,
            rung=rung,
        )
        if self.latest is not None:
            group.publish(self.latest)
        pump = GroupPump(group, clock=self._clock, on_unit=self._deliver)
        self.groups[key] = (group, pump)
        return group, pump

    @property
    def viewer_count(self) -> int:
        """Viewers on every transport; recordings are not viewers."""
        return sum(not e.consumer for e in self._viewers.values())

    @property
    def recording_count(self) -> int:
        return sum(getattr(e.link, "transport", None) == RECORDER for e in self._viewers.values())

    def live_viewers(self) -> list[Viewer]:
        return [e.viewer for e in self._viewers.values() if not e.consumer]

    def live_groups(self) -> list[EncoderGroup]:
        return [g for g, _ in self.groups.values()]

    def live_viewer_links(self) -> list[tuple[str, str]]:
        """(viewer id, transport) of every viewer (recorders aside)."""
        return [(vid, getattr(e.link, "transport", "other"))
                for vid, e in self._viewers.items() if not e.consumer]  # fmt: skip

    def viewers_by_transport(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self._viewers.values():
            name = getattr(e.link, "transport", "other")
            out[name] = out.get(name, 0) + 1
        return out

    def viewer(self, viewer_id: str) -> Viewer | None:
        entry = self._viewers.get(viewer_id)
        return entry.viewer if entry else None

    def group_of(self, viewer_id: str) -> EncoderGroup | None:
        entry = self._viewers.get(viewer_id)
        return self._entry_group(entry, entry.rung) if entry else None

    # -- rungs --------------------------------------------------------------------------

    def move(self, viewer_id: str, rung: int) -> None:
        """Put a viewer on ``rung`` of its ladder: images at once, video at that rung's
        next keyframe (until then it keeps its current rung)."""
        entry = self._viewers.get(viewer_id)
        if entry is None or rung == entry.target:
            return
        if rung not in entry.allowed:
            raise ValueError(f"rung {rung} is not one of {entry.allowed} for {viewer_id}")
        if entry.target is not None:  # a move that has not happened yet is called off
            target, entry.target = entry.target, None
            self._leave(entry, target)
        if rung == entry.rung:
            return
        viewer, now = entry.viewer, self._clock()
        group, pump = self._group_and_pump(entry.capability, rung)
        if viewer.is_video:
            entry.target = rung
            group.add_candidate(viewer, now)
        else:  # every picture stands alone: move now
            old = entry.rung
            entry.rung = rung
            group.add(viewer, now)
            self._leave(entry, old)
            self._catch_up(group, viewer)
        if entry.policy is not None:
            entry.policy.rung = entry.allowed.index(rung)
        pump.wake()

    def pin(self, viewer_id: str, rung: int | None) -> None:
        """Hold a viewer on ``rung`` of its ladder whatever its path says (None: adapt
        again from where it is). For tests, demos and a user's own quality control."""
        entry = self._viewers.get(viewer_id)
        if entry is None:
            return
        if rung is None:
            if entry.policy is None and len(entry.allowed) > 1:
                entry.policy = RungPolicy(len(entry.allowed), self.adapt_config)
                current = entry.target if entry.target is not None else entry.rung
                entry.policy.rung = entry.allowed.index(current)
            return
        entry.policy = None
        self.move(viewer_id, rung)

    def _joined(self, group: EncoderGroup) -> None:
        """Candidates that took ``group``'s keyframe now belong to it only."""
        for viewer in group.take_joined():
            entry = self._viewers.get(viewer.id)
            if entry is None or entry.target != group.rung:
                continue
            old, entry.rung, entry.target = entry.rung, group.rung, None
            self._leave(entry, old)

    def _start_adapting(self) -> None:
        if self._adapt_task is None or self._adapt_task.done():
            self._adapt_task = asyncio.get_running_loop().create_task(
                self._adapt_loop(), name="rfb-adapt"
            )

    async def _adapt_loop(self) -> None:
        while True:
            await asyncio.sleep(ADAPT_INTERVAL_S)
            try:
                self.adapt()
            except Exception:  # a bug in one round must not end adaptation for everyone
                log.exception("rfb: adaptation round failed")

    def adapt(self) -> None:
        """One round of rung decisions (the loop runs it every ADAPT_INTERVAL_S)."""
        now = self._clock()
        for viewer_id, entry in list(self._viewers.items()):
            if entry.policy is None:
                continue
            viewer, link = entry.viewer, entry.link
            backlog = getattr(link, "backlog_bytes", None)
            if backlog is not None:
                viewer.estimator.on_backlog(now, backlog())
            outstanding = getattr(link, "outstanding_since", None)
            since = outstanding() if outstanding is not None else viewer.oldest_unacked_at()
            viewer.estimator.on_outstanding(now, since)
            costs = self.rung_costs(entry)
            if costs is None:
                continue
            decision = entry.policy.decide(viewer.estimator, costs, now)
            want = entry.allowed[decision.rung]
            if want != (entry.target if entry.target is not None else entry.rung):
                log.info("rfb: %s rung %d -> %d (%s; capacity %s, queue %s, remb %s, loss %.2f)",
                         viewer_id, entry.rung, want, decision.reason,
                         _bps(decision.capacity_bps), _ms(decision.queue_delay_s),
                         _bps(viewer.estimator.remb_bps), viewer.estimator.loss(now))  # fmt: skip
                self.move(viewer_id, want)
            pace = getattr(link, "set_pacing_rate", None)
            if pace is not None:
                probe = costs[0] if decision.rung > 0 and not decision.congested else None
                pace(pacing_rate(costs[decision.rung], decision.capacity_bps, probe), now)

    def adaptation(self, viewer_id: str) -> dict[str, Any]:
        """The figures of one viewer's adaptation, for stats and /metrics."""
        entry = self._viewers.get(viewer_id)
        if entry is None:
            return {}
        lad = self.ladder(entry.capability)
        w, h = self._frame_size()
        cw, ch = lad.coded_size(entry.rung, w, h)
        rung = lad[entry.rung]
        policy = entry.policy
        if policy is not None and policy.last is not None:
            # what the last decision went on (the policy smooths the raw estimate)
            capacity, queue = policy.last.capacity_bps, policy.last.queue_delay_s
        else:
            est, now = entry.viewer.estimator, self._clock()
            capacity, queue = est.capacity_bps(now), est.queue_delay(now)
        out: dict[str, Any] = {
            "rung": entry.allowed.index(entry.rung),
            "rungs": len(entry.allowed),
            "target_rung": None if entry.target is None else entry.allowed.index(entry.target),
            "rung_width": cw,
            "rung_height": ch,
            "rung_fps": rung.fps,
            "rung_bitrate": lad.bitrate(entry.rung, w, h) if lad.is_video else None,
            "rung_quality": None if lad.is_video else rung.quality,
            "estimate_bps": None if capacity is None else round(capacity),
            "queue_ms": None if queue is None else round(1000 * queue, 1),
            "rung_switches": policy.switches if policy else 0,
            "adapt_reason": policy.last.reason if policy and policy.last else None,
        }
        return out

    # -- frames -----------------------------------------------------------------------

    def publish(self, frame: Frame) -> None:
        self.latest = frame
        for group, pump in self.groups.values():
            group.publish(frame)
            pump.wake()

    def _send(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
        viewer.backlog += 1
        viewer.estimator.on_sent(self._clock(), len(unit.data))
        self._viewers[viewer.id].link.send_unit(viewer, seq, unit)

    def _deliver(self, group: EncoderGroup, unit: EncodedUnit) -> None:
        self.totals.observe_encode(unit.encode_ms)
        sent = group.deliver(unit, self._clock())
        self._joined(group)
        for viewer, seq in sent:
            if viewer.id in self._viewers:
                self._send(viewer, seq, unit)

    def _catch_up(self, group: EncoderGroup, viewer: Viewer) -> None:
        seq = group.catch_up(viewer, self._clock())
        if seq is not None and group.latest_unit is not None:
            self._send(viewer, seq, group.latest_unit)

    # -- what viewers say ---------------------------------------------------------------

    def _credit_changed(self, viewer_id: str) -> None:
        entry = self._viewers.get(viewer_id)
        if entry is None:
            return
        for rung in (entry.rung, entry.target):
            found = None if rung is None else self.groups.get(self._entry_key(entry, rung))
            if found is None:
                continue
            group, pump = found
            if rung == entry.rung and entry.viewer.has_credit:
                self._catch_up(group, entry.viewer)
            pump.wake()

    def ack(
        self,
        viewer_id: str,
        seq: int,
        decode_queue_size: int = 0,
        received_ms: float | None = None,
    ) -> float | None:
        viewer = self.viewer(viewer_id)
        if viewer is None:
            return None
        received = None if received_ms is None else received_ms / 1000.0
        latency = viewer.on_ack(seq, self._clock(), decode_queue_size, received)
        self._credit_changed(viewer_id)
        return latency

    def written(self, viewer_id: str) -> None:
        viewer = self.viewer(viewer_id)
        if viewer is not None:
            viewer.backlog = max(0, viewer.backlog - 1)
            self._credit_changed(viewer_id)

    def delivered(self, viewer_id: str, seq: int) -> None:
        """Written and acked at once (WebRTC: on the wire counts as delivered)."""
        viewer = self.viewer(viewer_id)
        if viewer is not None:
            viewer.backlog = max(0, viewer.backlog - 1)
            viewer.on_ack(seq, self._clock())
            self._credit_changed(viewer_id)

    def shown(
        self,
        viewer_id: str,
        published_at: float,
        sent_at: float | None = None,
        nbytes: int = 0,
        received_ms: float | None = None,
        send_spread: float | None = None,
    ) -> None:
        """WebRTC: the browser drew a frame published at ``published_at`` (sent at
        ``sent_at``, ``nbytes`` long, its packets leaving over ``send_spread`` seconds,
        received at ``received_ms`` on the browser's clock: a delivery for the path
        estimate)."""
        viewer = self.viewer(viewer_id)
        if viewer is not None:
            received = None if received_ms is None else received_ms / 1000.0
            viewer.on_shown(published_at, self._clock(), sent_at, nbytes, received, send_spread)

    def reset(self, viewer_id: str) -> None:
        """decoder_reset or request_keyframe: restart this viewer at the next keyframe."""
        entry = self._viewers.get(viewer_id)
        if entry is None:
            return
        entry.viewer.stats.keyframe_requests += 1
        entry.viewer.reset()
        group = self._entry_group(entry, entry.rung)
        if group is not None:
            group.request_keyframe(self._clock())
        self._credit_changed(viewer_id)

    # -- figures and shutdown -----------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        return {
            "viewers": [
                {**e.viewer.metrics(), **self.adaptation(vid)} for vid, e in self._viewers.items()
            ],
            "groups": [g.metrics() for g, _ in self.groups.values()],
            "open_encoders": encoders.open_encoder_count(),
        }

    async def aclose(self) -> None:
        if self._adapt_task is not None:
            self._adapt_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._adapt_task
        pumps = [p for _, p in self.groups.values()]
        self.groups.clear()
        self._viewers.clear()
        await asyncio.gather(*(p.aclose() for p in pumps), *self._closing_pumps)
