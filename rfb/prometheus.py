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
    from .stream import Stream

REFUSALS = ("origin", "unauthorized", "max_viewers", "max_pending", "max_webrtc_sessions")
PROMETHEUS_MISSING = "Prometheus metrics need prometheus_client: pip install prometheus_client"


def wants_prometheus(accept: str, query_format: str | None) -> bool:
    """A scraper's request: ``?format=prometheus``, or an Accept header that asks for the
    text or OpenMetrics format rather than JSON (what a browser or curl sends gets JSON)."""
    if query_format is not None:
        return query_format.lower() in ("prometheus", "text", "openmetrics")
    accept = accept.lower()
    return "openmetrics" in accept or accept.split(",")[0].strip().startswith("text/plain")


def render(streams: list[Stream], accept: str = "") -> tuple[bytes, str]:
    """(body, content type) for one scrape: every family labelled by ``stream``."""
    try:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder
    except ImportError:
        raise RuntimeError(PROMETHEUS_MISSING) from None
    from prometheus_client import PlatformCollector, ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(streams))  # type: ignore[arg-type]
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, _open_fds, ...
    PlatformCollector(registry=registry)
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


class _Collector:
    def __init__(self, streams: list[Stream]) -> None:
        self.streams = streams

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        def gauge(name: str, doc: str, *labels: str) -> Any:
            return GaugeMetricFamily(name, doc, labels=["stream", *labels])

        def counter(name: str, doc: str, *labels: str) -> Any:
            return CounterMetricFamily(name, doc, labels=["stream", *labels])

        viewers = gauge("rfb_viewers", "Viewers connected", "transport")
        pending = gauge("rfb_pending_connections", "WebSocket connections that have not sent hello")
        groups_in_use = gauge("rfb_encoder_groups", "Encoder groups in use")
        sessions = gauge("rfb_webrtc_sessions", "WHEP sessions (peer connections)")
        uptime = gauge("rfb_uptime_seconds", "Seconds since the stream started")
        published = counter("rfb_frames_published", "Frames handed to publish()")
        unchanged = counter("rfb_frames_unchanged", "Published frames not encoded: the same "
                            "pixels as the frame before")  # fmt: skip
        encoded = counter("rfb_frames_encoded", "Units encoded (all groups)")
        keyframes = counter("rfb_keyframes_encoded", "Keyframes encoded")
        encoded_bytes = counter("rfb_encoded_bytes", "Bytes of encoded units")
        encode_errors = counter("rfb_encode_errors", "Encodes that failed")
        sent = counter("rfb_frames_sent", "Units sent to viewers")
        keyframes_sent = counter("rfb_keyframes_sent", "Keyframes sent to viewers")
        sent_bytes = counter("rfb_sent_bytes", "Bytes of units sent to viewers")
        skipped = counter("rfb_frames_skipped", "Units a viewer did not get", "reason")
        requests = counter("rfb_keyframe_requests", "Keyframe requests from viewers (incl. PLI)")
        stills = counter("rfb_stills_encoded", "Near-lossless stills of a resting frame encoded")
        exact_made = counter("rfb_exact_stills", "Exact (lossless) stills of a resting frame "
                             "offered by a group")  # fmt: skip
        exact_encoded = counter("rfb_exact_stills_encoded", "Exact stills encoded (once per "
                                "resting frame, shared by the groups)")  # fmt: skip
        exact_sent = counter("rfb_exact_stills_sent", "Exact stills sent to viewers")
        near_sent = counter("rfb_near_lossless_stills_sent", "Near-lossless stills sent to viewers")
        encode_s = HistogramMetricFamily(
            "rfb_encode_seconds", "Time to encode one unit", labels=["stream"]
        )
        refused = counter(
            "rfb_refused", "Connections refused, by the check or limit that refused", "reason"
        )
        errors = counter(
            "rfb_protocol_errors", "Viewers closed for what they sent, by close code", "code"
        )
        dropped = counter("rfb_input_dropped", "Input events not delivered, by reason", "reason")
        delivered = counter("rfb_input_events", "Input events delivered to the application")
        # Per viewer: one series each while it is connected (its id is per connection).
        per_viewer = ("viewer", "transport")
        rung = gauge("rfb_viewer_rung", "The viewer's rung of the quality ladder (0: top)",
                     *per_viewer)  # fmt: skip
        rung_bitrate = gauge("rfb_viewer_rung_bitrate_bps", "Bitrate of the viewer's rung (video)",
                             *per_viewer)  # fmt: skip
        rung_width = gauge("rfb_viewer_rung_width", "Coded width of the viewer's rung", *per_viewer)
        estimate = gauge("rfb_viewer_estimate_bps", "The viewer's path estimate, bits per second",
                         *per_viewer)  # fmt: skip
        queue = gauge("rfb_viewer_queue_seconds", "Standing queue on the viewer's path",
                      *per_viewer)  # fmt: skip
        switches = counter("rfb_viewer_rung_switches", "Rung switches for this viewer",
                           *per_viewer)  # fmt: skip
        viewer_exact = counter("rfb_viewer_exact_stills_sent", "Exact stills sent to this viewer",
                               *per_viewer)  # fmt: skip
        viewer_near = counter("rfb_viewer_near_lossless_stills_sent",
                              "Near-lossless stills sent to this viewer", *per_viewer)  # fmt: skip
        last_still = gauge("rfb_viewer_last_still", "1 for the kind of the last still "
                           "this viewer was sent (exact, near_lossless)", *per_viewer,
                           "kind")  # fmt: skip
        latency = gauge("rfb_viewer_latency_p95_seconds",
                        "Publish -> display latency p95 over the viewer's recent frames",
                        *per_viewer)  # fmt: skip
        # Click-to-photon (session/photon.py): input sent -> first frame drawn that shows it.
        photon_s = HistogramMetricFamily(
            "rfb_input_to_photon_seconds",
            "Input sent by a viewer -> the first frame that reflects it drawn, as viewers report",
            labels=["stream"],
        )
        photon_p95 = gauge("rfb_viewer_input_to_photon_p95_seconds",
                           "Click-to-photon p95 over the viewer's recent samples",
                           *per_viewer)  # fmt: skip

        for d in self.streams:
            n = d.name
            hub = d.hub
            by_transport = hub.viewers_by_transport()
            for name in ("websocket", "webrtc",
                         *sorted(set(by_transport) - {"websocket", "webrtc"})):  # fmt: skip
                viewers.add_metric([n, name], by_transport.get(name, 0))
            pending.add_metric([n], sum(1 for c in d.connections if c.pending))
            live = hub.live_groups()
            groups_in_use.add_metric([n], len(live))
            sessions.add_metric([n], len(d.webrtc.sessions) if d.webrtc is not None else 0)
            uptime.add_metric([n], d.now_us() / 1e6)

            g = hub.totals.groups(live)
            v = hub.totals.viewers(hub.live_viewers())
            published.add_metric([n], d.frames_published)
            unchanged.add_metric([n], d.frames_unchanged)
            encoded.add_metric([n], g["frames_encoded"])
            keyframes.add_metric([n], g["keyframes"])
            encoded_bytes.add_metric([n], g["bytes_out"])
            encode_errors.add_metric([n], g["errors"])
            sent.add_metric([n], v["frames_sent"])
            keyframes_sent.add_metric([n], v["keyframes_sent"])
            sent_bytes.add_metric([n], v["bytes_sent"])
            skipped.add_metric([n, "no_credit"], v["frames_skipped"])
            skipped.add_metric([n, "expired"], v["frames_expired"])
            requests.add_metric([n], v["keyframe_requests"])
            stills.add_metric([n], g["stills"])
            exact_made.add_metric([n], g["exact_stills"])
            exact_encoded.add_metric([n], hub.exact_stills.encoded)
            exact_sent.add_metric([n], v["exact_stills_sent"])
            near_sent.add_metric([n], v["near_lossless_stills_sent"])

            h = hub.totals.encode_histogram()
            bounds = [("+Inf" if b == float("inf") else f"{b / 1000:g}", c)
                      for b, c in h["buckets"]]  # fmt: skip
            encode_s.add_metric([n], bounds, sum_value=h["sum_ms"] / 1000)
            ph = d.inputs.photon.samples.histogram()
            photon_s.add_metric([n], [("+Inf" if b == float("inf") else f"{b:g}", c)
                                      for b, c in ph["buckets"]],
                                sum_value=ph["sum_s"])  # fmt: skip

            for reason in (*REFUSALS, *sorted(set(d.refused) - set(REFUSALS))):
                refused.add_metric([n, reason], d.refused.get(reason, 0))
            for code in sorted(d.protocol_errors):
                errors.add_metric([n, str(code)], d.protocol_errors[code])
            inputs = d.inputs
            reasons = {"view_only", "rate", "coalesced", "unknown_viewer", "control"} | set(
                inputs.dropped
            )
            for reason in sorted(reasons):
                dropped.add_metric([n, reason], inputs.dropped.get(reason, 0))
            dropped.add_metric([n, "queue_full"], inputs.events_dropped)
            delivered.add_metric([n], inputs.events_delivered)

            for vid, transport in hub.live_viewer_links():
                a, viewer = hub.adaptation(vid), hub.viewer(vid)
                labels = [n, vid, transport]
                if viewer is not None:
                    vm = viewer.metrics()
                    if vm["latency_p95_ms"] is not None:
                        latency.add_metric(labels, vm["latency_p95_ms"] / 1000)
                    viewer_exact.add_metric(labels, vm["exact_stills_sent"])
                    viewer_near.add_metric(labels, vm["near_lossless_stills_sent"])
                    if vm["last_still"] is not None:
                        last_still.add_metric([*labels, vm["last_still"]], 1)
                p95 = d.inputs.photon.samples.viewer(vid)["p95_ms"]
                if p95 is not None:
                    photon_p95.add_metric(labels, p95 / 1000)
                if not a:
                    continue
                rung.add_metric(labels, a["rung"])
                rung_width.add_metric(labels, a["rung_width"])
                switches.add_metric(labels, a["rung_switches"])
                if a["rung_bitrate"] is not None:
                    rung_bitrate.add_metric(labels, a["rung_bitrate"])
                if a["estimate_bps"] is not None:
                    estimate.add_metric(labels, a["estimate_bps"])
                if a["queue_ms"] is not None:
                    queue.add_metric(labels, a["queue_ms"] / 1000)

        yield from (viewers, pending, groups_in_use, sessions)
        # A scrape runs on the server's loop: all_tasks() are that loop's.
        yield GaugeMetricFamily("rfb_asyncio_tasks", "Tasks on the server's event loop",
                                len(asyncio.all_tasks()))  # fmt: skip
        yield GaugeMetricFamily("rfb_threads", "Threads in the process", threading.active_count())
        yield uptime
        yield from (published, unchanged, encoded, keyframes, encoded_bytes, encode_errors, sent,
                    keyframes_sent, sent_bytes, skipped, requests, stills, exact_made,
                    exact_encoded, exact_sent, near_sent, encode_s, refused, errors, dropped,
                    delivered, rung, rung_bitrate, rung_width, estimate, queue, switches,
                    viewer_exact, viewer_near, last_still, latency, photon_s,
                    photon_p95)  # fmt: skip
