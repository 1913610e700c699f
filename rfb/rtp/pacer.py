"""Packet pacing: when each packet of a WebRTC stream may leave. Sans I/O: every call
takes ``now``; the transport sleeps for what ``reserve`` returns.

A keyframe is several times the size of the frames around it. Sent back to back, its
packets arrive at a bottleneck faster than the bottleneck drains them and fill its queue
(or overflow it: loss, NACKs, a PLI). Paced at a little over the path's estimated rate,
the queue forms here instead, where the backlog is visible to the rung policy and
retransmissions can jump it.

A token bucket: up to ``burst_s`` of the rate may leave at once; beyond that each packet
waits until the bytes before it have had their time. ``pacing_rate`` is the policy that
sets the rate: the hub calls it each adaptation round, from the viewer's rung and estimate.
"""

from __future__ import annotations

PACE_MIN, PACE_MAX, PACE_OVER_ESTIMATE = 1.5, 3.0, 1.2
PROBE_GAIN = 2.0  # below the top rung, packets may leave at this many times the estimate
PROBE_FIT = 0.5  # ... but no faster than the top rung needs to fit clearly (AdaptConfig.clear)


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


class Pacer:
    def __init__(self, rate_bps: float, *, burst_s: float = 0.01, min_burst_bytes: int = 6000):
        if rate_bps <= 0:
            raise ValueError(f"rate_bps must be positive, got {rate_bps}")
        self.rate_bps = float(rate_bps)
        self.burst_s = burst_s
        self.min_burst_bytes = min_burst_bytes
        self._free_at = float("-inf")  # when everything reserved so far has had its time

    @property
    def _burst(self) -> float:
        """Seconds of the rate that may go at once."""
        return max(self.burst_s, 8 * self.min_burst_bytes / self.rate_bps)

    def set_rate(self, rate_bps: float, now: float) -> None:
        """A new rate; what is already queued drains at the new rate."""
        if rate_bps <= 0:
            raise ValueError(f"rate_bps must be positive, got {rate_bps}")
        queued = self.queued_bytes(now)
        self.rate_bps = float(rate_bps)
        if queued:
            self._free_at = now + 8 * queued / self.rate_bps

    def reserve(self, nbytes: int, now: float) -> float:
        """Book ``nbytes``; returns how many seconds from ``now`` the packet may leave."""
        start = max(self._free_at, now - self._burst)
        self._free_at = start + 8 * nbytes / self.rate_bps
        return max(0.0, start - now)

    def charge(self, nbytes: int, now: float) -> None:
        """Bytes that left without waiting (retransmissions): later packets wait for them."""
        self.reserve(nbytes, now)

    def queued_s(self, now: float) -> float:
        """How long what is booked still needs beyond what may go at once."""
        return max(0.0, self._free_at - now)

    def queued_bytes(self, now: float) -> int:
        return int(self.queued_s(now) * self.rate_bps / 8)
