"""Decode time in Chromium, 4:2:0 against 4:4:4: rfb's page over the WebSocket, one page
at a time, the pattern published at 30 fps; the page's own figure (WebCodecs chunk
submitted -> frame out, ``stats.decodeMs``, its mean over each second) is sampled every
second and the median printed, with frames drawn per second and the machine's busy
fraction (headless Chromium decodes in software here: ``--disable-gpu``).

    python benchmarks/bench_chroma_decode.py                  # 1280x720, dashboard and scene
    python benchmarks/bench_chroma_decode.py --size 1920x1080 --seconds 10

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import rfb
from rfb import patterns
from rfb.bench import MachineLoad

from support.browser import ARGS, CHROMIUM, wait_for


async def one(browser: object, pattern: str, w: int, h: int, chroma: str, seconds: float) -> dict:
    display = await rfb.serve(w, h, port=0, adaptive=False, still_after=None)
    render = patterns.make(pattern, w, h)

    async def publish() -> None:
        i = 0
        while True:
            display.publish(render(i), copy=False)
            i += 1
            await asyncio.sleep(1 / 30)

    task = asyncio.create_task(publish())
    ctx = await browser.new_context(viewport={"width": w, "height": h})  # type: ignore[attr-defined]
    try:
        page = await ctx.new_page()
        query = "?nooverlay&fit=fill" + ("&chroma=420" if chroma == "420" else "")
        await page.goto(display.url + query)
        codec = await wait_for(page, "window.rfbView?.stats?.framesDisplayed > 10 && window.rfbView.stats.codec")
        await asyncio.sleep(1.0)
        load = MachineLoad()
        decode, fps = [], []
        for _ in range(int(seconds)):
            await asyncio.sleep(1.0)
            s = await page.evaluate("window.rfbView.stats")
            if s.get("decodeMs") is not None:
                decode.append(s["decodeMs"])
            fps.append(s["fps"])
        return {
            "codec": codec,
            "decode_ms": statistics.median(decode) if decode else None,
            "fps": statistics.median(fps),
            "busy": load.busy(),
        }
    finally:
        task.cancel()
        await ctx.close()
        await display.aclose()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--patterns", default="dashboard,scene")
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    from playwright.async_api import async_playwright

    print("| pattern | chroma | codec | decode ms (median of 1 s means) | frames drawn/s | machine busy |")
    print("|---|---|---|---|---|---|")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for pattern in args.patterns.split(","):
            for chroma in ("420", "444"):
                r = await one(browser, pattern, w, h, chroma, args.seconds)
                ms = "-" if r["decode_ms"] is None else f"{r['decode_ms']:.2f}"
                print(f"| {pattern} | {chroma} | {r['codec']} | {ms} | {r['fps']:.1f} | "
                      f"{100 * r['busy']:.0f} % |", flush=True)  # fmt: skip
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
