"""Viewer: one watcher's flow control, keyframe gate, sequence numbers and figures.

No I/O and no clock of its own: every call that needs the time takes ``now``
(seconds on the display's clock). A transport turns the viewer's decisions into
bytes or packets.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .estimate import BandwidthEstimator
from .samples import SampleRing
from .units import EncodedUnit

DEFAULT_MAX_INFLIGHT = 2  # units unacknowledged: one on the wire, one being decoded
INFLIGHT_TIMEOUT_S = 2.0
_WINDOW_S = 1.0
MAX_WINDOW = 8  # frames in flight, whatever the path
# An exact (lossless) still goes only to a viewer whose path carries it in about this long
# (its bytes over the viewer's estimated rate; before any estimate, its rung's rate).
EXACT_STILL_BUDGET_S = 1.0
_MIN_RTT_SPAN_S = 10.0  # the path's round trip: the least send -> ack over this span
_SAMPLES = 4096  # acks (and frame_shown reports) kept for the latency figures


# A unit in flight: (sent at, published at, bytes). A plain tuple of numbers, not an
# object: every viewer adds one per frame, and on a loaded server it may live long enough
# to reach the collector's oldest generation, where each object brings a full collection
# nearer; the collector stops tracking such tuples the first time it sees them.
_Inflight = tuple[float, float, int]
_SENT_AT = 0


@dataclass(slots=True)
class ViewerStats:
    frames_sent: int = 0
    frames_acked: int = 0
    frames_skipped: int = 0  # units not sent for lack of credit
    frames_expired: int = 0  # sent, never acked within the timeout
    bytes_sent: int = 0
    keyframes_sent: int = 0
    frames_shown: int = 0
    keyframe_requests: int = 0  # request_keyframe, decoder_reset, PLI: the viewer lost its place
    rtt_ms: float | None = None  # smoothed send -> ack
    decode_queue_size: int = 0
    exact_stills_sent: int = 0  # lossless pictures of a resting frame
    near_lossless_stills_sent: int = 0  # the still encoder's (CRF IDR, high-quality JPEG)
    last_still: str | None = None  # "exact" | "near_lossless"
    # (ack time, publish -> ack seconds, bytes) of the last acks, for the figures: in
    # arrays, out of the garbage collector's way (session/samples.py).
    acked: SampleRing = field(default_factory=lambda: SampleRing(_SAMPLES))
    # WebRTC: (report time, publish -> drawn seconds) from the browser's frame_shown
    # reports. Where there are any, they are the latency figure (an "ack" there only
    # means handed to the RTP sender).
    shown: SampleRing = field(default_factory=lambda: SampleRing(_SAMPLES))


class Viewer:
    """Decides which encoded units one viewer takes.

    * At most ``credit_window`` units are sent and not acked: ``max_inflight``, or on a long path
      (with ``frame_rate`` given) enough to keep ``frame_rate`` flowing over the least
      send -> ack time seen lately, ``ceil(frame_rate * min_rtt) + 1``, up to MAX_WINDOW.
      The least time, not the average, so frames queued on a slow link do not widen it.
    * Video: the first unit is a keyframe; after a skip, a reset or an expired unit
      the viewer takes nothing until the next keyframe (``wants_keyframe``).
    * Images: every unit stands alone; a viewer takes the newest it has not seen.
    * A still (the resting scene at high quality) is optional: a viewer without credit
      skips it and stays in sync.
    * An exact still (the resting frame as a lossless PNG, ``exact_stills``) is drawn over
      the video: taking it leaves the keyframe gate and the unit order alone. It goes only
      where the path carries it within EXACT_STILL_BUDGET_S; a viewer that has it skips
      other stills of that frame (and, images, other pictures of it).

    Every delivery the viewer reports also feeds its ``estimator`` (the path's capacity
    and queueing, for the quality ladder): acks on the WebSocket; over WebRTC, where an
    "ack" only means handed to the RTP sender, the browser's frame_shown reports
    (``acks_measure_path=False``).
    """

    def __init__(
        self,
        viewer_id: str,
        capability: str,
        *,
        is_video: bool,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        frame_rate: float | None = None,
        acks_measure_path: bool = True,
        takes_stills: bool = True,
        exact_stills: bool = False,
    ):
        if max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        self.id = viewer_id
        self.capability = capability
        self.is_video = is_video
        self.max_inflight = max_inflight
        self.frame_rate = frame_rate
        self.credit_window = max_inflight
        self._rtt_floor: deque[tuple[float, float]] = deque()  # (time, rtt), rtt increasing
        self.next_seq = 0
        self.synced = False  # video: the decoder can take the group's next delta
        self.last_unit_index = -1
        self.backlog = 0  # units handed to the transport and not yet written out
        self.inflight: dict[int, _Inflight] = {}
        self.stats = ViewerStats()
        self.estimator = BandwidthEstimator()
        self.acks_measure_path = acks_measure_path
        self.takes_stills = takes_stills  # a recording keeps each frame once: no stills
        # It asked for exact stills (hello's "exact_still", or an image viewer of PNG).
        self.exact_stills = exact_stills
        self.exact_frame_id: int | None = None  # the frame it has exactly, if any

    # -- decisions -------------------------------------------------------------

    @property
    def has_credit(self) -> bool:
        # The backlog counts too: a socket that does not drain must not pile up frames.
        return len(self.inflight) < self.credit_window and self.backlog < self.max_inflight

    @property
    def wants_keyframe(self) -> bool:
        return self.is_video and not self.synced

    def would_take(self, keyframe: bool) -> bool:
        """Whether a new unit made now would be sent to this viewer."""
        if not self.has_credit:
            return False
        return keyframe or not self.wants_keyframe

    def offer(self, unit: EncodedUnit, now: float) -> int | None:
        """Offer a unit; returns the seq to send it with, or None to skip it.

        A synced video viewer without credit loses sync, and asks for a keyframe
        through ``wants_keyframe``.
        """
        if unit.exact:
            return self.offer_exact(unit, now)
        if unit.index <= self.last_unit_index or (unit.still and not self.takes_stills):
            return None
        if unit.frame_id == self.exact_frame_id and (unit.still or not self.is_video):
            return None  # it shows that frame exactly already (video: deltas keep it in sync)
        if not self.has_credit:
            if not unit.still:
                self.stats.frames_skipped += 1
                self.synced = False
            return None
        if self.is_video and not unit.keyframe and not self.synced:
            return None
        return self._take(unit, now)

    @property
    def takes_exact(self) -> bool:
        return self.exact_stills and self.takes_stills

    def fits_exact(self, nbytes: int, now: float, fallback_bps: float | None) -> bool:
        """Whether ``nbytes`` cross this viewer's path within EXACT_STILL_BUDGET_S: at its
        estimated rate, or before any estimate ``fallback_bps`` (its rung's); with
        neither, yes."""
        rate = self.estimator.capacity_bps(now) or fallback_bps
        return not rate or 8 * nbytes / rate <= EXACT_STILL_BUDGET_S

    def offer_exact(
        self, unit: EncodedUnit, now: float, fallback_bps: float | None = None
    ) -> int | None:
        """Offer an exact still; returns the seq, or None (not asked for, had it, no credit,
        over budget). Taking it changes neither the sync state nor the unit order."""
        if (
            not self.takes_exact
            or unit.frame_id == self.exact_frame_id
            or not self.has_credit
            or not self.fits_exact(len(unit.data), now, fallback_bps)
        ):
            return None
        seq = self.next_seq
        self.next_seq += 1
        self.exact_frame_id = unit.frame_id
        self.inflight[seq] = (now, unit.published_at, len(unit.data))
        st = self.stats
        st.frames_sent += 1
        st.bytes_sent += len(unit.data)
        st.exact_stills_sent += 1
        st.last_still = "exact"
        return seq

    def offer_switch(self, unit: EncodedUnit, now: float) -> int | None:
        """A keyframe of the rung this viewer is moving to (another group, whose unit
        indices are its own); returns the seq, or None when it cannot be taken now."""
        if (self.is_video and not unit.keyframe) or not self.has_credit:
            return None
        return self._take(unit, now)

    def _take(self, unit: EncodedUnit, now: float) -> int:
        seq = self.next_seq
        self.next_seq += 1
        self.last_unit_index = unit.index
        self.synced = True
        self.inflight[seq] = (now, unit.published_at, len(unit.data))
        st = self.stats
        st.frames_sent += 1
        st.bytes_sent += len(unit.data)
        st.keyframes_sent += unit.keyframe
        if unit.still:
            st.near_lossless_stills_sent += 1
            st.last_still = "near_lossless"
        return seq

    # -- what the viewer told us ---------------------------------------------------

    def on_ack(
        self, seq: int, now: float, decode_queue_size: int = 0, received_at: float | None = None
    ) -> float | None:
        """Record an ack; returns publish -> ack seconds, or None for an unknown seq.

        ``received_at``: when the viewer received the unit, on its own clock (seconds)."""
        entry = self.inflight.pop(seq, None)
        self.stats.decode_queue_size = decode_queue_size
        if entry is None:
            return None
        st = self.stats
        st.frames_acked += 1
        sent_at, published_at, nbytes = entry
        rtt = now - sent_at
        rtt_ms = rtt * 1000.0
        st.rtt_ms = rtt_ms if st.rtt_ms is None else 0.8 * st.rtt_ms + 0.2 * rtt_ms
        self._note_rtt(rtt, now)
        latency = now - published_at
        st.acked.append(now, latency, nbytes)
        if self.acks_measure_path:
            self.estimator.on_delivery(sent_at, now, nbytes, received_at)
        return latency

    def _note_rtt(self, rtt: float, now: float) -> None:
        """Keep the least send -> ack time of the last span (a monotonic deque), and the
        window it allows."""
        floor = self._rtt_floor
        while floor and floor[-1][1] >= rtt:
            floor.pop()
        floor.append((now, rtt))
        while floor[0][0] < now - _MIN_RTT_SPAN_S:
            floor.popleft()
        if self.frame_rate:
            need = math.ceil(floor[0][1] * self.frame_rate - 1e-9) + 1
            self.credit_window = max(self.max_inflight, min(MAX_WINDOW, need))

    def on_shown(
        self,
        published_at: float,
        now: float,
        sent_at: float | None = None,
        nbytes: int = 0,
        received_at: float | None = None,
        send_spread: float | None = None,
    ) -> float:
        """The browser drew a frame published at ``published_at`` (and handed to the
        transport at ``sent_at``, ``nbytes`` long, leaving over ``send_spread`` seconds,
        received at ``received_at`` on the browser's clock); returns the latency."""
        latency = now - published_at
        self.stats.shown.append(now, latency)
        self.stats.frames_shown += 1
        if sent_at is not None and nbytes and not self.acks_measure_path:
            self.estimator.on_delivery(sent_at, now, nbytes, received_at, send_spread)
        return latency

    def reset(self) -> None:
        """decoder_reset / request_keyframe: forget what is in flight, restart at a keyframe.

        The newest unit counts as unseen again, so a viewer that lost its picture (a
        resized canvas, a rebuilt decoder) gets it back even when the scene is static.
        """
        self.inflight.clear()
        self.synced = False
        self.last_unit_index = -1
        self.exact_frame_id = None  # its picture is gone too: the exact one may come again

    # ``inflight`` is in send order (a dict keeps insertion order, and units are sent as
    # time goes on), so its first entry is the oldest: the group asks these of every
    # viewer each time its pump wakes.

    def expire(self, now: float) -> bool:
        """Forget units unacked for INFLIGHT_TIMEOUT_S; True if any were forgotten."""
        inflight = self.inflight
        stale = 0
        while inflight:
            seq, entry = next(iter(inflight.items()))
            if now - entry[_SENT_AT] < INFLIGHT_TIMEOUT_S:
                break
            del inflight[seq]
            stale += 1
        if stale:
            self.stats.frames_expired += stale
            self.synced = False
        return bool(stale)

    def oldest_unacked_at(self) -> float | None:
        """When the oldest unit still waiting for its ack was sent."""
        return next(iter(self.inflight.values()))[_SENT_AT] if self.inflight else None

    def next_expiry(self) -> float | None:
        if not self.inflight:
            return None
        return next(iter(self.inflight.values()))[_SENT_AT] + INFLIGHT_TIMEOUT_S

    # -- figures -------------------------------------------------------------------

    def window(self, now: float, span: float = _WINDOW_S) -> dict[str, Any]:
        """Acked fps, bitrate and publish -> ack latency over the last ``span`` seconds."""
        st = self.stats
        acked = st.acked.since(now - span)
        shown = st.shown.values(st.shown.since(now - span))
        lat = sorted(shown or st.acked.values(acked))
        return {
            # what the latency counts up to: the browser's frame_shown reports, or acks
            "latency_source": "shown" if shown else ("ack" if acked else None),
            "fps_acked": acked / span,
            "bitrate_bps": 8 * sum(st.acked.sizes(acked)) / span,
            "latency_ms": 1000 * lat[len(lat) // 2] if lat else None,
            "latency_p95_ms": 1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None,
        }

    def metrics(self) -> dict[str, Any]:
        st = self.stats
        lat = sorted(st.shown.values() or st.acked.values())
        return {
            "id": self.id,
            "codec": self.capability,
            "frames_sent": st.frames_sent,
            "frames_acked": st.frames_acked,
            "frames_skipped": st.frames_skipped,
            "frames_expired": st.frames_expired,
            "keyframes_sent": st.keyframes_sent,
            "bytes_sent": st.bytes_sent,
            "rtt_ms": None if st.rtt_ms is None else round(st.rtt_ms, 3),
            "inflight": len(self.inflight),
            "credit_window": self.credit_window,
            "frames_shown": st.frames_shown,  # WebRTC: frame_shown reports
            "keyframe_requests": st.keyframe_requests,
            "decode_queue_size": st.decode_queue_size,
            "exact_stills_sent": st.exact_stills_sent,
            "near_lossless_stills_sent": st.near_lossless_stills_sent,
            "last_still": st.last_still,
            # publish -> drawn over the last (up to) 4096 acked (or, WebRTC, shown) frames
            "latency_p50_ms": round(1000 * lat[len(lat) // 2], 3) if lat else None,
            "latency_p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 3) if lat else None,
        }
