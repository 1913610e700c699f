"""WebRTC figures: server CPU per viewer, and time to first frame in Chromium.

    python benchmarks/bench_webrtc.py [cpu] [first-frame] [--seconds N] [--pattern scene]
    python benchmarks/bench_webrtc.py cpu --viewers 1,2,4,8,16 --websocket --seconds 4
        --json fanout.json --plot fanout.png        # the fan-out sweep, plotted (one line)
    python benchmarks/bench_webrtc.py --from-json fanout.json --plot fanout.png

cpu: server CPU seconds per second with 1 and 8 (``--viewers``) WebRTC viewers at 1280x720
30 fps, H.264, for rfb (one encode, pre-encoded packets per viewer) and for the usual aiortc
pattern (a track of raw frames: one encode per viewer, benchmarks/aiortc_baseline.py); with
``--websocket`` also rfb with WebSocket viewers (rfb.client, acking without decoding). The
WebRTC viewers are aiortc peers in this process with a counting stub decoder, so the figure
is the server's alone (it runs in its own process; CPU from /proc). Each point: 3 s to join,
then ``--seconds`` measured; prints CPU s/s, frames per second per viewer and the machine's
busy fraction (this process's viewers share the cores). ``--json`` saves the points,
``--plot`` draws CPU against viewers (matplotlib: pip install 'rfb[bench]'), ``--from-json``
redraws from saved points.
first-frame: page load -> first WebRTC frame drawn, demo page in Debian's Chromium.
Loopback only. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import H264, _watch, free_port

from rfb.bench import MachineLoad, cpu_seconds
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


async def measure(
    cmd: list[str], port: int, n: int, seconds: float, websocket: bool = False
) -> dict[str, Any]:
    """One point: n viewers join, 3 s later the server's CPU and the frames are counted."""
    async with start(cmd, port) as proc:
        stop = asyncio.Event()
        counters = [[0] for _ in range(n)]
        if websocket:
            url = f"http://127.0.0.1:{port}/"
            tasks = [asyncio.create_task(_watch(url, H264, stop, False, c)) for c in counters]
        else:
            url = f"http://127.0.0.1:{port}/whep"
            tasks = [asyncio.create_task(viewer(url, stop)) for _ in range(n)]

        def frames() -> int:
            return sum(c[0] for c in counters) if websocket else CountingDecoder.frames

        await asyncio.sleep(3)
        machine = MachineLoad()
        f0, c0, t0 = frames(), cpu_seconds(proc.pid), time.monotonic()
        await asyncio.sleep(seconds)
        f1, c1, t1 = frames(), cpu_seconds(proc.pid), time.monotonic()
        busy = machine.busy()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "viewers": n,
        "cpu": (c1 - c0) / (t1 - t0),
        "fps": (f1 - f0) / (t1 - t0) / n,
        "busy": busy,
    }


async def bench_cpu(args: argparse.Namespace) -> list[dict[str, Any]]:
    import aiortc.rtcrtpreceiver

    from rfb.signaling import IceConfig
    from rfb.transports.webrtc import apply_ice_policy

    apply_ice_policy(
        IceConfig(host_addresses=("127.0.0.1",), allowed_remote_networks=("127.0.0.0/8",))
    )
    aiortc.rtcrtpreceiver.get_decoder = lambda codec: CountingDecoder()
    seconds, counts = args.seconds, args.viewers
    print(f"\n== server CPU, viewers at {W}x{H} 30 fps, H.264 (3 s to join, {seconds:g} s "
          f"measured per point)", flush=True)  # fmt: skip
    here = Path(__file__).resolve().parent
    rfb_cmd = [sys.executable, "-m", "rfb.server", "--pattern", PATTERN, "--width", str(W),
               "--height", str(H), "--fps", "30"]  # fmt: skip
    runs = [
        ("rfb, WebRTC (one encode, shared packets)", False,
         lambda p: [*rfb_cmd, "--transport", "webrtc", "--port", str(p), *ICE_ARGS]),
        ("aiortc baseline, WebRTC (encode per viewer)", False,
         lambda p: [sys.executable, str(here / "aiortc_baseline.py"), "--port", str(p),
                    "--width", str(W), "--height", str(H), "--fps", "30", "--pattern", PATTERN]),
    ]  # fmt: skip
    if args.websocket:
        runs.insert(0, ("rfb, WebSocket (one encode)", True,
                        lambda p: [*rfb_cmd, "--port", str(p)]))  # fmt: skip
    lines = []
    for label, websocket, make in runs:
        points = []
        for n in counts:
            port = free_port()
            r = await measure(make(port), port, n, seconds, websocket)
            points.append(r)
            print(f"{label:44s} {n:2d} viewer(s): {r['cpu']:.3f} CPU s/s, {r['fps']:4.1f} fps "
                  f"per viewer, machine busy {r['busy']:.2f}", flush=True)  # fmt: skip
        first, last = points[0], points[-1]
        print(f"{label:44s} {last['viewers']}/{first['viewers']} ratio: "
              f"{last['cpu'] / first['cpu']:.2f}x", flush=True)  # fmt: skip
        lines.append({"name": label, "points": points})
    return lines


