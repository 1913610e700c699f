"""The container demo for real: `scripts/compose-check` builds the images and starts the
compose stack (rfb + coturn, and the janus profile with rfb relaying to it), and headless
Chromium watches the container's stream through the page it serves, over the WebSocket
and over WebRTC relayed by the stack's coturn, checking pixels and input, and through the
stack's Janus; the stack then goes down leaving nothing.

Where the machine's Docker engine cannot start (no docker.io, not root) the test is
skipped with the reason; everywhere else it runs (CI installs docker.io, debootstrap and
docker-compose). The engine compose-check starts lives in a network namespace of its own,
so Chromium runs there too (nsenter), on that namespace's 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import pytest_asyncio

from support.browser import (
    ARGS,
    CHROMIUM,
    FORCE_RELAY,
    LOCAL_CANDIDATE_TYPES,
    SELECTED_PAIR,
    capture,
    wait_for,
)
from support.paths import ROOT
from support.pixels import assert_test_card, quadrant_colours

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]


CHECK = ROOT / "scripts" / "compose-check"
URL = "http://127.0.0.1:8765/"
W, H = 640, 360  # the page; the stream is the compose default, 1280x720
# The server's log line for a left click at the frame's centre, in frame pixels.
CLICKED = re.compile(r"'type': 'pointer_down', 'x': 640(\.0)?, 'y': 360(\.0)?, .*'button': 1\b")


def why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root to start a Docker engine"
    for tool in ("dockerd", "docker-compose", "debootstrap", "nsenter", "unshare"):
        if not shutil.which(tool):
            return f"needs {tool} (apt-get install docker.io docker-compose debootstrap)"
    return None


def compose_check(action: str, **env: str) -> str:
    r = subprocess.run(["bash", str(CHECK), action], capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def stack() -> Iterator[str]:
    reason = why_not()
    if reason:
        pytest.skip(f"compose demo not run: {reason}")
    out = compose_check("up", RFB_PATTERN="test_card", RFB_VERBOSE="1",
                        RFB_COMPOSE_PROFILES="janus", RFB_RELAY_RTP="rtp://janus:5004")
    (netns,) = re.findall(r"^rfb-compose: netns (\S+)$", out, re.M)
    assert "health check: healthy" in out
    try:
        yield netns
    finally:
        down = compose_check("down")
        assert "no container or network of" in down  # docker compose down left nothing


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(stack: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from playwright.async_api import async_playwright

    exe = CHROMIUM
    if stack != "host":
        wrapper = tmp_path_factory.mktemp("chromium") / "chromium-in-docker-netns"
        wrapper.write_text(f'#!/bin/sh\nexec nsenter --net={stack} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        exe = str(wrapper)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=exe, args=ARGS, headless=True)
        yield b
        await b.close()


async def test_the_containers_page_shows_its_stream_and_takes_input(browser: Any) -> None:
    ctx = await browser.new_context(viewport={"width": W, "height": H})
    page = await ctx.new_page()
    try:
        await page.goto(URL + "?transport=websocket&nooverlay")
        await wait_for(page, "window.rfbView?.stats?.framesDisplayed > 10", timeout=30)
        stats = await page.evaluate("window.rfbView.stats")
        assert stats["transport"] == "websocket" and stats["codec"].startswith("avc1.")
        img = await capture(page)
        assert_test_card(quadrant_colours(img, 0, 0, W, H), 6)
        # A click at the page's centre is the frame's centre (1280x720 drawn at 640x360).
        await page.mouse.click(W // 2, H // 2)
        async with asyncio.timeout(15):  # the server logs each event (RFB_VERBOSE=1)
            while not any(CLICKED.search(line) for line in compose_check("logs").splitlines()):
                await asyncio.sleep(0.5)
    finally:
        await ctx.close()


async def test_webrtc_through_the_compose_files_coturn(browser: Any) -> None:
    """Relay-only: every packet between Chromium and the container goes through the
    compose file's coturn, with credentials rfb minted from the shared TURN_SECRET."""
    ctx = await browser.new_context(viewport={"width": W, "height": H},
                                    permissions=["camera", "microphone"])  # fmt: skip
    await ctx.add_init_script(FORCE_RELAY)
    page = await ctx.new_page()
    try:
        await page.goto(URL + "?transport=webrtc&nooverlay")
        await wait_for(page, "window.rfbView?.stats?.transport === 'webrtc' && "
                             "window.rfbView.stats.framesDisplayed > 10", timeout=40)  # fmt: skip
        pair = await wait_for(page, f"({SELECTED_PAIR})()", timeout=10)
        # Chromium gathered relayed candidates only, and the pair it uses is a TURN
        # allocation: its address is coturn's as rfb's container sees it (coturn
        # announces --external-ip, 127.0.0.1, so the checks report it peer-reflexive).
        assert {t for pc in await page.evaluate(LOCAL_CANDIDATE_TYPES) for t in pc} == {"relay"}
        assert pair["local"]["relayProtocol"] == "udp", pair
        img = await capture(page)
        assert_test_card(quadrant_colours(img, 0, 0, W, H), 8)
        await page.mouse.click(W // 4, H // 4)  # over the data channel: (320, 180) in the frame
        clicked = re.compile(r"'type': 'pointer_down', 'x': 320(\.0)?, 'y': 180(\.0)?, ")
        async with asyncio.timeout(15):
            while not any(clicked.search(line) for line in compose_check("logs").splitlines()):
                await asyncio.sleep(0.5)
    finally:
        await ctx.close()


# The page's <video> as the test card's quadrant colours.
VIDEO_QUADRANTS = """() => { const v = window.rfbJanus.video; if (!v.videoWidth) return null;
  const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0); const w = c.width, h = c.height;
  return [[w / 4, h / 4], [3 * w / 4, h / 4], [w / 4, 3 * h / 4], [3 * w / 4, 3 * h / 4]]
    .map(([x, y]) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3))); }"""


async def test_watchers_through_the_stacks_janus(browser: Any) -> None:
    """The janus profile: rfb's container relays RTP to Janus's, whose watchers use rfb's
    watcher page with Janus's HTTP API on the published port 8088."""
    ctx = await browser.new_context(viewport={"width": W, "height": H})
    page = await ctx.new_page()
    try:
        await page.goto(URL + "static/janus.html?janus=http://127.0.0.1:8088/janus&id=1")
        await page.wait_for_function("window.rfbJanus !== undefined")
        await page.evaluate("""() => { const j = window.rfbJanus; j.frames = 0;
            const t = () => { j.frames++; j.video.requestVideoFrameCallback(t); };
            j.video.requestVideoFrameCallback(t); }""")
        await wait_for(page, "window.rfbJanus.frames > 30", timeout=40)
        assert await page.evaluate("window.rfbJanus.video.videoWidth") == 1280
        colours = await page.evaluate(VIDEO_QUADRANTS)
        assert_test_card([tuple(c) for c in colours], 12)
    finally:
        await ctx.close()
