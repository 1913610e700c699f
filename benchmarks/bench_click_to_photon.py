"""Click-to-photon in headless Chromium: a click sent -> the first frame that shows it drawn.

A program moves a marker to each click and publishes at --fps (a bar sweeps, so every frame
changes). Playwright presses the mouse at random spots and random times; the page times
each press from its send to the draw of the first frame that reflects it (rfb's own
click-to-photon samples, docs/guides/latency.md) on the WebSocket and on WebRTC, over
loopback and (--delay-ms, root) behind tun_link.py's delay line. Where the time goes, per
click (p50): the input's way to the server (what is left), the wait for the program's next
poll, the program itself, and publish -> drawn (the viewer's figure from its acks or
frame_shown reports), which holds the encode, the send and the decode.

    python benchmarks/bench_click_to_photon.py --clicks 30
    python benchmarks/bench_click_to_photon.py --clicks 30 --delay-ms 20   # + a 40 ms RTT

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import rfb
from rfb.bench import MachineLoad, percentile

from support.browser import ARGS, CHROMIUM, wait_for
from support.photon_app import MarkerProgram, page_sample_times

SRV_IP, PORT = "10.99.0.1", 8768  # the delayed path's server (bench_loss.py's namespaces)


def p(xs: list[float], q: float) -> float:
    return percentile(xs, q) if xs else float("nan")


async def page_offset_ms(page: Any, n: int = 25) -> float:
    """The page's epoch ms (performance.timeOrigin + now) - time.monotonic() * 1000, from
    the tightest of ``n`` round trips (both clocks are this host's)."""
    best = (float("inf"), 0.0)
    for _ in range(n):
        t0 = time.monotonic()
        at = await page.evaluate("performance.timeOrigin + performance.now()")
        t1 = time.monotonic()
        if t1 - t0 < best[0]:
            best = (t1 - t0, at - (t0 + t1) * 500)
    return best[1]


async def press(page: Any, rng: random.Random, w: int, h: int) -> None:
    """One click at a random spot, after a random pause: its press is what is timed."""
    await asyncio.sleep(rng.uniform(0.15, 0.6))
    await page.mouse.move(rng.uniform(0.05, 0.95) * w, rng.uniform(0.05, 0.95) * h)
    await asyncio.sleep(rng.uniform(0.05, 0.15))
    await page.mouse.down()
    await asyncio.sleep(rng.uniform(0.08, 0.25))
    await page.mouse.up()


async def run(
    browser: Any, transport: str, args: argparse.Namespace, netns: bool
) -> dict[str, Any]:
    from bench_loss import serve_where

    where, url = serve_where(netns, transport, PORT)
    w, h = args.width, args.height
    display = await rfb.serve(w, h, fps=args.fps, **where)
    url = url or display.url
    program = MarkerProgram(display, fps=args.fps)
    view_w, view_h = min(w, 960), min(h, 540)
    ctx = await browser.new_context(viewport={"width": view_w, "height": view_h})
    try:
        page = await ctx.new_page()
        await page.goto(url + f"?nooverlay&transport={transport}")
        await wait_for(page, f"window.rfbView?.stats?.transport === '{transport}' && "
                       "window.rfbView.stats.framesDisplayed > 30", timeout=30)  # fmt: skip
        await asyncio.sleep(1.0)
        rng = random.Random(32)
        load = MachineLoad()
        decode_ms: list[float] = []
        jitter_ms: list[float] = []
        offset0 = await page_offset_ms(page)
        samples: dict[int, tuple[float, float]] = {}
        for _ in range(args.clicks):
            await press(page, rng, view_w, view_h)
            samples |= await page_sample_times(page)  # the page keeps only its newest 64
            s = await page.evaluate("window.rfbView.stats")
            rtc_stats = s.get("rtc") or {}
            decode = rtc_stats.get("decodeMs") if rtc_stats else s.get("decodeMs")
            if decode is not None:
                decode_ms.append(decode)
            if rtc_stats.get("jitterBufferMs") is not None:
                jitter_ms.append(rtc_stats["jitterBufferMs"])
        busy = load.busy()
        last = program.downs[-1] if program.downs else -1
        if last >= 0:
            await wait_for(page, "window.rfbView.stats?.inputToPhoton?.recent"
                           f".some(s => s.seq === {last})", timeout=10)  # fmt: skip
        samples |= await page_sample_times(page)
        offset = (offset0 + await page_offset_ms(page)) / 2
        origin_ms = display.metrics()["display"]["monotonic_origin_s"] * 1000
        (viewer,) = display.metrics()["viewers"]
        (group,) = [g for g in display.metrics()["groups"] if g["viewers"]]
        stats = await page.evaluate("window.rfbView.stats")
    finally:
        await ctx.close()
        await program.stop()
        await display.aclose()
    # Each press on one clock (time.monotonic ms): sent and drawn from the page, received,
    # taken and published from the program (the display's clock).
    rows = []
    for seq, got, taken, published in program.clicks:
        if seq not in samples:
            continue
        ms, at = samples[seq]
        drawn = at - offset
        sent = drawn - ms
        got_ms, taken_ms, pub_ms = (origin_ms + x / 1000 for x in (got, taken, published))
        rows.append((ms, got_ms - sent, taken_ms - got_ms, pub_ms - taken_ms, drawn - pub_ms))
    return {
        "clicks": len(program.downs),
        "sampled": len(rows),
        "total": [r[0] for r in rows],
        "way_in": [r[1] for r in rows],
        "wait": [r[2] for r in rows],
        "program": [r[3] for r in rows],
        "publish_drawn": [r[4] for r in rows],
        "frames_p50": viewer["latency_p50_ms"],
        "jitter": p(jitter_ms, 50),
        "encode": group["encode_ms"],
        "codec": group["codec"],
        "decode": p(decode_ms, 50),
        "rtt": viewer["rtt_ms"] if transport == "websocket" else None,  # WebSocket acks
        "fps": stats.get("fps"),
        "busy": busy,
        "server_samples": viewer["input_to_photon"]["samples"],
    }


async def delayed(pw: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The clicks again with Chromium in one network namespace and this process's server in
    another, joined by tun_link.py's delay line (bench_loss.py sets them up)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_loss

    assert bench_loss.SRV_IP == SRV_IP
    out: dict[str, Any] = {}
    flags = [*ARGS, f"--unsafely-treat-insecure-origin-as-secure=http://{SRV_IP}:{PORT}"]
    async with bench_loss.delayed_chromium(pw, args.delay_ms, flags, CHROMIUM) as browser:
        for transport in args.transports.split(","):
            key = f"{transport}, {2 * args.delay_ms:g} ms RTT"
            out[key] = await run(browser, transport, args, True)
    return out


def report(name: str, r: dict[str, Any], fps: float) -> None:
    rtt = r["rtt"]
    print(f"\n{name}: {r['sampled']} of {r['clicks']} presses sampled (server counted "
          f"{r['server_samples']} samples, presses and releases); {r['codec']}, "
          f"{r['fps'] or 0:.0f} fps drawn; {'' if rtt is None else f'RTT {rtt:.1f} ms; '}"
          f"machine busy {100 * r['busy']:.0f} %")  # fmt: skip

    def row(label: str, xs: list[float], note: str = "") -> None:
        print(f"  {label:28s} p50 {p(xs, 50):6.1f}  p95 {p(xs, 95):6.1f} ms{note}")

    row("click-to-photon", r["total"], f"   (frame interval {1000 / fps:.1f} ms)")
    row("  input sent -> received", r["way_in"])
    row("  received -> program polls", r["wait"])
    row("  poll -> publish (program)", r["program"])
    jitter = "" if r["jitter"] != r["jitter"] else f", jitter buffer p50 {r['jitter']:.1f}"
    row("  publish -> drawn", r["publish_drawn"],
        f"   (encode p50 {r['encode'] or float('nan'):.1f}, decode p50 {r['decode']:.1f}"
        f"{jitter}; the rest: send, queues, draw)")  # fmt: skip


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clicks", type=int, default=30)
    ap.add_argument("--transports", default="websocket,webrtc")
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--delay-ms", type=float, default=0,
                    help="also over a link with this one-way delay (20: a 40 ms RTT; root: "
                         "bench_loss.py's namespaces and tun_link.py)")  # fmt: skip
    args = ap.parse_args()
    from playwright.async_api import async_playwright

    results: dict[str, Any] = {}
    t0 = time.monotonic()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for transport in args.transports.split(","):
            results[f"{transport}, loopback"] = await run(browser, transport, args, False)
        await browser.close()
        if args.delay_ms > 0:
            results.update(await delayed(pw, args))
    print(f"Click-to-photon: {args.width}x{args.height} at {args.fps:g} fps, a marker moved to "
          f"each press, {args.clicks} presses at random times per case "
          f"({time.monotonic() - t0:.0f} s in all)")  # fmt: skip
    for name, r in results.items():
        report(name, r, args.fps)


if __name__ == "__main__":
    asyncio.run(main())
