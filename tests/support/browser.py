"""Headless Chromium for the end-to-end tests (Debian's /usr/bin/chromium, driven by
Playwright): how it is launched, waiting on a page, reading its canvas, a display that
publishes like a user's loop, and the script that makes a page's WebRTC relay-only."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import rfb
from rfb import patterns

CHROMIUM = os.environ.get("RFB_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # WebRTC on loopback: Chromium offers 127.0.0.1 candidates only to pages with media
    # permission (granted per context in the tests, answered by the fake UI).
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]

W, H = 640, 360


async def wait_for(page: Any, expression: str, timeout: float = 15.0) -> Any:
    """Poll a JS expression until it is truthy; returns its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out waiting for {expression}")
        await asyncio.sleep(0.05)


async def frames_displayed(page: Any) -> int:
    return int(await page.evaluate("window.rfbView?.stats?.framesDisplayed ?? 0"))


async def capture(page: Any) -> Any:
    """The canvas's pixels as drawn, (H, W, 4) uint8."""
    import base64

    import numpy as np

    w, h, b64 = await page.evaluate(
        """window.rfbView.capture('imagedata').then(i => {
            let s = '';
            for (let k = 0; k < i.data.length; k += 0x8000)
                s += String.fromCharCode.apply(null, i.data.subarray(k, k + 0x8000));
            return [i.width, i.height, btoa(s)];
        })"""
    )
    return np.frombuffer(base64.b64decode(b64), np.uint8).reshape(h, w, 4)


class Stream:
    """A display publishing the test card at 30 fps, like a user's loop."""

    def __init__(self, display: rfb.Display, pattern: str = "test_card", fps: float = 30) -> None:
        self.display = display
        self.render = patterns.make(pattern, display.width, display.height)
        self.i = 0
        self.task = asyncio.create_task(self._run(fps))

    async def _run(self, fps: float) -> None:
        while not self.display.closed:
            self.display.publish(self.render(self.i), copy=False)
            self.i += 1
            await asyncio.sleep(1 / fps)

    async def close(self) -> None:
        self.task.cancel()
        await self.display.aclose()


async def open_page(browser, url: str, *, width=W, height=H, dpr: float = 1.0,  # type: ignore[no-untyped-def]
                    permissions: tuple[str, ...] = (), **context: object):
    """A page of ``url`` that has drawn frames; ``context``: more of new_context's options
    (``has_touch``, ...)."""
    ctx = await browser.new_context(viewport={"width": width, "height": height},
                                    device_scale_factor=dpr,
                                    permissions=["camera", "microphone", *permissions],
                                    **context)  # fmt: skip
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Console errors too: the page loads clean (no favicon 404, no failed request).
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(url)
    await wait_for(page, "window.rfbView?.stats?.framesDisplayed > 3")
    assert not errors, errors
    return ctx, page


async def collect(display: rfb.Display, n: int, types: set[str], timeout: float = 10.0) -> list:
    out: list = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            out += [e for e in display.poll_events() if e.type in types]
            await asyncio.sleep(0.02)
    return out


# Every RTCPeerConnection the page makes is relay-only; the configs it was given, the
# TURN errors it saw and the rfb config messages it received are kept for the test.
FORCE_RELAY = """
(() => {
  const Native = window.RTCPeerConnection;
  const rec = (window.__relay = { configs: [], pcs: [], candidateErrors: [], rfbConfigs: [] });
  const relayOnly = (config) => ({ ...(config || {}), iceTransportPolicy: "relay" });
  class RelayOnlyPeerConnection extends Native {
    constructor(config, ...rest) {
      const forced = relayOnly(config);
      super(forced, ...rest);
      rec.configs.push(JSON.parse(JSON.stringify(forced)));
      rec.pcs.push(this);
      this.addEventListener("icecandidateerror", (e) =>
        rec.candidateErrors.push({ url: e.url, errorCode: e.errorCode, errorText: e.errorText }));
    }
    setConfiguration(config) {
      return super.setConfiguration(relayOnly(config));
    }
    createDataChannel(...args) {
      const channel = super.createDataChannel(...args);
      channel.addEventListener("message", (e) => {
        if (typeof e.data !== "string") return;
        try {
          const m = JSON.parse(e.data);
          if (m.type === "config") rec.rfbConfigs.push(m);
        } catch {}
      });
      return channel;
    }
  }
  window.RTCPeerConnection = RelayOnlyPeerConnection;
})();
"""

# The newest peer connection's selected candidate pair, from getStats().
SELECTED_PAIR = """
async () => {
  const pc = window.__relay.pcs.at(-1);
  if (!pc) return null;
  const byId = new Map();
  (await pc.getStats()).forEach((s) => byId.set(s.id, s));
  let pair = null;
  for (const s of byId.values())
    if (s.type === "transport" && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
  if (!pair) return null;
  const pick = (c) => ({ type: c.candidateType, address: c.address, port: c.port,
                         protocol: c.protocol, relayProtocol: c.relayProtocol ?? null,
                         url: c.url ?? null });
  return { state: pair.state, bytesReceived: pair.bytesReceived, bytesSent: pair.bytesSent,
           local: pick(byId.get(pair.localCandidateId)),
           remote: pick(byId.get(pair.remoteCandidateId)),
           ice: pc.iceConnectionState };
}
"""

# The candidate types in each peer connection's local description.
LOCAL_CANDIDATE_TYPES = """
() => window.__relay.pcs.map((pc) =>
  [...(pc.localDescription?.sdp ?? "").matchAll(/^a=candidate:.* typ (\\w+)/gm)].map((m) => m[1]))
"""
