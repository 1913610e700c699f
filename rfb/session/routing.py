"""Routing: which encoder group each viewer is in, and which rung it should be on.

The decisions behind the hub (rfb/hub.py), without its I/O: the registry of viewers
(``Entry``) and of the encoder groups they share, the quality ladder of each capability,
what each rung costs, the rung a new viewer starts on, rung moves, and each adaptation
round (who moves to which rung, which groups nobody is in any more, what rate each paced
link may send at: rtp/pacer.py's ``pacing_rate``).

Sans I/O: every call that needs the time takes ``now``; nothing here sends, sleeps or
starts a task. What the hub's async shell must carry out collects in ``Effects`` (start
a pump for a new group, close the pump of one nobody is in, wake a pump, hand a unit to
a viewer's link, set a link's pacing rate), which the shell takes after every call with
``take_effects()``, also after a call that raised half way: a group is never left
without its pump, nor a pump without its group.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from .. import encoders, protocol
from ..encoders.base import CHROMA_420, EncoderSettings, target_bitrate
from ..frames import Frame
from ..rtp.pacer import pacing_rate
from . import ladder as ladders
from .adapt import AdaptConfig, Decision, RungPolicy
from .group import EncoderGroup
from .links import LinkKind
from .units import EncodedUnit, GroupKey
from .viewer import Viewer

if TYPE_CHECKING:
    from ..options import StreamOptions

# Image rungs are priced from the units their group made: fewer than this say too little.
MIN_UNITS_FOR_COST = 3


# Video rung costs are kept for at most this many (rungs, frame size) pairs.
_MAX_COST_KEYS = 64

# The scene is at rest once nothing new was published for still_after (or this long,
# where there are no stills): rungs are held then (RungPolicy.decide's ``resting``).
REST_S = 0.5


class AttachOptions(TypedDict, total=False):
    """How a viewer joins: Hub.attach's, Routing.attach's and Stream.open_viewer's keywords.

    ``max_inflight``: units it may hold unconfirmed (None: the stream's). ``scaled_frames``:
    it draws pictures smaller than the frame at the frame's size (and maps input to frame
    pixels), so it may be given rungs that scale. ``acks_measure_path``: see Viewer.
    ``start_bitrate`` (video): start on the highest rung that needs no more, and climb from
    there. ``settings``: its own encoder settings instead of the ladder (a recording at
    another quality); viewers with equal settings still share one encoder.
    ``adaptive=False``: held on the top rung. ``takes_stills``: see Viewer. ``rung``: held
    on that rung of the ladder (its last, where there are fewer), any size (a relay).
    ``exact_stills``: it takes the resting frame bit-exact (see Viewer).
    ``chroma`` (H.264): "420" (the default) or "444", from session/chroma.py's viewer_chroma;
    every rung it moves to is encoded in it.
    """

    max_inflight: int | None
    scaled_frames: bool
    acks_measure_path: bool
    start_bitrate: float | None
    settings: EncoderSettings | None
    adaptive: bool
    takes_stills: bool
    rung: int | None
    chroma: str
    exact_stills: bool


@dataclass(eq=False, slots=True)
class Entry:
    """One viewer (or consumer) in the registry."""

    viewer: Viewer
    capability: str
    allowed: tuple[int, ...]  # ladder rungs this viewer may use, top first
    rung: int  # the rung whose group it is in
    kind: LinkKind  # its link's: a viewer's transport, or a consumer
    target: int | None = None  # the rung it is moving to
    policy: RungPolicy | None = None  # None: held where it is
    settings: EncoderSettings | None = None  # its own encoder settings, off the ladder
    chroma: str = CHROMA_420  # H.264: its rungs in 4:2:0 or 4:4:4 (session/chroma.py)

    @property
    def consumer(self) -> bool:
        """A consumer (a recording, a relay), not a viewer."""
        return self.kind.consumer


@dataclass(frozen=True, slots=True)
class LinkReading:
    """What a viewer's link says at an adaptation round."""

    backlog_bytes: int | None = None  # handed to the link, not on the wire; None: not known
    outstanding_since: float | None = None  # send time of the oldest unit not yet confirmed
    paced: bool = False  # the link paces its packets and takes a pacing rate


@dataclass(frozen=True, slots=True)
class Move:
    """An adaptation round moved a viewer from ``rung`` towards ``to`` (ladder indices)."""

    viewer_id: str
    rung: int
    to: int
    decision: Decision


