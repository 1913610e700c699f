"""Sound in headless Chromium: publish -> played latency and A/V offset, per transport.

A small frame flashes white at the instant a click (10 ms of 1 kHz) is published, every
600 ms, beside 10 ms of silence every 10 ms and a frame every 30 ms (the A/V test's
producer, tests/e2e/test_audio.py). The page taps what goes to the speakers with an
AudioWorklet and reports each click's onset as a page time (the sample's context time
mapped with getOutputTimestamp(), so the output latency is included), and reads its
canvas back every ~8 ms for the white frame. Page time is mapped onto the publisher's
clock (time.monotonic) by the round trip with the smallest delay, so each flash gives
publish -> heard (audio latency), publish -> shown (video latency) and heard - shown
(the A/V offset, > 0: sound behind). Then the Opus encode's CPU: this process's CPU
seconds per second while a tone is published, with one Python listener (features=
("audio",)) and with one viewer that does not ask for sound (nothing encoded).

    python benchmarks/bench_audio.py --flashes 30
    python benchmarks/bench_audio.py --transports websocket --cpu-seconds 0

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np

import rfb
from rfb.bench import MachineLoad, percentile

from support.av_sync import WATCH, page_offset_ms
from support.browser import ARGS, CHROMIUM, wait_for
from support.tone import TonePublisher

SW, SH = 160, 96
SRV_IP, PORT = "10.99.0.1", 8767  # the delayed path's server (bench_loss.py's namespaces)
PERIOD_TICKS = 60  # 10 ms ticks: a flash every 600 ms


def dist(x: list[float] | np.ndarray) -> str:
    x = list(x)
    if not x:
        return "-"
    return (f"min {min(x):6.1f}  p5 {percentile(x, 5):6.1f}  p50 {percentile(x, 50):6.1f}  "
            f"p95 {percentile(x, 95):6.1f}  max {max(x):6.1f}")  # fmt: skip


async def flashes(browser: Any, transport: str, count: int, netns: bool = False) -> dict[str, Any]:
    from bench_loss import serve_where

    where, url = serve_where(netns, transport, PORT)
    display = await rfb.serve(SW, SH, **where)
    url = url or display.url
    black = np.zeros((SH, SW, 3), np.uint8)
    white = np.full((SH, SW, 3), 255, np.uint8)
    t = np.arange(480) / 48000
    click = (0.8 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    silence = np.zeros(480, np.float32)
    published: list[float] = []
    start = asyncio.Event()

    async def run() -> None:
        t0, tick, flash_at = time.monotonic(), 0, None
        while True:
            if start.is_set() and flash_at is None:
                flash_at = tick + 10
            k = None if flash_at is None else tick - flash_at
            if k is not None and k >= 0 and k % PERIOD_TICKS == 0:
                published.append(time.monotonic())
                display.publish(white)
                display.publish_audio(click)
            else:
                if tick % 3 == 0:
                    lit = k is not None and 0 < k % PERIOD_TICKS < 6
                    frame = (white if lit else black).copy()
                    frame[:4, :4] = tick % 256
                    display.publish(frame)
                display.publish_audio(silence)
            tick += 1
            await asyncio.sleep(max(0.0, t0 + tick * 0.01 - time.monotonic()))

    task = asyncio.create_task(run())
    ctx = await browser.new_context(viewport={"width": SW, "height": SH},
                                    permissions=["camera", "microphone"])  # fmt: skip
    try:
        page = await ctx.new_page()
        await page.goto(url + f"?nooverlay&transport={transport}")
        await wait_for(page, "window.rfbView?.audio?.stats().state === 'playing'", timeout=30)
        await wait_for(page, "window.rfbView.audio.stats().bufferMs > 0")
        if transport == "webrtc":
            with contextlib.suppress(TimeoutError):  # NetEq starts high after start-up
                await wait_for(page, "window.rfbView.stats.audio?.bufferMs < 80", timeout=30)
        await page.evaluate(WATCH)
        await asyncio.sleep(1.0)
        off0, rtt0 = await page_offset_ms(page, 25)
        load = MachineLoad()
        start.set()
        buffer_ms, video_ms = [], []
        while len(published) < count + 1:
            s = await page.evaluate("window.rfbView.stats")
            if s.get("audio") and s["audio"].get("bufferMs") is not None:
                buffer_ms.append(s["audio"]["bufferMs"])
            if s.get("latencyMs") is not None:
                video_ms.append(s["latencyMs"])
            await asyncio.sleep(0.25)
        await asyncio.sleep(0.6)
        busy = load.busy()
        await page.evaluate("window.watching = false")
        off1, rtt1 = await page_offset_ms(page, 25)
        clicks = np.array(await page.evaluate("window.clicks"))
        whites = np.array(await page.evaluate("window.whites"))
        lat = await page.evaluate("[window.rfbView.audio.context.baseLatency, "
                                  "window.rfbView.audio.context.outputLatency]")  # fmt: skip
    finally:
        task.cancel()
        await ctx.close()
        await display.aclose()
    off = (off0 + off1) / 2
    clicks = clicks - off  # now time.monotonic() ms
    whites = whites - off
    audio, video, av = [], [], []
    for p in published[:count]:
        pm = p * 1000
        c = clicks[(clicks > pm) & (clicks < pm + 400)]
        w = whites[(whites > pm) & (whites < pm + 400)]
        if len(c):
            audio.append(c.min() - pm)
        if len(w):
            video.append(w.min() - pm)
        if len(c) and len(w):
            av.append(c.min() - w.min())
    return {"audio": audio, "video": video, "av": av, "n": min(count, len(published)),
            "clicks": len(clicks), "whites": len(whites), "rtt": max(rtt0, rtt1),
            "drift": off1 - off0, "buffer": buffer_ms, "ctx_ms": [1000 * (x or 0) for x in lat], "rfb_video": video_ms, "busy": busy}  # fmt: skip


async def cpu(seconds: float) -> None:
    import rfb.client

    rows = []
    for features in ((), ("audio",)):
        display = await rfb.serve(SW, SH, port=0)
        display.publish(np.zeros((SH, SW, 3), np.uint8))
        tone = TonePublisher(display, 440.0)
        async with rfb.client.connect(display.ws_url, features=features) as viewer:

            async def drain() -> None:
                while True:
                    await viewer.next_audio(timeout=60)

            d = asyncio.create_task(drain()) if features else None
            await asyncio.sleep(2.0)
            a0 = display.metrics()["display"]["audio"]
            load = MachineLoad()
            await asyncio.sleep(seconds)
            rec = load.record()
            a1 = display.metrics()["display"]["audio"]
            if d:
                d.cancel()
        await tone.stop()
        await display.aclose()
        rows.append((features, rec, a0, a1))
    base = rows[0][1]["process_cpu_s_per_s"]
    print(f"\nOpus encode CPU (this process, {seconds:.0f} s each, a 440 Hz mono tone "
          "published 10 ms at a time, one WebSocket viewer, a still frame):")  # fmt: skip
    for features, rec, a0, a1 in rows:
        label = "listener (audio)" if features else "viewer without audio"
        sent = a1.get("sent", 0) - a0.get("sent", 0)
        print(f"  {label:22s} {rec['process_cpu_s_per_s']:.3f} CPU s/s, machine busy "
              f"{100 * rec.get('machine_busy', 0):.0f} %, packets sent {sent}")  # fmt: skip
    extra = rows[1][1]["process_cpu_s_per_s"] - base
    print(f"  => sound for one stream: +{extra:.3f} CPU s/s ({100 * extra:.1f} % of a core)")


async def delayed(p: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The flashes again with Chromium in one network namespace and this process's server
    in another, joined by tun_link.py's delay line (bench_loss.py sets them up)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_loss

    assert bench_loss.SRV_IP == SRV_IP
    out: dict[str, Any] = {}
    flags = [*ARGS, "--autoplay-policy=no-user-gesture-required",
              f"--unsafely-treat-insecure-origin-as-secure=http://{SRV_IP}:{PORT}"]
    async with bench_loss.delayed_chromium(p, args.delay_ms, flags, CHROMIUM) as browser:
        for transport in args.transports.split(","):
            rtt = f"{2 * args.delay_ms:g} ms RTT"
            out[f"{transport}, {rtt}"] = await flashes(browser, transport, args.flashes, True)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flashes", type=int, default=40)
    ap.add_argument("--transports", default="websocket,webrtc")
    ap.add_argument("--cpu-seconds", type=float, default=10)
    ap.add_argument("--delay-ms", type=float, default=0,
                    help="also over a link with this one-way delay (20: a 40 ms RTT; root: "
                         "bench_loss.py's namespaces and tun_link.py)")  # fmt: skip
    args = ap.parse_args()
    from playwright.async_api import async_playwright

    results = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=[*ARGS, "--autoplay-policy=no-user-gesture-required"])  # fmt: skip
        for transport in args.transports.split(","):
            results[transport] = await flashes(browser, transport, args.flashes)
        await browser.close()
        if args.delay_ms > 0:
            results.update(await delayed(p, args))
    print(f"Loopback, {SW}x{SH} frames, a flash (white frame + 10 ms click) every 600 ms; "
          "ms on the publisher's clock:")  # fmt: skip
    for transport, r in results.items():
        print(f"\n{transport}: {r['n']} flashes, heard {len(r['audio'])}, seen {len(r['video'])}, "
              f"paired {len(r['av'])}; clock map +-{r['rtt'] / 2:.1f} ms (drift "
              f"{r['drift']:+.1f}); machine busy {100 * r['busy']:.0f} %")  # fmt: skip
        print(f"  publish -> heard (audio) {dist(r['audio'])}")
        print(f"  publish -> shown (video) {dist(r['video'])}")
        print(f"  A/V offset (heard-shown) {dist(r['av'])}")
        if r["buffer"]:
            print(f"  page's audio bufferMs p50 {percentile(r['buffer'], 50):.0f}; AudioContext "
                  f"base/output latency {r['ctx_ms'][0]:.0f}/{r['ctx_ms'][1]:.0f}; "
                  f"rfb's own video latencyMs p50 "
                  f"{percentile(r['rfb_video'], 50) if r['rfb_video'] else float('nan'):.1f}")  # fmt: skip
    if args.cpu_seconds > 0:
        await cpu(args.cpu_seconds)


if __name__ == "__main__":
    asyncio.run(main())
