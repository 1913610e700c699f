"""The browser client in Debian's headless Chromium, 1280x720 scene (--pattern).

    python benchmarks/bench_browser.py [--seconds N] [--pattern bouncing_box]

Prints: time from page load to first frame drawn; displayed fps when publishing at 30 and
60 fps; the server's publish -> ack latency p50/p95 (the page acks once a frame is drawn)
for JPEG and H.264. The server runs in its own process (python -m rfb.server).
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_core
from bench_core import pattern_label, server, server_metrics

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


async def run_page(browser, url: str, query: str, seconds: float) -> dict:  # type: ignore[no-untyped-def]
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(url + query)
    while not await page.evaluate("window.rfbView?.stats?.firstFrameAt"):
        await asyncio.sleep(0.05)
    first_ms = await page.evaluate("window.rfbView.stats.firstFrameAt - performance.timeOrigin")
    await asyncio.sleep(2)  # warm up
    fps = []
    for _ in range(int(seconds)):
        await asyncio.sleep(1)
        fps.append(await page.evaluate("window.rfbView.stats.fps"))
    stats = await page.evaluate("window.rfbView.stats")
    m = await server_metrics(url)
    await page.close()
    (viewer,) = m["viewers"]
    return {"first_ms": first_ms, "fps": statistics.mean(fps), "codec": stats["codec"],
            "p50": viewer["latency_p50_ms"], "p95": viewer["latency_p95_ms"],
            "decode_ms": stats["decodeMs"], "dropped": stats["framesDropped"]}  # fmt: skip


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--pattern", default="scene")
    args = ap.parse_args()
    bench_core.PATTERN = args.pattern
    from playwright.async_api import async_playwright

    print("rfb browser benchmark: Debian headless Chromium (software decode), 1280x720 "
          f"{pattern_label(args.pattern)}")  # fmt: skip
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for fps in (30, 60):
            for query, label in (("?imageOnly&nooverlay", "JPEG"), ("?nooverlay", "H.264")):
                async with server(fps) as (url, _):
                    r = await run_page(browser, url, query, args.seconds)
                print(f"publish {fps} fps  {label:5s} ({r['codec']}): first frame {r['first_ms']:6.0f} ms "
                      f"after page load   displayed {r['fps']:5.1f} fps   "
                      f"publish->ack p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms   "
                      f"(page decode {r['decode_ms']:.1f} ms, dropped {r['dropped']})")  # fmt: skip
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
