"""A simulated network path for the adaptation tests: a FIFO bottleneck, and a stream of
frames through it into a BandwidthEstimator, on a fake clock."""

from __future__ import annotations

from rfb.session.estimate import BandwidthEstimator


class Path:
    """A FIFO bottleneck of ``rate_bps`` with a fixed one-way delay; units in, arrival
    times out. The viewer reports each arrival on its own clock (offset by 1000 s)."""

    def __init__(self, rate_bps: float, delay_s: float = 0.02) -> None:
        self.rate_bps = rate_bps
        self.delay_s = delay_s
        self._free_at = 0.0

    def send(self, now: float, nbytes: int) -> float:
        start = max(now, self._free_at)
        self._free_at = start + 8 * nbytes / self.rate_bps
        return self._free_at + self.delay_s


class Stream:
    """Frames at 30 fps of a rung's size (an IDR five times a delta every 2 s) through a
    Path into an estimator, acks arriving one way-delay after the frame."""

    def __init__(self, path: Path, est: BandwidthEstimator | None = None) -> None:
        self.path = path
        self.est = est or BandwidthEstimator()
        self.now = 0.0
        self.frame = 0
        self.pending: list[tuple[float, float, float, int]] = []  # (ack_at, sent, arrived, n)

    def run(self, seconds: float, bitrate: float) -> None:
        end = self.now + seconds
        while self.now < end:
            idr = self.frame % 60 == 0
            delta = bitrate / 8 / 30 / (1 + 4 / 60)  # mean rate stays at ``bitrate``
            nbytes = int(delta * (5 if idr else 1))
            arrived = self.path.send(self.now, nbytes)
            self.est.on_sent(self.now, nbytes)
            self.pending.append((arrived + self.path.delay_s, self.now, arrived, nbytes))
            self.frame += 1
            self.now += 1 / 30
            for p in [p for p in self.pending if p[0] <= self.now]:
                self.pending.remove(p)
                ack_at, sent, arrived_at, n = p
                self.est.on_delivery(sent, ack_at, n, received_at=arrived_at + 1000.0)
            oldest = min((p[1] for p in self.pending), default=None)
            self.est.on_outstanding(self.now, oldest)
