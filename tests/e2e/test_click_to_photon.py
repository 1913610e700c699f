"""Click-to-photon in Chromium, on the WebSocket and on WebRTC: a program moves a marker to
each click; every click gets one sample (input sent -> the first frame that reflects it
drawn) in the page's stats, and the server shows them per viewer and in /metrics. Only
inputs the program took are sampled, though it publishes every frame. A program that
sleeps 100 ms before publishing what a click changed shows up about 100 ms slower."""

from __future__ import annotations

import random
import statistics
from typing import Any

import aiohttp
import pytest

import rfb

from support.browser import open_page, wait_for
from support.photon_app import MarkerProgram, click, page_samples
from support.webrtc import LOOPBACK

pytestmark = pytest.mark.asyncio(loop_scope="module")

W, H = 320, 240
CLICKS = 8


async def clicks_measured(browser: Any, transport: str, react_s: float) -> list[float]:
    """Serve the marker program, click CLICKS times, check what the page and the server
    report, and return each click's sample (ms)."""
    kw: dict[str, Any] = {"transport": "webrtc", "ice": LOOPBACK} if transport == "webrtc" else {}
    display = await rfb.serve(W, H, port=0, fps=30, **kw)
    program = MarkerProgram(display, fps=30, react_s=react_s)
    query = "?transport=webrtc&nooverlay" if transport == "webrtc" else "?nooverlay"
    ctx, page = await open_page(browser, display.url + query, width=W, height=H)
    try:
        await wait_for(page, f"window.rfbView.stats?.transport === '{transport}'")
        rng = random.Random(32)
        for _ in range(CLICKS):
            await click(page, rng, W, H)
        downs = list(program.downs)
        assert len(downs) == CLICKS
        # The stats go out once a second: wait for the last click's sample.
        await wait_for(
            page, f"window.rfbView.stats?.inputToPhoton?.recent.some(s => s.seq === {downs[-1]})"
        )
        samples = await page_samples(page)
        assert all(d in samples for d in downs), (downs, samples)
        # No false samples: only inputs the program took, though every frame changed.
        (client_id,) = {cid for cid, _ in program.taken}
        assert {(client_id, seq) for seq in samples} <= program.taken
        assert program.frames > len(samples)
        # The server has each sample the page made, for this viewer and in /metrics.
        figures = await page.evaluate("window.rfbView.stats.inputToPhoton")
        (viewer,) = display.metrics()["viewers"]
        assert viewer["id"] == client_id
        # (the page's figures are from its last report, once a second: maybe one behind)
        assert viewer["input_to_photon"]["samples"] >= figures["count"] >= CLICKS
        url = display.url + "metrics?format=prometheus"
        async with aiohttp.ClientSession() as http, http.get(url) as r:
            text = await r.text()
        counts = [line for line in text.splitlines()
                  if line.startswith("rfb_input_to_photon_seconds_count")]  # fmt: skip
        assert len(counts) == 1 and float(counts[0].split()[-1]) >= CLICKS, counts
        return [samples[d] for d in downs]
    finally:
        await ctx.close()
        await program.stop()
        await display.aclose()


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_each_click_is_timed_and_a_slower_program_shows_up_slower(
    browser: Any, transport: str
) -> None:
    quick = await clicks_measured(browser, transport, react_s=0.0)
    slow = await clicks_measured(browser, transport, react_s=0.1)
    assert all(ms > 0 for ms in quick + slow)
    difference = statistics.median(slow) - statistics.median(quick)
    assert 60 <= difference <= 160, (quick, slow)
