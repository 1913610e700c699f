"""EncoderGroup: one encoder shared by every viewer on the same settings.

Sans I/O: the group decides *what* to encode and *who* gets each unit; a pump runs
the encodes on a worker thread and hands units to transports. Every decision takes
``now`` (seconds on the display's clock), so the policies are tested with a fake clock.

Keyframe policy (video groups), see docs/internals/decisions.md ("Keyframes"):
* the first unit after the encoder is (re)built is an IDR;
* a periodic IDR every ``keyframe_interval_s`` while frames keep coming;
* forced IDRs (a viewer joined, lost sync, reset its decoder, asked for one, or a
  WebRTC PLI) are made at the next frame, but no sooner than ``keyframe_min_interval_s``
  after the previous forced IDR, so one slow or churning viewer cannot turn the stream
  into all-IDR for everyone;
* one IDR answers every viewer waiting for it.

Encoders may hand a unit back a few encodes late (NVENC through PyNvVideoCodec keeps
a short output queue). The group keeps the frames it has handed over in order, so each
unit carries the metadata of the frame it really shows, an IDR already asked for is not
asked for again, and when the newest frame is still inside the encoder and nothing new
is published, the same frame is fed again (a near-empty P-frame) until it comes out.

Rungs (see ladder.py): a viewer moving to this group from another rung is a
*candidate* until it takes one of this group's keyframes; until then it keeps taking its
old group's units, so a switch never shows a gap. A candidate asks for a keyframe like a
newcomer (the same rate limit applies).

Stills: when nothing new has been published for ``still_after_s``, the resting frame is
encoded once more by a high-quality encoder of its own (an IDR for video, PNG or
high-quality JPEG for images) and offered to every viewer. The group's own encoder did
not see that picture, so its next video unit is an IDR (or, when an encoder that answers
late still holds frames, the encoder is rebuilt).

Exact stills: when the still is due, viewers that take exact stills
(``Viewer.exact_stills``) are first offered the resting frame as a lossless PNG (one per
stream, shared by every group: pump.ExactStills), each only where its path carries it
within about a second (``Viewer.fits_exact``; before any estimate, at ``fallback_bps``).
It is drawn over the video, so it changes no decoder's state and the group's encoder goes
on as before. Then the near-lossless still is made only for the viewers that did not take
the exact one; when every viewer did, it is not encoded at all. A viewer that had no
credit gets the exact picture later (``catch_up_exact``) while it still shows the newest
frame, else the near-lossless one.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from ..encoders.base import Picture
from ..frames import Frame
from .units import EncodedUnit, EncodeJob, GroupKey
from .viewer import INFLIGHT_TIMEOUT_S, Viewer

# Clock readings this close count as equal (a 30 fps tick sums to 0.99999 s after 30 frames).
_EPSILON_S = 1e-3
# An encoder holding this many frames without giving any back is not fed any more.
_MAX_ENCODER_DELAY = 8
# Keyframes viewers ask for (a joiner, a lost unit) come no closer together than this.
DEFAULT_KEYFRAME_MIN_INTERVAL_S = 0.5


class EncoderGroup:
    def __init__(
        self,
        key: GroupKey,
        *,
        is_video: bool,
        encoder_name: str = "",
        max_fps: float | None = None,
        keyframe_interval_s: float = 1.0,
        keyframe_min_interval_s: float = DEFAULT_KEYFRAME_MIN_INTERVAL_S,
        still_after_s: float | None = None,
        rung: int = 0,
    ) -> None:
        self.key = key
        self.rung = rung
        self.still_after_s = still_after_s
        self.is_video = is_video
        self.encoder_name = encoder_name
        # Encode starts are spaced by at least 90% of 1/max_fps (jitter must not drop frames).
        self.min_encode_gap = 0.9 / max_fps if max_fps else 0.0
        self.keyframe_interval_s = keyframe_interval_s
        self.keyframe_min_interval_s = keyframe_min_interval_s
        self.viewers: dict[str, Viewer] = {}
        self.candidates: dict[str, Viewer] = {}  # moving here from another rung
        self._joined: list[Viewer] = []  # candidates that took a keyframe in deliver()
        self._still_frame_id: int | None = None  # the frame a still was made of
        self._exact_frame_id: int | None = None  # the frame an exact still was made of
        self._exact_bytes: int | None = None  # the last exact still's size
        self.exact_unit: EncodedUnit | None = None  # the newest exact still
        # Video: the rung's bits per second at the frame's size (the routing sets it), the
        # rate an exact still is budgeted at for a viewer with no estimate yet.
        self.rung_bps: float | None = None
        self._idr_after_still = False
        self.frame: Frame | None = None  # newest published frame
        self.busy = False  # an encode job is out
        self.encoder_size: tuple[int, int] | None = None  # None: (re)build on next job
        self.encoded_frame_id: int | None = None
        self.latest_unit: EncodedUnit | None = None
        self.last_keyframe_at: float | None = None
        self.last_forced_keyframe_at: float | None = None
        self.keyframe_due_at: float | None = None  # a forced IDR may be made from then on
        self.last_encode_at: float | None = None
        # Frames handed to the encoder whose units have not come out yet, oldest first:
        # (frame, was to be an IDR, is news: a new frame or an IDR, not a mere repeat).
        # Empty between encodes for encoders without an output delay.
        self._in_encoder: deque[tuple[Frame, bool, bool]] = deque(maxlen=16)
        self._next_index = 0
        # figures
        self.frames_encoded = 0
        self.keyframes = 0
        self.forced_keyframes = 0
        self.bytes_out = 0
        self.errors = 0
        self.stills = 0
        self.exact_stills = 0
        self.encode_ms: deque[float] = deque(maxlen=120)
        self.unit_bytes: deque[int] = deque(maxlen=30)  # recent units, stills left out
        # No viewer's unit expires before this (-inf: not known, look). The pump asks at
        # every wake, and there are many viewers: they are looked at once it is due.
        self._expiry_floor = -math.inf

    # -- membership and input --------------------------------------------------

    def add(self, viewer: Viewer, now: float) -> None:
        self.viewers[viewer.id] = viewer
        self._expiry_floor = -math.inf  # it may bring older units in flight
        if self.is_video:
            self.request_keyframe(now)

    def add_candidate(self, viewer: Viewer, now: float) -> None:
        """A viewer on another rung that should move here at this group's next keyframe."""
        self.candidates[viewer.id] = viewer
        self.request_keyframe(now)

    def remove(self, viewer_id: str) -> Viewer | None:
        self.candidates.pop(viewer_id, None)
        return self.viewers.pop(viewer_id, None)

    def take_joined(self) -> list[Viewer]:
        """Candidates that became members in the last deliver()."""
        joined, self._joined = self._joined, []
        return joined

    @property
    def empty(self) -> bool:
        return not self.viewers and not self.candidates

    def publish(self, frame: Frame) -> None:
        """Latest wins: a frame not yet encoded is simply replaced."""
        self.frame = frame

    def request_keyframe(self, now: float) -> None:
        if not self.is_video:
            return
        due = now
        if self.last_forced_keyframe_at is not None:
            due = max(now, self.last_forced_keyframe_at + self.keyframe_min_interval_s)
        if self.keyframe_due_at is None or due < self.keyframe_due_at:
            self.keyframe_due_at = due

    def expire(self, now: float) -> None:
        """Forget every viewer's units unacked for too long (Viewer.expire)."""
        if now < self._expiry_floor:
            return  # none is due yet
        floor = math.inf
        for v in self.viewers.values():
            v.expire(now)
            t = v.next_expiry()
            if t is not None and t < floor:
                floor = t
        self._expiry_floor = floor

    def _sent_at(self, now: float) -> None:
        """A viewer took a unit sent now: it expires no sooner than INFLIGHT_TIMEOUT_S on."""
        self._expiry_floor = min(self._expiry_floor, now + INFLIGHT_TIMEOUT_S)

    # -- what to encode ----------------------------------------------------------

    def _wants_keyframe(self) -> bool:
        return bool(self.candidates) or any(v.wants_keyframe for v in self.viewers.values())

    def _could_take(self, keyframe: bool) -> bool:
        if any(v.would_take(keyframe) for v in self.viewers.values()):
            return True
        return keyframe and any(v.has_credit for v in self.candidates.values())

    def _waiting_with_credit(self) -> bool:
        """Someone could start from a keyframe now: a candidate or a viewer out of sync."""
        return any(v.has_credit for v in self.candidates.values()) or any(
            v.wants_keyframe and v.has_credit for v in self.viewers.values()
        )

    def _still_due_at(self, now: float) -> float | None:
        """When the resting frame's stills should be made; None: not pending."""
        frame = self.frame
        if (
            self.still_after_s is None
            or frame is None
            or frame.frame_id != self.encoded_frame_id
            or self.encoder_size != frame.size
            or not (self._exact_pending(frame, now) or self._near_pending(frame, credit=False))
        ):
            return None
        return frame.published_at + self.still_after_s

    def fallback_bps(self) -> float | None:
        """The rate an exact still is budgeted at for a viewer without an estimate: the
        rung's (video), or what the group's recent pictures cost (images)."""
        if self.is_video:
            return self.rung_bps
        if not self.unit_bytes:
            return None
        return 8 * sum(self.unit_bytes) / len(self.unit_bytes) * self.key.settings.fps

    def _exact_pending(self, frame: Frame, now: float) -> bool:
        """An exact still of ``frame`` is to be made: not made yet, and a viewer asks for it
        (and, once one was made, one of that size would fit its path)."""
        if frame.frame_id == self._exact_frame_id:
            return False
        size, rate = self._exact_bytes, self.fallback_bps()
        return any(
            v.takes_exact and (size is None or v.fits_exact(size, now, rate))
            for v in self.viewers.values()
        )

    def _near_pending(self, frame: Frame, credit: bool) -> bool:
        """The near-lossless still of ``frame`` is to be made: not made yet, and a viewer
        takes stills and has no exact picture of it (``credit``: and could take one now)."""
        if frame.frame_id == self._still_frame_id:
            return False
        return any(
            v.takes_stills and v.exact_frame_id != frame.frame_id and (v.has_credit or not credit)
            for v in self.viewers.values()
        )

    def _exact_now(self, frame: Frame, now: float) -> bool:
        return self._exact_pending(frame, now) and any(
            v.takes_exact and v.has_credit and v.exact_frame_id != frame.frame_id
            for v in self.viewers.values()
        )

    def _keyframe_now(self, now: float) -> bool:
        if self.last_keyframe_at is None:
            return True
        if self.keyframe_due_at is not None and now >= self.keyframe_due_at - _EPSILON_S:
            return True
        return now - self.last_keyframe_at >= self.keyframe_interval_s - _EPSILON_S

    def next_job(self, now: float) -> EncodeJob | None:
        """The encode to run now, if any. At most one job is out at a time."""
        frame = self.frame
        if self.busy or frame is None or self.empty:
            return None
        if self.is_video and self.keyframe_due_at is None and self._wants_keyframe():
            self.request_keyframe(now)
        rebuild = self.encoder_size != frame.size
        idr_in_encoder = not rebuild and any(k for _, k, _ in self._in_encoder)
        keyframe = self.is_video and (
            rebuild or self._idr_after_still or (not idr_in_encoder and self._keyframe_now(now))
        )
        fresh = frame.frame_id != self.encoded_frame_id
        # An unchanged frame is fed again to push itself out of a delaying encoder, or
        # re-encoded as an IDR for viewers waiting to start.
        if not fresh and not (
            (not rebuild and self._newest_in_encoder())
            or (keyframe and self._waiting_with_credit())
        ):
            due = self._still_due_at(now)
            if due is None or now < due - _EPSILON_S:
                return None
            # The exact picture first; then the near-lossless one, for those without it.
            if self._exact_now(frame, now):
                return self._start(now, EncodeJob(frame, False, False, still=True, exact=True))
            if not self._near_pending(frame, credit=True) or not self._could_take(True):
                return None
            return self._start(now, EncodeJob(frame, True, False, still=True))
        # The unit this encode brings out is the oldest one inside the encoder.
        out_key = self._in_encoder[0][1] if self._in_encoder and not rebuild else keyframe
        if not self._could_take(out_key):
            return None  # nobody could take it: skipping the encode keeps the stream intact
        return self._start(now, EncodeJob(frame, keyframe, rebuild))

    def _start(self, now: float, job: EncodeJob) -> EncodeJob | None:
        if self.last_encode_at is not None and now < self.last_encode_at + self.min_encode_gap:
            return None
        self.busy = True
        self.last_encode_at = now
        return job

    def _newest_in_encoder(self) -> bool:
        """The newest frame went in and has not come out (and the encoder still gives)."""
        return (
            self.frame is not None
            and len(self._in_encoder) < _MAX_ENCODER_DELAY
            and any(news and f.frame_id == self.frame.frame_id for f, _, news in self._in_encoder)
        )

    def complete(
        self, job: EncodeJob, picture: Picture | None, now: float, encode_ms: float
    ) -> EncodedUnit | None:
        """Record a finished encode; returns the unit to deliver (None if buffered)."""
        self.busy = False
        if job.exact:
            return self._complete_exact(job, picture, encode_ms)
        if job.still:
            return self._complete_still(job, picture, encode_ms)
        if job.rebuild:
            self.encoder_size = job.frame.size
            self._in_encoder.clear()
        news = job.keyframe or job.frame.frame_id != self.encoded_frame_id
        self.encoded_frame_id = job.frame.frame_id
        self.encode_ms.append(encode_ms)
        self._in_encoder.append((job.frame, job.keyframe, news))
        if picture is None:
            return None
        frame, _, _ = self._in_encoder.popleft()
        if picture.keyframe:
            self._idr_after_still = False
            if self.keyframe_due_at is not None and self.keyframe_due_at <= now + _EPSILON_S:
                self.forced_keyframes += 1
                self.last_forced_keyframe_at = now
            self.keyframe_due_at = None
            self.last_keyframe_at = now
            self.keyframes += 1
        unit = self._unit(frame, picture, encode_ms)
        self.unit_bytes.append(len(picture.data))
        return unit

    def _unit(
        self, frame: Frame, picture: Picture, encode_ms: float, still: bool = False
    ) -> EncodedUnit:
        """A unit of the group's stream (or its still): the newest, counted in the figures."""
        unit = self._new_unit(frame, picture, encode_ms, still=still)
        self.latest_unit = unit
        self.frames_encoded += 1
        self.bytes_out += len(picture.data)
        return unit

    def _new_unit(
        self, frame: Frame, picture: Picture, encode_ms: float, *, still: bool, exact: bool = False
    ) -> EncodedUnit:
        unit = EncodedUnit(
            index=self._next_index,
            data=picture.data,
            keyframe=picture.keyframe and not exact,
            codec=picture.codec,
            width=picture.width,
            height=picture.height,
            frame_id=frame.frame_id,
            timestamp_us=frame.timestamp_us,
            published_at=frame.published_at,
            encode_ms=encode_ms,
            frame_width=frame.width,
            frame_height=frame.height,
            still=still,
            exact=exact,
            inputs=frame.inputs,
        )
        self._next_index += 1
        return unit

    def _complete_still(
        self, job: EncodeJob, picture: Picture | None, encode_ms: float
    ) -> EncodedUnit | None:
        self._still_frame_id = job.frame.frame_id
        if picture is None:
            return None
        self.stills += 1
        if self.is_video:
            # The group's encoder did not see this picture: its next unit must not refer to
            # it. An IDR next; an encoder still holding frames starts afresh.
            self._idr_after_still = True
            if self._in_encoder:
                self.encoder_size = None
                self._in_encoder.clear()
        return self._unit(job.frame, picture, encode_ms, still=True)

    def _complete_exact(
        self, job: EncodeJob, picture: Picture | None, encode_ms: float
    ) -> EncodedUnit | None:
        """An exact still: offered on its own (deliver, catch_up_exact); the group's
        encoder and its units go on untouched."""
        frame = job.frame
        self._exact_frame_id = frame.frame_id
        if picture is None:
            return None
        self.exact_stills += 1
        self._exact_bytes = len(picture.data)
        unit = self._new_unit(frame, picture, encode_ms, still=True, exact=True)
        self.exact_unit = unit
        return unit

    def fail(self, job: EncodeJob) -> None:
        """An encode raised: rebuild the encoder (and start with an IDR) next time."""
        self.busy = False
        self.errors += 1
        if job.exact:  # no exact still of this frame: the near-lossless one serves
            self._exact_frame_id = job.frame.frame_id
            return
        if job.still:  # no still of this frame, then; the stream is untouched
            self._still_frame_id = job.frame.frame_id
            return
        self.encoder_size = None
        self._in_encoder.clear()

    # -- who gets what -------------------------------------------------------------

    def deliver(self, unit: EncodedUnit, now: float) -> list[tuple[Viewer, int]]:
        """Offer a fresh unit to every viewer; returns (viewer, seq) for those who take it.

        Candidates take a keyframe if they can and become members (take_joined()). An
        exact still goes to the viewers that take it and whose path fits it."""
        out = []
        if unit.exact:
            rate = self.fallback_bps()
            for v in self.viewers.values():
                seq = v.offer_exact(unit, now, rate)
                if seq is not None:
                    out.append((v, seq))
            self._sent_at(now)
            return out
        for v in self.viewers.values():
            seq = v.offer(unit, now)
            if seq is not None:
                out.append((v, seq))
        if unit.keyframe and self.candidates:
            for v in list(self.candidates.values()):
                seq = v.offer_switch(unit, now)
                if seq is not None:
                    del self.candidates[v.id]
                    self.viewers[v.id] = v
                    self._expiry_floor = -math.inf  # its units from its old rung's group
                    self._joined.append(v)
                    out.append((v, seq))
        self._sent_at(now)
        return out

    def catch_up(self, viewer: Viewer, now: float) -> int | None:
        """A viewer regained credit: give it the newest unit if it can start from it.

        Images: any unseen newest image. Video: only the newest unit, and only when
        it is a keyframe (the encoder's next delta follows it).
        """
        unit = self.latest_unit
        if unit is None or (self.frame is not None and self.frame.size != self.encoder_size):
            return None
        if self.is_video and not unit.still and not (unit.keyframe and viewer.wants_keyframe):
            return None
        seq = viewer.offer(unit, now)
        if seq is not None:
            self._sent_at(now)
        return seq

    def catch_up_exact(self, viewer: Viewer, now: float) -> tuple[int, EncodedUnit] | None:
        """A viewer regained credit: the exact still (with its seq), while it shows the
        newest frame and the viewer takes it."""
        unit = self.exact_unit
        if unit is None or self.frame is None or unit.frame_id != self.frame.frame_id:
            return None
        seq = viewer.offer_exact(unit, now, self.fallback_bps())
        if seq is None:
            return None
        self._sent_at(now)
        return seq, unit

    def next_deadline(self, now: float) -> float | None:
        """When a decision could change without any new event (a timer for the pump)."""
        if self._expiry_floor == -math.inf:
            expiries = (v.next_expiry() for v in self.viewers.values())
            self._expiry_floor = min((t for t in expiries if t is not None), default=math.inf)
        # The floor: no unit expires before it (it may be early, never late).
        times = [self._expiry_floor] if self._expiry_floor < math.inf else []
        if self.keyframe_due_at is not None and self._wants_keyframe():
            times.append(self.keyframe_due_at)
        fresh = self.frame is not None and self.frame.frame_id != self.encoded_frame_id
        pending = fresh or self._newest_in_encoder()
        if pending and self.last_encode_at is not None and self.min_encode_gap:
            times.append(self.last_encode_at + self.min_encode_gap)
        still = self._still_due_at(now)
        if still is not None:
            times.append(max(still, (self.last_encode_at or 0.0) + self.min_encode_gap))
        future = [t for t in times if t > now]
        return min(future) if future else None

    def median_encode_ms(self) -> float | None:
        ms = sorted(self.encode_ms)
        return round(ms[len(ms) // 2], 3) if ms else None

    def metrics(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder_name,
            "codec": self.key.capability,
            "rung": self.rung,
            "scale": self.key.settings.scale,
            "chroma": self.key.settings.chroma if self.is_video else None,
            "target_fps": self.key.settings.fps,
            "viewers": len(self.viewers),
            "candidates": len(self.candidates),
            "size": list(self.encoder_size) if self.encoder_size else None,
            "frames_encoded": self.frames_encoded,
            "keyframes": self.keyframes,
            "forced_keyframes": self.forced_keyframes,
            "bytes": self.bytes_out,
            "errors": self.errors,
            "stills": self.stills,
            "exact_stills": self.exact_stills,
            "encode_ms": self.median_encode_ms(),
        }