@dataclass(slots=True)
class Effects:
    """What the async shell must carry out, in this order."""

    opened: list[EncoderGroup] = field(default_factory=list)  # start a pump for each
    closed: list[EncoderGroup] = field(default_factory=list)  # nobody in it: close its pump
    sends: list[tuple[Viewer, int, EncodedUnit]] = field(default_factory=list)  # to links
    woken: list[EncoderGroup] = field(default_factory=list)  # its pump should look again
    moves: list[Move] = field(default_factory=list)  # made by adapt(), for the log
    pacing: dict[str, float] = field(default_factory=dict)  # viewer id -> bps for its link


# -- pure rules ------------------------------------------------------------------------------


def allowed_rungs(
    lad: ladders.Ladder,
    *,
    scaled_frames: bool = False,
    rung: int | None = None,
    own_settings: bool = False,
    adaptive: bool = True,
) -> tuple[int, ...]:
    """The ladder rungs a viewer may use, top first: those at full size unless it draws
    scaled pictures at the frame's size; one rung when it is held (``rung``: that one, or
    the last where there are fewer; its own settings or not adaptive: the top)."""
    if rung is not None:
        if rung < 0:
            raise ValueError(f"rung is 0 (the top) or more, got {rung}")
        return (min(rung, len(lad) - 1),)
    allowed = tuple(i for i, r in enumerate(lad.rungs) if scaled_frames or r.scale >= 1.0)
    return allowed[:1] if own_settings or not adaptive else allowed


def start_rung(
    lad: ladders.Ladder,
    allowed: tuple[int, ...],
    frame_size: tuple[int, int],
    start_bitrate: float | None,
) -> int:
    """Where in ``allowed`` a viewer starts: video with a ``start_bitrate``, on the
    highest rung that needs no more (the lowest where none fits), else the top."""
    if start_bitrate is None or not lad.is_video or len(allowed) < 2:
        return 0
    w, h = frame_size
    costs = [lad.bitrate(i, w, h) for i in allowed]
    return next((k for k, c in enumerate(costs) if c <= start_bitrate), len(costs) - 1)


def rung_costs(
    lad: ladders.Ladder,
    allowed: tuple[int, ...],
    rung: int,
    frame_size: tuple[int, int],
    *,
    fps: float,
    unit_bytes: Collection[int] = (),
) -> list[float] | None:
    """Bits per second each of ``allowed`` needs. Video: the ladder's bitrates at this
    frame size. Images: scaled from the recent ``unit_bytes`` of the group on ``rung``
    by the ladder's relative costs; None until there are MIN_UNITS_FOR_COST of them."""
    if lad.is_video:
        w, h = frame_size
        return [float(lad.bitrate(i, w, h)) for i in allowed]
    if len(unit_bytes) < MIN_UNITS_FOR_COST:
        return None
    per_unit = 8 * sum(unit_bytes) / len(unit_bytes)
    top = per_unit * fps / max(1e-6, lad.relative_cost(rung))
    return [top * lad.relative_cost(i) for i in allowed]


# -- the registry ----------------------------------------------------------------------------


