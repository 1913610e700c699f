"""/metrics for Prometheus: what a scraper sees, and counters that never go backwards."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families

from rfb import client, protocol

JPEG = [protocol.CAP_JPEG]
SCRAPER_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
CLICK = {"type": "pointer_down", "x": 5, "y": 6, "button": 1, "buttons": [1], "modifiers": []}


async def scrape(url: str, accept: str = "text/plain;version=0.0.4",
                 token: str | None = None) -> dict[Any, float]:  # fmt: skip
    headers = {"Accept": accept}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.get(
        url + "metrics", headers=headers
    ) as r:  # fmt: skip
        assert r.status == 200
        text = await r.text()
    kind = r.headers["Content-Type"]
    if kind.startswith("application/openmetrics-text"):
        families = openmetrics_parser.text_string_to_metric_families(text)
    else:
        assert kind.startswith("text/plain")
        families = text_string_to_metric_families(text)
    out: dict[Any, float] = {}
    for family in families:
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


SERVER_WIDE = ("rfb_asyncio_tasks", "rfb_threads")


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """One sample; rfb's per-stream families carry the stream's name (serve(): default)."""
    if name.startswith("rfb_") and name not in SERVER_WIDE:
        labels.setdefault("stream", "default")
    return samples[(name, tuple(sorted(labels.items())))]


async def test_prometheus_scrape_counts_viewers_frames_refusals_and_dropped_input(
    serving,
) -> None:
    display, _ = await serving(320, 240, token="drive", view_token="watch")
    async with aiohttp.ClientSession() as http, http.get(
        display.ws_url, headers={"Origin": "http://evil.example", "Upgrade": "websocket",
                                 "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
    ) as r:  # fmt: skip
        assert r.status == 403
    async with client.connect(display.ws_url, JPEG, token="wrong") as v:
        await v.wait_closed()
    async with client.connect(display.ws_url, JPEG, token="watch") as watcher:
        for _ in range(5):
            await watcher.next_frame()
        await watcher.send_event(CLICK)
        async with client.connect(display.ws_url, JPEG, token="drive") as driver:
            await driver.next_frame()
            await driver.send_event(CLICK)
            async with asyncio.timeout(5):
                while display.stream.inputs.events_delivered < 1 or not display.stream.inputs.dropped:
                    await asyncio.sleep(0.02)
            live = await scrape(display.url, token="drive")
        assert value(live, "rfb_viewers", transport="websocket") == 2
        # Per viewer: its rung and what adaptation works from, one series per connection.
        ids = [dict(k[1])["viewer"] for k in live if k[0] == "rfb_viewer_rung"]
        assert len(set(ids)) == 2
        for vid in ids:
            who = {"viewer": vid, "transport": "websocket"}
            assert value(live, "rfb_viewer_rung", **who) == 0  # nothing constrains loopback
            assert value(live, "rfb_viewer_rung_width", **who) == 320
            assert value(live, "rfb_viewer_rung_switches_total", **who) == 0
            assert value(live, "rfb_viewer_latency_p95_seconds", **who) > 0
        assert value(live, "rfb_viewers", transport="webrtc") == 0
        assert value(live, "rfb_refused_total", reason="origin") == 1
        assert value(live, "rfb_refused_total", reason="unauthorized") == 1
        assert value(live, "rfb_input_dropped_total", reason="view_only") == 1
        assert value(live, "rfb_input_events_total") == 1
        assert value(live, "rfb_frames_sent_total") >= 6
        assert value(live, "rfb_frames_encoded_total") >= 5
        assert value(live, "rfb_keyframes_encoded_total") >= 1
        assert value(live, "rfb_sent_bytes_total") > 0
        encodes = value(live, "rfb_encode_seconds_count")
        assert encodes >= 5 and value(live, "rfb_encode_seconds_bucket", le="+Inf") == encodes
        assert value(live, "rfb_encode_seconds_sum") > 0
    async with asyncio.timeout(5):
        while display.client_count:
            await asyncio.sleep(0.02)
    after = await scrape(display.url, SCRAPER_ACCEPT, "drive")  # the scraper's own Accept
    # Viewers left and their groups closed; what they counted stays counted.
    assert value(after, "rfb_viewers", transport="websocket") == 0
    assert value(after, "rfb_encoder_groups") == 0
    assert not [k for k in after if k[0].startswith("rfb_viewer_")]  # gone with the viewers
    for name in ("rfb_frames_sent_total", "rfb_frames_encoded_total", "rfb_sent_bytes_total",
                 "rfb_encode_seconds_count", "rfb_input_events_total"):  # fmt: skip
        assert value(after, name) >= value(live, name), name


async def test_metrics_stay_json_for_people_and_tools(serving) -> None:
    display, _ = await serving(64, 64)
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Accept": "*/*"}, {"Accept": "text/html,application/xhtml+xml,*/*"}):
            async with http.get(display.url + "metrics", headers=headers) as r:
                assert r.content_type == "application/json"
                assert "display" in await r.json()
        async with http.get(display.url + "metrics?format=prometheus") as r:
            assert r.content_type == "text/plain" and "rfb_viewers" in await r.text()
