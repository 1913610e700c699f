"""Hub: the async shell around the registry of viewers and encoder groups, shared by every
transport. Runs on the event loop thread only.

The decisions are sans I/O in session/routing.py (``Routing``): who is in which group, the
ladders, rung costs, start rungs, rung moves, adaptation rounds. The hub carries them out:
it keeps each viewer's link and each group's GroupPump (pump.py), starts a pump for every
new group and closes the pump of every group nobody is in, hands units to links, wakes
pumps when frames come and credit returns, and runs the adaptation timer: every viewer
has a round of ``Routing.adapt`` every ``ADAPT_INTERVAL_S``, fed what its link says, after
which paced links get their new rate (rtp/pacer.py's pacing_rate, chosen by the routing).
A large audience is decided a slice of ``ADAPT_SLICE`` viewers at a time, spread over the
interval: one round for 500 viewers held the loop for 20-30 ms, every frame behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, Unpack

from . import encoders
from .frames import Frame
from .pump import ExactStills, GroupPump
from .session import EncodedUnit, EncoderGroup, GroupKey, Viewer
from .session import ladder as ladders
from .session.adapt import AdaptConfig
from .session.links import LinkKind
from .session.routing import AttachOptions, Effects, Entry, LinkReading, Routing
from .session.totals import Totals

if TYPE_CHECKING:
    from .options import StreamOptions

log = logging.getLogger("rfb")

ADAPT_INTERVAL_S = 0.2
ADAPT_SLICE = 50  # viewers decided in one turn of the loop


def _bps(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e6:.2f}M"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{1000 * x:.0f} ms"


class ConsumerLink:
    """A consumer's side of the hub (a recording, a relay): ``take`` gets every unit, and
    the credit goes back at once, so a consumer never holds its group back."""

    def __init__(self, kind: LinkKind, hub: Hub,
                 take: Callable[[Viewer, int, EncodedUnit], None]) -> None:  # fmt: skip
        assert kind.consumer
        self.kind = kind
        self._hub = hub
        self._take = take

    def send_unit(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
        asyncio.get_running_loop().call_soon(self._hub.delivered, viewer.id, seq)
        self._take(viewer, seq, unit)


class ViewerLink(Protocol):
    """What a transport gives the hub: a way to send one encoded unit, never blocking.

    The transport calls ``Hub.written(viewer_id)`` once the unit has left (or was dropped),
    unless ``send_unit`` returned True: then it was written out at once.
    A link may also have ``backlog_bytes() -> int`` (bytes handed to it and not yet on the
    wire) and ``outstanding_since() -> float | None`` (the send time of the oldest unit
    the viewer has not confirmed), which adaptation reads, and
    ``set_pacing_rate(bps, now)``, which adaptation calls with pacing_rate().
    """

    kind: LinkKind

    def send_unit(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> bool | None: ...


class Hub:
    def __init__(
        self, options: StreamOptions, clock: Callable[[], float], adapt: AdaptConfig | None = None
    ) -> None:
        self.options = options
        self.routing = Routing(options, adapt)
        self.settings = self.routing.settings  # the top rung's
        self.adapt_config = self.routing.adapt_config
        self._clock = clock
        self._links: dict[str, ViewerLink] = {}
        self._pumps: dict[EncoderGroup, GroupPump] = {}
        self._closing_pumps: set[asyncio.Task[None]] = set()
        self._adapt_task: asyncio.Task[None] | None = None
        self.totals = Totals()  # counts since start, for /metrics
        self.exact_stills = ExactStills()  # one lossless picture per resting frame, shared
        self._viewer_count: int | None = None  # viewer_count, until the next attach or detach
        self._credit_pending: dict[str, None] = {}  # acked since this loop turn began

    # -- the registry (session/routing.py) ---------------------------------------------

    @property
    def groups(self) -> dict[GroupKey, tuple[EncoderGroup, GroupPump]]:
        """Every live group with its pump."""
        pumps = self._pumps
        return {k: (g, pumps[g]) for k, g in self.routing.groups.items() if g in pumps}

    @property
    def _viewers(self) -> dict[str, Entry]:
        return self.routing.entries

    @property
    def latest(self) -> Frame | None:
        """The newest published frame."""
        return self.routing.latest

    def ladder(self, capability: str) -> ladders.Ladder:
        return self.routing.ladder(capability)

    def rung_costs(self, entry: Entry) -> list[float] | None:
        """Bits per second each allowed rung needs; None while unknown (images: until the
        viewer's group has made a few pictures)."""
        return self.routing.rung_costs(entry)

    @property
    def viewer_count(self) -> int:
        """Viewers on every transport; recordings are not viewers."""
        # Counted again only after an attach or detach: every viewer's stats ask each second.
        if self._viewer_count is None:
            self._viewer_count = sum(not e.consumer for e in self._viewers.values())
        return self._viewer_count

    @property
    def recording_count(self) -> int:
        return sum(e.kind is LinkKind.RECORDING for e in self._viewers.values())

    def live_viewers(self) -> list[Viewer]:
        return [e.viewer for e in self._viewers.values() if not e.consumer]

    def live_groups(self) -> list[EncoderGroup]:
        return [g for g, _ in self.groups.values()]

    def live_viewer_links(self) -> list[tuple[str, str]]:
        """(viewer id, transport) of every viewer (recorders aside)."""
        return [(vid, e.kind.value) for vid, e in self._viewers.items() if not e.consumer]

    def viewers_by_transport(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self._viewers.values():
            name = e.kind.value
            out[name] = out.get(name, 0) + 1
        return out

    def viewer(self, viewer_id: str) -> Viewer | None:
        entry = self._viewers.get(viewer_id)
        return entry.viewer if entry else None

    def group_of(self, viewer_id: str) -> EncoderGroup | None:
        return self.routing.group_of(viewer_id)

    # -- carrying out what routing decided ---------------------------------------------

    def _carry_out(self, now: float | None = None) -> list[asyncio.Task[None]]:
        """Do what the routing calls since the last time left to do; returns the closing
        of the groups nobody is in any more. Called after every routing call, even one
        that raised, so every group has its pump. ``now``: the adaptation round's."""
        fx = self.routing.take_effects()
        for group in fx.opened:
            self._pumps[group] = GroupPump(group, clock=self._clock, on_unit=self._deliver,
                                           exact=self.exact_stills)  # fmt: skip
        closing = [task for group in fx.closed if (task := self._close(group)) is not None]
        if fx.sends:
            self._send_all(fx.sends)
        # Every viewer's credit wakes its group: each pump once.
        for group in dict.fromkeys(fx.woken) if len(fx.woken) > 1 else fx.woken:
            pump = self._pumps.get(group)
            if pump is not None:  # a group woken and then closed in one call has none
                pump.wake()
        if fx.moves or fx.pacing:
            self._after_round(fx, self._clock() if now is None else now)
        return closing

    def _close(self, group: EncoderGroup) -> asyncio.Task[None] | None:
        self.totals.retire_group(group)
        pump = self._pumps.pop(group, None)
        if pump is None:
            return None
        task = asyncio.get_running_loop().create_task(pump.aclose())
        self._closing_pumps.add(task)
        task.add_done_callback(self._closing_pumps.discard)
        return task

    def _after_round(self, fx: Effects, now: float) -> None:
        """An adaptation round's moves to the log, its pacing rates to the links."""
        for m in fx.moves:
            moved = self.viewer(m.viewer_id)
            if moved is None:
                continue
            d, est = m.decision, moved.estimator
            log.info("rfb: %s rung %d -> %d (%s; capacity %s, queue %s, remb %s, loss %.2f)",
                     m.viewer_id, m.rung, m.to, d.reason, _bps(d.capacity_bps),
                     _ms(d.queue_delay_s), _bps(est.remb_bps), est.loss(now))  # fmt: skip
        for viewer_id, bps in fx.pacing.items():
            set_rate = getattr(self._links.get(viewer_id), "set_pacing_rate", None)
            if set_rate is not None:
                set_rate(bps, now)

    # -- viewers ----------------------------------------------------------------------

    def attach(self, capability: str, link: ViewerLink, **options: Unpack[AttachOptions]) -> Viewer:
        """A new viewer of ``capability``, sent its units through ``link``; ``options``:
        session.routing.AttachOptions (scaled frames, start bitrate, own settings, a fixed
        rung, ...)."""
        asyncio.get_running_loop()  # pumps and the adaptation timer need one: fail first
        try:
            entry = self.routing.attach(capability, link.kind, self._clock(), **options)
            # Registered before the effects: the link may be sent to at once (a newest
            # unit it can start from), before attach() returns, so links get the viewer
            # with every unit.
            self._links[entry.viewer.id] = link
        finally:
            self._viewer_count = None
            self._carry_out()
        if entry.policy is not None:
            self._start_adapting()
        return entry.viewer

    def detach(self, viewer_id: str) -> list[asyncio.Task[None]]:
        """Remove a viewer; returns the closing of groups it was the last one in (await
        them to know their encoders are closed)."""
        try:
            entry = self.routing.detach(viewer_id)
        finally:
            self._viewer_count = None
            closing = self._carry_out()
        self._links.pop(viewer_id, None)
        if entry is None:
            return closing
        self.totals.retire_viewer(entry.viewer)
        if not self._viewers and self._adapt_task is not None:
            self._adapt_task.cancel()  # nobody left to adapt for; the next attach restarts it
            self._adapt_task = None
        return closing

    # -- rungs --------------------------------------------------------------------------

    def move(self, viewer_id: str, rung: int) -> None:
        """Put a viewer on ``rung`` of its ladder: images at once, video at that rung's
        next keyframe (until then it keeps its current rung)."""
        try:
            self.routing.move(viewer_id, rung, self._clock())
        finally:
            self._carry_out()

    def pin(self, viewer_id: str, rung: int | None) -> None:
        """Hold a viewer on ``rung`` of its ladder whatever its path says (None: adapt
        again from where it is). For tests, demos and a user's own quality control."""
        try:
            self.routing.pin(viewer_id, rung, self._clock())
        finally:
            self._carry_out()

    def _start_adapting(self) -> None:
        if self._adapt_task is None or self._adapt_task.done():
            self._adapt_task = asyncio.get_running_loop().create_task(
                self._adapt_loop(), name="rfb-adapt"
            )

    async def _adapt_loop(self) -> None:
        while True:
            ids = [e.viewer.id for e in self.routing.adapting()]
            parts = max(1, -(-len(ids) // ADAPT_SLICE))
            for part in range(parts):
                await asyncio.sleep(ADAPT_INTERVAL_S / parts)
                try:
                    self.adapt(ids[part::parts])
                except Exception:  # a bug in one round must not end adaptation for everyone
                    log.exception("rfb: adaptation round failed")

    def adapt(self, viewer_ids: list[str] | None = None) -> None:
        """One round of rung decisions for ``viewer_ids`` (None: every adapting viewer).
        The loop runs one for each viewer every ADAPT_INTERVAL_S."""
        now = self._clock()
        adapting = self.routing.adapting(viewer_ids)
        readings = {e.viewer.id: self._reading(e.viewer) for e in adapting}
        try:
            self.routing.adapt(now, readings, adapting)
        finally:
            self._carry_out(now)

    def _reading(self, viewer: Viewer) -> LinkReading:
        """What the viewer's link says, for adaptation."""
        link = self._links.get(viewer.id)
        backlog = getattr(link, "backlog_bytes", None)
        outstanding = getattr(link, "outstanding_since", None)
        since = outstanding() if outstanding is not None else viewer.oldest_unacked_at()
        return LinkReading(
            backlog_bytes=None if backlog is None else backlog(),
            outstanding_since=since,
            paced=hasattr(link, "set_pacing_rate"),
        )

    def adaptation(self, viewer_id: str) -> dict[str, Any]:
        """The figures of one viewer's adaptation, for stats and /metrics."""
        return self.routing.adaptation(viewer_id, self._clock())

    # -- frames -----------------------------------------------------------------------

    def publish(self, frame: Frame) -> None:
        try:
            self.routing.publish(frame)
        finally:
            self._carry_out()

    def _send_all(self, sends: list[tuple[Viewer, int, EncodedUnit]]) -> None:
        """Hand each (viewer, seq, unit) to the viewer's link (every viewer, every frame:
        one loop, one clock reading)."""
        now = self._clock()
        links = self._links
        for viewer, seq, unit in sends:
            link = links.get(viewer.id)
            if link is None:  # detached meanwhile (a consumer may detach from inside its link)
                continue
            viewer.estimator.on_sent(now, len(unit.data))
            viewer.backlog += 1
            if link.send_unit(viewer, seq, unit):  # written out at once: no written() follows
                viewer.backlog -= 1

    def _deliver(self, group: EncoderGroup, unit: EncodedUnit) -> None:
        self.totals.observe_encode(unit.encode_ms)
        try:
            self.routing.deliver(group, unit, self._clock())
        finally:
            self._carry_out()

    # -- what viewers say ---------------------------------------------------------------

    def _credit_changed(self, viewer_id: str) -> None:
        try:
            self.routing.credit_changed(viewer_id, self._clock())
        finally:
            self._carry_out()

    def ack(
        self,
        viewer_id: str,
        seq: int,
        decode_queue_size: int = 0,
        received_ms: float | None = None,
        now: float | None = None,
    ) -> float | None:
        """An ack from a viewer (``now``: when it came, where the caller has read the clock
        already)."""
        entry = self.routing.entries.get(viewer_id)
        if entry is None:
            return None
        received = None if received_ms is None else received_ms / 1000.0
        if now is None:
            now = self._clock()
        latency = entry.viewer.on_ack(seq, now, decode_queue_size, received)
        # Every viewer acks every frame: what the credit acks return allows is looked at
        # once a loop turn, for all of them together (one round of effects, one wake of
        # each group's pump), not once an ack.
        pending = self._credit_pending
        if not pending:
            asyncio.get_running_loop().call_soon(self._credit_flush)
        pending[viewer_id] = None
        return latency

    def _credit_flush(self) -> None:
        pending, self._credit_pending = self._credit_pending, {}
        now = self._clock()
        try:
            for viewer_id in pending:
                self.routing.credit_changed(viewer_id, now)
        finally:
            self._carry_out()

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

    def exact_stills_wanted(self, viewer_id: str, on: bool) -> None:
        """The viewer said later (WebRTC: hello on the data channel) whether it takes exact
        stills."""
        try:
            self.routing.exact_stills(viewer_id, on, self._clock())
        finally:
            self._carry_out()

    def reset(self, viewer_id: str) -> None:
        """decoder_reset or request_keyframe: restart this viewer at the next keyframe."""
        try:
            self.routing.reset(viewer_id, self._clock())
        finally:
            self._carry_out()

    # -- figures and shutdown -----------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        return {
            "viewers": [
                {**e.viewer.metrics(), **self.adaptation(vid)} for vid, e in self._viewers.items()
            ],
            "groups": [g.metrics() for g, _ in self.groups.values()],
            "open_encoders": encoders.open_encoder_count(),
            "exact_stills_encoded": self.exact_stills.encoded,
        }

    async def aclose(self) -> None:
        if self._adapt_task is not None:
            self._adapt_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._adapt_task
        pumps = list(self._pumps.values())
        self._pumps.clear()
        self.routing.clear()
        self._viewer_count = None
        self._links.clear()
        await asyncio.gather(*(p.aclose() for p in pumps), *self._closing_pumps)
