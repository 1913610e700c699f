"""/metrics in the Prometheus text format, built with prometheus_client.

The JSON at /metrics is for people and tools that read one server; a Prometheus scraper
(its Accept header names text/plain or openmetrics) gets the same figures as metric
families. Counters are totals since the server started (see session/totals.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .display import Display

REFUSALS = ("origin", "unauthorized", "max_viewers", "max_pending", "max_webrtc_sessions")
PROMETHEUS_MISSING = "Prometheus metrics need prometheus_client: pip install prometheus_client"


def wants_prometheus(accept: str, query_format: str | None) -> bool:
    """A scraper's request: ``?format=prometheus``, or an Accept header that asks for the
    text or OpenMetrics format rather than JSON (what a browser or curl sends gets JSON)."""
    if query_format is not None:
        return query_format.lower() in ("prometheus", "text", "openmetrics")
    accept = accept.lower()
    return "openmetrics" in accept or accept.split(",")[0].strip().startswith("text/plain")


def render(display: Display, accept: str = "") -> tuple[bytes, str]:
    """(body, content type) for one scrape."""
    try:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder
    except ImportError:
        raise RuntimeError(PROMETHEUS_MISSING) from None
    from prometheus_client import PlatformCollector, ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(display))  # type: ignore[arg-type]
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, _open_fds, ...
    PlatformCollector(registry=registry)
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


class _Collector:
    def __init__(self, display: Display) -> None:
        self.display = display

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        d = display = self.display
        hub = display.hub
        viewers = GaugeMetricFamily("rfb_viewers", "Viewers connected", labels=["transport"])
        by_transport = hub.viewers_by_transport()
        for name in ("websocket", "webrtc", *sorted(set(by_transport) - {"websocket", "webrtc"})):
            viewers.add_metric([name], by_transport.get(name, 0))
        yield viewers
        pending = sum(1 for c in d.connections if getattr(c, "pending", False))
        yield GaugeMetricFamily(
            "rfb_pending_connections", "WebSocket connections that have not sent hello", pending
        )
        groups = hub.live_groups()
        yield GaugeMetricFamily("rfb_encoder_groups", "Encoder groups in use", len(groups))
        sessions = len(d.webrtc.sessions) if d.webrtc is not None else 0
        yield GaugeMetricFamily("rfb_webrtc_sessions", "WHEP sessions (peer connections)",
                                sessions)  # fmt: skip
        # A scrape runs on the server's loop: all_tasks() are that loop's.
        yield GaugeMetricFamily("rfb_asyncio_tasks", "Tasks on the server's event loop",
                                len(asyncio.all_tasks()))  # fmt: skip
        yield GaugeMetricFamily("rfb_threads", "Threads in the process", threading.active_count())
        yield GaugeMetricFamily("rfb_uptime_seconds", "Seconds since the server started",
                                d.now_us() / 1e6)  # fmt: skip

        def counter(name: str, doc: str, value: float) -> Any:
            return CounterMetricFamily(name, doc, value=value)

        g = hub.totals.groups(groups)
        v = hub.totals.viewers(hub.live_viewers())
        yield counter("rfb_frames_published", "Frames handed to publish()", d.frames_published)
        yield counter("rfb_frames_encoded", "Units encoded (all groups)", g["frames_encoded"])
        yield counter("rfb_keyframes_encoded", "Keyframes encoded", g["keyframes"])
        yield counter("rfb_encoded_bytes", "Bytes of encoded units", g["bytes_out"])
        yield counter("rfb_encode_errors", "Encodes that failed", g["errors"])
        yield counter("rfb_frames_sent", "Units sent to viewers", v["frames_sent"])
        yield counter("rfb_keyframes_sent", "Keyframes sent to viewers", v["keyframes_sent"])
        yield counter("rfb_sent_bytes", "Bytes of units sent to viewers", v["bytes_sent"])
        skipped = CounterMetricFamily(
            "rfb_frames_skipped", "Units a viewer did not get", labels=["reason"]
        )
        skipped.add_metric(["no_credit"], v["frames_skipped"])
        skipped.add_metric(["expired"], v["frames_expired"])
        yield skipped
        yield counter("rfb_keyframe_requests", "Keyframe requests from viewers (incl. PLI)",
                      v["keyframe_requests"])  # fmt: skip

        h = hub.totals.encode_histogram()
        bounds = [("+Inf" if b == float("inf") else f"{b / 1000:g}", n) for b, n in h["buckets"]]
        yield HistogramMetricFamily(
            "rfb_encode_seconds",
            "Time to encode one unit",
            buckets=bounds,
            sum_value=h["sum_ms"] / 1000,
        )

        refused = CounterMetricFamily(
            "rfb_refused", "Connections refused, by the check or limit that refused",
            labels=["reason"],
        )  # fmt: skip
        for reason in (*REFUSALS, *sorted(set(d.refused) - set(REFUSALS))):
            refused.add_metric([reason], d.refused.get(reason, 0))
        yield refused
        errors = CounterMetricFamily(
            "rfb_protocol_errors", "Viewers closed for what they sent, by close code",
            labels=["code"],
        )  # fmt: skip
        for code in sorted(d.protocol_errors):
            errors.add_metric([str(code)], d.protocol_errors[code])
        yield errors

        dropped = CounterMetricFamily(
            "rfb_input_dropped", "Input events not delivered, by reason", labels=["reason"]
        )
        reasons = {"view_only", "rate", "coalesced", "unknown_viewer"} | set(d.input_dropped)
        for reason in sorted(reasons):
            dropped.add_metric([reason], d.input_dropped.get(reason, 0))
        dropped.add_metric(["queue_full"], d.events_dropped)
        yield dropped
        yield counter("rfb_input_events", "Input events delivered to the application",
                      d.events_delivered)  # fmt: skip