def plot_fanout(save: dict[str, Any], path: str) -> None:
    """Server CPU against the number of viewers, one line per server."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--plot needs matplotlib: pip install 'rfb[bench]'")
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    counts = sorted({p["viewers"] for line in save["lines"] for p in line["points"]})
    for i, line in enumerate(save["lines"]):
        pts = line["points"]
        xs, ys = [p["viewers"] for p in pts], [p["cpu"] for p in pts]
        ax.plot(xs, ys, "o-", color=f"C{i}", label=line["name"], ms=4)
        for p in pts:  # where the viewers fall behind, say so
            if p["fps"] < 28:
                ax.annotate(f"{p['fps']:.0f} fps each", (p["viewers"], p["cpu"]),
                            xytext=(0, -13), textcoords="offset points", ha="center",
                            fontsize=7, color=f"C{i}")  # fmt: skip
    cpus = save.get("cpus")
    if cpus:
        ax.axhline(cpus, color="k", lw=0.8, ls=":", label=f"all {cpus} cores")
    ax.set_xscale("log", base=2)
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_xlim(counts[0] / 1.3, counts[-1] * 1.3)
    ax.set_xlabel("viewers (each at 30 fps unless marked)")
    ax.set_ylabel("server CPU seconds per second")
    ax.set_ylim(0, max(cpus or 0, *(p["cpu"] for ln in save["lines"] for p in ln["points"])) * 1.1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    ax.set_title(save["label"], fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


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


def counts(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("sections", nargs="*", default=["cpu", "first-frame"])
    ap.add_argument("--seconds", type=float, default=10, help="measured per point (cpu)")
    ap.add_argument("--pattern", default="scene")
    ap.add_argument("--viewers", type=counts, default=[1, 8], help="cpu: counts, e.g. 1,2,4,8,16")
    ap.add_argument("--websocket", action="store_true", help="cpu: also rfb with WebSocket viewers")
    ap.add_argument("--json", help="cpu: save the points here")
    ap.add_argument("--plot", help="cpu: plot CPU against viewers into this PNG")
    ap.add_argument("--from-json", help="only redraw --plot from this saved --json")
    args = ap.parse_args()
    if args.from_json:
        plot_fanout(json.loads(Path(args.from_json).read_text()), args.plot or "fanout.png")
        return
    global PATTERN
    PATTERN = args.pattern
    trivial = " (trivial pattern)" if PATTERN in TRIVIAL_PATTERNS else ""
    print(f"rfb WebRTC benchmark on {os.cpu_count()} CPUs, {PATTERN}{trivial}", flush=True)
    if "cpu" in args.sections:
        lines = await bench_cpu(args)
        save = {
            "label": f"server CPU against viewers: {W}x{H} {PATTERN}{trivial} at 30 fps, "
            f"H.264, {os.cpu_count()} cores, {args.seconds:g} s per point",
            "cpus": os.cpu_count(),
            "seconds": args.seconds,
            "lines": lines,
        }
        if args.json:
            Path(args.json).write_text(json.dumps(save, indent=1))
        if args.plot:
            plot_fanout(save, args.plot)
    if "first-frame" in args.sections:
        await bench_first_frame()


if __name__ == "__main__":
    asyncio.run(main())
