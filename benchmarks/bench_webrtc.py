"""WebRTC figures: server CPU per viewer, and time to first frame in Chromium.

    python benchmarks/bench_webrtc.py [cpu] [first-frame] [--seconds N]

cpu: server CPU seconds per second with 1 and 8 WebRTC viewers at 1280x720 30 fps, for rfb
(one encode, pre-encoded packets per viewer) and for the usual aiortc pattern (a track of
raw frames: one encode per viewer, benchmarks/aiortc_baseline.py). The viewers are aiortc
peers in this process with a counting stub decoder, so the figure is the server's alone.
first-frame: page load -> first WebRTC frame drawn, demo page in Debian's Chromium.
Loopback only. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import free_port

from rfb.bench import cpu_seconds
from rfb.patterns import TRIVIAL_PATTERNS

W, H = 1280, 720
PATTERN = "scene"  # --pattern
ICE_ARGS = ["--ice-host-addresses", "127.0.0.1", "--ice-allowed-networks", "127.0.0.0/8"]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--allow-loopback-in-peer-connection", "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream"]  # fmt: skip


class CountingDecoder:
    """Stands in for aiortc's H.264 decoder in the viewers: counts frames, decodes nothing."""

    frames = 0

    def decode(self, encoded_frame):  # type: ignore[no-untyped-def]
        CountingDecoder.frames += 1
        return []


@contextlib.asynccontextmanager
async def start(cmd: list[str], port: int):  # type: ignore[no-untyped-def]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/health") as r:
                        if r.status == 200:
                            break
                await asyncio.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


async def viewer(url: str, stop: asyncio.Event) -> None:
    import aiortc

    pc = aiortc.RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.createDataChannel("rfb")
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http, http.post(
        url, data=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"}
    ) as r:  # fmt: skip
        answer = await r.text()
    await pc.setRemoteDescription(aiortc.RTCSessionDescription(sdp=answer, type="answer"))
    await stop.wait()
    await pc.close()


async def measure(cmd: list[str], port: int, n: int, seconds: float) -> tuple[float, float]:
    async with start(cmd, port) as proc:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(viewer(f"http://127.0.0.1:{port}/whep", stop)) for _ in range(n)
        ]
        await asyncio.sleep(3)
        f0, c0, t0 = CountingDecoder.frames, cpu_seconds(proc.pid), time.monotonic()
        await asyncio.sleep(seconds)
        f1, c1, t1 = CountingDecoder.frames, cpu_seconds(proc.pid), time.monotonic()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return (c1 - c0) / (t1 - t0), (f1 - f0) / (t1 - t0) / n


async def bench_cpu(seconds: float) -> None:
    import aiortc.rtcrtpreceiver

    from rfb.signaling import IceConfig
    from rfb.transports.webrtc import apply_ice_policy

    apply_ice_policy(
        IceConfig(host_addresses=("127.0.0.1",), allowed_remote_networks=("127.0.0.0/8",))
    )
    aiortc.rtcrtpreceiver.get_decoder = lambda codec: CountingDecoder()
    print(f"\n== server CPU, WebRTC viewers at {W}x{H} 30 fps ({seconds:.0f} s each)", flush=True)
    here = Path(__file__).resolve().parent
    for label, make in (
        ("rfb (one encode, shared packets)", lambda p: [sys.executable, "-m", "rfb.server", "--transport", "webrtc",
            "--pattern", PATTERN, "--width", str(W), "--height", str(H), "--fps", "30",
            "--port", str(p), *ICE_ARGS]),
        ("aiortc baseline (encode per viewer)", lambda p: [sys.executable, str(here / "aiortc_baseline.py"),
            "--port", str(p), "--width", str(W), "--height", str(H), "--fps", "30",
            "--pattern", PATTERN]),
    ):  # fmt: skip
        res = {}
        for n in (1, 8):
            port = free_port()
            res[n] = await measure(make(port), port, n, seconds)
            print(
                f"{label:38s} {n} viewer(s): {res[n][0]:.3f} CPU s/s, {res[n][1]:.1f} fps per viewer",
                flush=True,
            )
        print(f"{label:38s} 8/1 ratio: {res[8][0] / res[1][0]:.2f}x", flush=True)


async def bench_first_frame(runs: int = 5) -> None:
    from playwright.async_api import async_playwright

    print(
        "\n== page load -> first WebRTC frame drawn (Chromium, demo page ?transport=webrtc)",
        flush=True,
    )
    port = free_port()
    cmd = [sys.executable, "-m", "rfb.server", "--transport", "webrtc", "--width", str(W),
           "--height", str(H), "--port", str(port), *ICE_ARGS]  # fmt: skip
    async with start(cmd, port), async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for query, label in (
            ("?transport=webrtc&nooverlay", "webrtc"),
            ("?transport=websocket&nooverlay", "websocket"),
        ):
            times = []
            for _ in range(runs):
                ctx = await browser.new_context(permissions=["camera", "microphone"])
                page = await ctx.new_page()
                await page.goto(f"http://127.0.0.1:{port}/{query}")
                while not await page.evaluate("window.rfbView?.stats?.firstFrameAt"):
                    await asyncio.sleep(0.05)
                times.append(
                    await page.evaluate(
                        "window.rfbView.stats.firstFrameAt - performance.timeOrigin"
                    )
                )
                await ctx.close()
            print(f"{label:10s} first frame after page load: median {statistics.median(times):.0f} ms "
                  f"(min {min(times):.0f}, max {max(times):.0f}, {runs} runs)", flush=True)  # fmt: skip
        await browser.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("sections", nargs="*", default=["cpu", "first-frame"])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--pattern", default="scene")
    args = ap.parse_args()
    global PATTERN
    PATTERN = args.pattern
    trivial = " (trivial pattern)" if PATTERN in TRIVIAL_PATTERNS else ""
    print(f"rfb WebRTC benchmark on {os.cpu_count()} CPUs, {PATTERN}{trivial}", flush=True)
    if "cpu" in args.sections:
        await bench_cpu(args.seconds)
    if "first-frame" in args.sections:
        await bench_first_frame()


if __name__ == "__main__":
    asyncio.run(main())