class Routing:
    """Viewers, the encoder groups they share and their rungs. See the module docstring."""

    def __init__(self, options: StreamOptions, adapt: AdaptConfig | None = None) -> None:
        self.options = options
        self.settings = options.encoder_settings()  # the top rung's
        self.adapt_config = adapt or AdaptConfig()
        self._ids = itertools.count(1)
        self.entries: dict[str, Entry] = {}
        self.groups: dict[GroupKey, EncoderGroup] = {}
        self.latest: Frame | None = None
        self._ladders: dict[str, ladders.Ladder] = {}
        self._rung_keys: dict[tuple[str, int, str], GroupKey] = {}
        # (capability, allowed rungs, frame size) -> its ladder and the video rungs' costs
        self._video_costs: dict[
            tuple[str, tuple[int, ...], tuple[int, int]], tuple[ladders.Ladder, list[float]]
        ] = {}
        self._fx = Effects()

    def take_effects(self) -> Effects:
        """What the calls since the last take left for the shell to do."""
        fx, self._fx = self._fx, Effects()
        return fx

    # -- the ladder ---------------------------------------------------------------------

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

    def frame_size(self) -> tuple[int, int]:
        if self.latest is not None:
            return self.latest.size
        return self.options.width, self.options.height

    def rung_costs(self, entry: Entry) -> list[float] | None:
        """Bits per second each of the entry's rungs needs; None while unknown (images:
        until its group has made a few pictures)."""
        lad = self.ladder(entry.capability)
        if lad.is_video:
            # The same for every viewer with the same rungs: priced once per frame size,
            # not for each viewer every adaptation round.
            key = (entry.capability, entry.allowed, self.frame_size())
            cached = self._video_costs.get(key)
            if cached is None or cached[0] is not lad:
                if len(self._video_costs) >= _MAX_COST_KEYS:  # a stream resized many times
                    self._video_costs.clear()
                costs = rung_costs(lad, entry.allowed, entry.rung, key[2], fps=self.options.fps)
                assert costs is not None  # video rungs are always priced
                cached = self._video_costs[key] = (lad, costs)
            return list(cached[1])
        group = self.groups.get(self._entry_key(entry, entry.rung))
        return rung_costs(lad, entry.allowed, entry.rung, self.frame_size(), fps=self.options.fps,
                          unit_bytes=() if group is None else group.unit_bytes)  # fmt: skip

    def _entry_key(self, entry: Entry, rung: int) -> GroupKey:
        if entry.settings is not None:
            return self._make_key(entry, rung)
        # Asked for each viewer's credit and each unit: a ladder rung's key is made once
        # (a capability's ladder never changes once built).
        cache = (entry.capability, rung, entry.chroma)
        key = self._rung_keys.get(cache)
        if key is None:
            key = self._rung_keys[cache] = self._make_key(entry, rung)
        return key

    def _make_key(self, entry: Entry, rung: int) -> GroupKey:
        settings = entry.settings or self.ladder(entry.capability)[rung]
        if entry.chroma != settings.chroma and self.ladder(entry.capability).is_video:
            settings = dataclasses.replace(settings, chroma=entry.chroma)
        return GroupKey(entry.capability, settings)

    # -- groups -------------------------------------------------------------------------

    def _open(self, key: GroupKey, rung: int) -> EncoderGroup:
        """The group of ``key``, made (with a pump to start) when there is none."""
        group = self.groups.get(key)
        if group is not None:
            return group
        o = self.options
        spec = encoders.spec_for(key.capability)
        group = EncoderGroup(
            key,
            is_video=spec.is_video,
            encoder_name=spec.name,
            max_fps=min(o.fps, key.settings.fps),
            keyframe_interval_s=key.settings.keyframe_interval_s,
            keyframe_min_interval_s=o.keyframe_min_interval_s,
            still_after_s=o.still_after,
            rung=rung,
        )
        if self.latest is not None:
            group.publish(self.latest)
        self._rung_bps(group)
        self.groups[key] = group
        self._fx.opened.append(group)
        return group

    def _leave(self, entry: Entry, rung: int) -> None:
        """The entry is out of its group on ``rung``; a group left empty is closed."""
        key = self._entry_key(entry, rung)
        group = self.groups.get(key)
        if group is None:
            return
        group.remove(entry.viewer.id)
        if group.empty:
            del self.groups[key]
            self._fx.closed.append(group)
        else:
            self._fx.woken.append(group)

    def group_of(self, viewer_id: str) -> EncoderGroup | None:
        entry = self.entries.get(viewer_id)
        return self.groups.get(self._entry_key(entry, entry.rung)) if entry else None

    def _rung_bps(self, group: EncoderGroup) -> None:
        """The group's rung rate at the frame's size: an exact still's budget before a
        viewer has an estimate."""
        if group.is_video:
            w, h = self.frame_size()
            group.rung_bps = float(target_bitrate(group.key.settings, w, h))

    def _catch_up(self, group: EncoderGroup, viewer: Viewer, now: float) -> None:
        exact = group.catch_up_exact(viewer, now)  # the exact still first, where it is due
        if exact is not None:
            self._fx.sends.append((viewer, *exact))
        seq = group.catch_up(viewer, now)
        if seq is not None and group.latest_unit is not None:
            self._fx.sends.append((viewer, seq, group.latest_unit))

    # -- viewers ------------------------------------------------------------------------

    def attach(
        self, capability: str, kind: LinkKind, now: float, **options: Unpack[AttachOptions]
    ) -> Entry:
        """A new viewer of ``capability`` in its group (``options``: AttachOptions). It
        adapts (``entry.policy``) where it has more than one rung."""
        max_inflight = options.get("max_inflight")
        scaled_frames = options.get("scaled_frames", False)
        acks_measure_path = options.get("acks_measure_path", True)
        start_bitrate = options.get("start_bitrate")
        settings = options.get("settings")
        adaptive = options.get("adaptive", True)
        takes_stills = options.get("takes_stills", True)
        exact_stills = options.get("exact_stills", False)
        rung = options.get("rung")
        spec = encoders.spec_for(capability)
        viewer = Viewer(
            f"v{next(self._ids)}",
            capability,
            is_video=spec.is_video,
            max_inflight=max_inflight or self.options.max_inflight,
            frame_rate=self.options.fps,
            acks_measure_path=acks_measure_path,
            takes_stills=takes_stills,
            exact_stills=exact_stills,
        )
        lad = self.ladder(capability)
        allowed = allowed_rungs(lad, scaled_frames=scaled_frames, rung=rung,
                                own_settings=settings is not None, adaptive=adaptive)  # fmt: skip
        start = start_rung(lad, allowed, self.frame_size(), start_bitrate)
        entry = Entry(viewer, capability, allowed, allowed[start], kind, settings=settings,
                      chroma=options.get("chroma", CHROMA_420))  # fmt: skip
        if len(allowed) > 1:
            entry.policy = RungPolicy(len(allowed), self.adapt_config, start=start)
        group = self._open(self._entry_key(entry, entry.rung), entry.rung)
        group.add(viewer, now)
        self.entries[viewer.id] = entry
        # A newest unit it can start from goes out at once, before attach() returns.
        self._catch_up(group, viewer, now)
        self._fx.woken.append(group)
        return entry

    def detach(self, viewer_id: str) -> Entry | None:
        """Remove a viewer; the groups it was the last one in close."""
        entry = self.entries.pop(viewer_id, None)
        if entry is None:
            return None
        self._leave(entry, entry.rung)
        if entry.target is not None:
            self._leave(entry, entry.target)
        return entry

    def move(self, viewer_id: str, rung: int, now: float) -> None:
        """Put a viewer on ``rung`` of its ladder: images at once, video at that rung's
        next keyframe (until then it keeps its current rung)."""
        entry = self.entries.get(viewer_id)
        if entry is None or rung == entry.target:
            return
        if rung not in entry.allowed:
            raise ValueError(f"rung {rung} is not one of {entry.allowed} for {viewer_id}")
        if entry.target is not None:  # a move that has not happened yet is called off
            target, entry.target = entry.target, None
            self._leave(entry, target)
        if rung == entry.rung:
            return
        viewer = entry.viewer
        group = self._open(self._entry_key(entry, rung), rung)
        if viewer.is_video:
            entry.target = rung
            group.add_candidate(viewer, now)
        else:  # every picture stands alone: move now
            old = entry.rung
            entry.rung = rung
            # The new group numbers its units from its own start: the viewer takes its
            # next picture whatever number the old group had reached.
            viewer.last_unit_index = -1
            group.add(viewer, now)
            self._leave(entry, old)
            self._catch_up(group, viewer, now)
        if entry.policy is not None:
            entry.policy.rung = entry.allowed.index(rung)
        self._fx.woken.append(group)

    def pin(self, viewer_id: str, rung: int | None, now: float) -> None:
        """Hold a viewer on ``rung`` of its ladder whatever its path says (None: adapt
        again from where it is)."""
        entry = self.entries.get(viewer_id)
        if entry is None:
            return
        if rung is None:
            if entry.policy is None and len(entry.allowed) > 1:
                entry.policy = RungPolicy(len(entry.allowed), self.adapt_config)
                current = entry.target if entry.target is not None else entry.rung
                entry.policy.rung = entry.allowed.index(current)
            return
        entry.policy = None
        self.move(viewer_id, rung, now)

    # -- frames and units ---------------------------------------------------------------

    def publish(self, frame: Frame) -> None:
        resized = self.latest is None or self.latest.size != frame.size
        self.latest = frame
        for group in self.groups.values():
            group.publish(frame)
            if resized:
                self._rung_bps(group)
            self._fx.woken.append(group)

    def deliver(self, group: EncoderGroup, unit: EncodedUnit, now: float) -> None:
        """A unit ``group`` made: who takes it; candidates that took its keyframe leave
        their old rung's group."""
        sent = group.deliver(unit, now)
        for viewer in group.take_joined():
            entry = self.entries.get(viewer.id)
            if entry is None or entry.target != group.rung:
                continue
            old, entry.rung, entry.target = entry.rung, group.rung, None
            self._leave(entry, old)
        self._fx.sends += [(viewer, seq, unit) for viewer, seq in sent]

    def credit_changed(self, viewer_id: str, now: float) -> None:
        """The viewer may take more: its group may catch it up, and both its groups'
        pumps look again."""
        entry = self.entries.get(viewer_id)
        if entry is None:
            return
        for rung in (entry.rung, entry.target):
            group = None if rung is None else self.groups.get(self._entry_key(entry, rung))
            if group is None:
                continue
            if rung == entry.rung and entry.viewer.has_credit:
                self._catch_up(group, entry.viewer, now)
            self._fx.woken.append(group)

    def exact_stills(self, viewer_id: str, on: bool, now: float) -> None:
        """The viewer said (later: WebRTC's hello on its data channel) whether it takes
        exact stills."""
        entry = self.entries.get(viewer_id)
        if entry is None or entry.viewer.exact_stills == on:
            return
        entry.viewer.exact_stills = on
        self.credit_changed(viewer_id, now)

    def reset(self, viewer_id: str, now: float) -> None:
        """The viewer lost its place (decoder reset, keyframe request): restart it at its
        group's next keyframe."""
        entry = self.entries.get(viewer_id)
        if entry is None:
            return
        entry.viewer.stats.keyframe_requests += 1
        entry.viewer.reset()
        group = self.groups.get(self._entry_key(entry, entry.rung))
        if group is not None:
            group.request_keyframe(now)
        self.credit_changed(viewer_id, now)

    # -- adaptation ---------------------------------------------------------------------

    def adapting(self, viewer_ids: Iterable[str] | None = None) -> list[Entry]:
        """The entries an adaptation round decides for (the others are held): of every
        viewer, or of ``viewer_ids`` (those gone meanwhile left out)."""
        if viewer_ids is None:
            entries: Iterable[Entry | None] = self.entries.values()
        else:
            entries = map(self.entries.get, viewer_ids)
        return [e for e in entries if e is not None and e.policy is not None]

    def adapt(
        self,
        now: float,
        readings: Mapping[str, LinkReading] | None = None,
        entries: list[Entry] | None = None,
    ) -> None:
        """One round of rung decisions for ``entries`` (from ``adapting()``; None: every
        adapting viewer): each policy reads its viewer's estimate (fed ``readings`` of its
        link first; without one, its own unconfirmed units) and the viewer moves where it
        says; a paced link gets a rate for the rung it is on."""
        readings = readings or {}
        latest = self.latest
        # At rest from when its still is made: the still is the one large unit then.
        rest_after = self.options.still_after or REST_S
        resting = latest is not None and now - latest.published_at >= rest_after
        for entry in self.adapting() if entries is None else entries:
            policy = entry.policy
            if policy is None or self.entries.get(entry.viewer.id) is not entry:
                continue  # held, or gone (a move's effects may detach a viewer)
            viewer = entry.viewer
            viewer_id = viewer.id
            reading = readings.get(viewer_id)
            if reading is None:
                reading = LinkReading(outstanding_since=viewer.oldest_unacked_at())
            if reading.backlog_bytes is not None:
                viewer.estimator.on_backlog(now, reading.backlog_bytes)
            viewer.estimator.on_outstanding(now, reading.outstanding_since)
            costs = self.rung_costs(entry)
            if costs is None:
                continue
            decision = policy.decide(viewer.estimator, costs, now, resting)
            want = entry.allowed[decision.rung]
            if want != (entry.target if entry.target is not None else entry.rung):
                self._fx.moves.append(Move(viewer_id, entry.rung, want, decision))
                self.move(viewer_id, want, now)
            if reading.paced:
                # Below the top rung on a clear path, packets may leave fast enough to
                # show whether the top rung would fit (see pacing_rate).
                probe = costs[0] if decision.rung > 0 and not decision.congested else None
                cost = costs[decision.rung]
                self._fx.pacing[viewer_id] = pacing_rate(cost, decision.capacity_bps, probe)

    def adaptation(self, viewer_id: str, now: float) -> dict[str, Any]:
        """The figures of one viewer's adaptation, for stats and /metrics."""
        entry = self.entries.get(viewer_id)
        if entry is None:
            return {}
        lad = self.ladder(entry.capability)
        w, h = self.frame_size()
        cw, ch = lad.coded_size(entry.rung, w, h)
        rung = lad[entry.rung]
        policy = entry.policy
        if policy is not None and policy.last is not None:
            # what the last decision went on (the policy smooths the raw estimate)
            capacity, queue = policy.last.capacity_bps, policy.last.queue_delay_s
        else:
            est = entry.viewer.estimator
            capacity, queue = est.capacity_bps(now), est.queue_delay(now)
        return {
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

    def clear(self) -> None:
        """Forget every viewer and group (the hub closes their pumps itself)."""
        self.entries.clear()
        self.groups.clear()
