"""Hub: the registry of viewers and encoder groups, shared by every transport.

Transports attach a viewer with a link (how to send it a unit) and report what the
viewer says; the hub routes frames to groups, units to links and wakes pumps when
credit returns. Runs on the event loop thread only.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from . import encoders
from .encoders.base import EncoderSettings
from .frames import Frame
from .pump import GroupPump
from .session import EncodedUnit, EncoderGroup, GroupKey, Viewer


class ViewerLink(Protocol):
    """What a transport gives the hub: a way to send one encoded unit, never blocking.

    The transport calls ``Hub.written(viewer_id)`` once the unit has left (or was dropped).
    """

    def send_unit(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None: ...


@dataclass(frozen=True, slots=True)
class HubConfig:
    settings: EncoderSettings
    max_inflight: int = 2
    max_fps: float | None = None
    keyframe_min_interval_s: float = 0.5


class Hub:
    def __init__(self, config: HubConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self._clock = clock
        self._ids = itertools.count(1)
        self.groups: dict[GroupKey, tuple[EncoderGroup, GroupPump]] = {}
        self._viewers: dict[str, tuple[Viewer, GroupKey, ViewerLink]] = {}
        self._closing_pumps: set[asyncio.Task[None]] = set()
        self.latest: Frame | None = None

    # -- viewers ----------------------------------------------------------------------

    def attach(self, capability: str, link: ViewerLink, max_inflight: int | None = None) -> Viewer:
        spec = encoders.spec_for(capability)
        key = GroupKey(capability, self.config.settings)
        viewer = Viewer(
            f"v{next(self._ids)}",
            capability,
            is_video=spec.is_video,
            max_inflight=max_inflight or self.config.max_inflight,
            frame_rate=self.config.settings.fps,
        )
        group, pump = self.groups.get(key) or self._new_group(key, spec)
        group.add(viewer, self._clock())
        self._viewers[viewer.id] = (viewer, key, link)
        # May send at once (a newest unit it can start from), before attach() returns:
        # links get the viewer with every unit for that reason.
        self._catch_up(group, viewer)
        pump.wake()
        return viewer

    def detach(self, viewer_id: str) -> None:
        entry = self._viewers.pop(viewer_id, None)
        if entry is None:
            return
        _, key, _ = entry
        group, pump = self.groups[key]
        group.remove(viewer_id)
        if group.empty:
            del self.groups[key]
            task = asyncio.get_running_loop().create_task(pump.aclose())
            self._closing_pumps.add(task)
            task.add_done_callback(self._closing_pumps.discard)
        else:
            pump.wake()

    def _new_group(
        self, key: GroupKey, spec: encoders.EncoderSpec
    ) -> tuple[EncoderGroup, GroupPump]:
        group = EncoderGroup(
            key,
            is_video=spec.is_video,
            encoder_name=spec.name,
            max_fps=self.config.max_fps,
            keyframe_interval_s=key.settings.keyframe_interval_s,
            keyframe_min_interval_s=self.config.keyframe_min_interval_s,
        )
        if self.latest is not None:
            group.publish(self.latest)
        pump = GroupPump(group, clock=self._clock, on_unit=self._deliver)
        self.groups[key] = (group, pump)
        return group, pump

    @property
    def viewer_count(self) -> int:
        return len(self._viewers)

    def viewer(self, viewer_id: str) -> Viewer | None:
        entry = self._viewers.get(viewer_id)
        return entry[0] if entry else None

    def group_of(self, viewer_id: str) -> EncoderGroup | None:
        entry = self._viewers.get(viewer_id)
        return self.groups[entry[1]][0] if entry else None

    # -- frames -----------------------------------------------------------------------

    def publish(self, frame: Frame) -> None:
        self.latest = frame
        for group, pump in self.groups.values():
            group.publish(frame)
            pump.wake()

    def _send(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
        viewer.backlog += 1
        self._viewers[viewer.id][2].send_unit(viewer, seq, unit)

    def _deliver(self, group: EncoderGroup, unit: EncodedUnit) -> None:
        for viewer, seq in group.deliver(unit, self._clock()):
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
        viewer, key, _ = entry
        group, pump = self.groups[key]
        if viewer.has_credit:
            self._catch_up(group, viewer)
        pump.wake()

    def ack(self, viewer_id: str, seq: int, decode_queue_size: int = 0) -> float | None:
        viewer = self.viewer(viewer_id)
        if viewer is None:
            return None
        latency = viewer.on_ack(seq, self._clock(), decode_queue_size)
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

    def shown(self, viewer_id: str, published_at: float) -> None:
        """WebRTC: the browser drew a frame published at ``published_at``."""
        viewer = self.viewer(viewer_id)
        if viewer is not None:
            viewer.on_shown(published_at, self._clock())

    def reset(self, viewer_id: str) -> None:
        """decoder_reset or request_keyframe: restart this viewer at the next keyframe."""
        entry = self._viewers.get(viewer_id)
        if entry is None:
            return
        viewer, key, _ = entry
        viewer.reset()
        group, _ = self.groups[key]
        group.request_keyframe(self._clock())
        self._credit_changed(viewer_id)

    # -- figures and shutdown -----------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        return {
            "viewers": [v.metrics() for v, _, _ in self._viewers.values()],
            "groups": [g.metrics() for g, _ in self.groups.values()],
            "open_encoders": encoders.open_encoder_count(),
        }

    async def aclose(self) -> None:
        pumps = [p for _, p in self.groups.values()]
        self.groups.clear()
        self._viewers.clear()
        await asyncio.gather(*(p.aclose() for p in pumps), *self._closing_pumps)
