"""Packet pacing: when each packet of a WebRTC stream may leave. Sans I/O: every call
takes ``now``; the transport sleeps for what ``reserve`` returns.

A keyframe is several times the size of the frames around it. Sent back to back, its
packets arrive at a bottleneck faster than the bottleneck drains them and fill its queue
(or overflow it: loss, NACKs, a PLI). Paced at a little over the path's estimated rate,
the queue forms here instead, where the backlog is visible to the rung policy and
retransmissions can jump it.

A token bucket: up to ``burst_s`` of the rate may leave at once; beyond that each packet
waits until the bytes before it have had their time.
"""

from __future__ import annotations


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
