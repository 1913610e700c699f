"""rfb's CPU with 0, 10 and 50 watchers through Janus, beside Janus's own.

    sudo python benchmarks/bench_janus.py [--watchers 0 10 50] [--seconds 10]
        [--pattern scene] [--size 640x360]

``python -m rfb.server --relay-rtp rtp://127.0.0.1:5004`` and Debian's Janus (the repo's
docker/janus configuration: one Streaming mountpoint) run in a network namespace of
their own (Janus gathers ICE candidates on 127.0.0.2 there), and headless Chromium pages
in it watch the stream through rfb's Janus watcher page (rfb/static/janus.html). For each
watcher count, after every page shows frames: the CPU seconds per second of the rfb
server and of Janus (utime + stime from /proc), Chromium's (all its processes), the
machine's busy fraction (2 cores: when it nears 1.0 the watchers' fps measure the CPU,
not Janus), and the watchers' presented frames per second. Loopback only; needs root,
iproute2 and janus; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))

from rfb.bench import MachineLoad  # noqa: E402
from rfb.bench import cpu_seconds as process_cpu_seconds  # noqa: E402

from support import janus_rig, netns  # noqa: E402  (tests/support/)

CHROMIUM = os.environ.get("RFB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]  # fmt: skip
PORT = 8765
COUNT = """() => { const j = window.rfbJanus; if (!j || j.counting) return;
  j.counting = true; j.frames = 0;
  const tick = () => { j.frames++; j.video.requestVideoFrameCallback(tick); };
  j.video.requestVideoFrameCallback(tick); }"""


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (those that have exited count nothing)."""
    total = 0.0
    for pid in pids:
        try:
            total += process_cpu_seconds(pid)
        except OSError:
            continue
    return total


def descendants(pid: int) -> list[int]:
    """pid and every process under it (Chromium's renderers, GPU and utility processes)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--watchers", type=int, nargs="*", default=[0, 10, 50])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--pattern", default="scene")
    ap.add_argument("--size", default="640x360")
    args = ap.parse_args()
    reason = janus_rig.why_not()
    if reason:
        sys.exit(f"bench_janus: {reason}")
    from playwright.async_api import async_playwright

    w, h = (int(x) for x in args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="rfb-janus-"))
    ns = netns.Netns("rfbjb")
    janus = janus_rig.Janus(ns, janus_rig.janus_config(tmp), tmp / "janus.log")
    server = None
    print(f"rfb Janus benchmark: {w}x{h} {args.pattern} at 30 fps, H.264 relayed to Janus; "
          f"{args.seconds:g} s per row; {os.cpu_count()} cores", flush=True)  # fmt: skip
    try:
        with ns.entered():
            await janus.start()
            server = ns.popen(sys.executable, "-m", "rfb.server", "--pattern", args.pattern,
                              "--width", str(w), "--height", str(h), "--port", str(PORT),
                              "--relay-rtp", "rtp://127.0.0.1:5004", stdout=subprocess.DEVNULL)  # fmt: skip
            await asyncio.sleep(3)
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=str(ns.wrapper(CHROMIUM, tmp)),
                                                  args=ARGS, headless=True)  # fmt: skip
                pages: list[Any] = []
                print(f"{'watchers':>8} {'rfb CPU s/s':>12} {'Janus CPU s/s':>14} "
                      f"{'Chromium s/s':>13} {'busy':>5} {'fps min':>8} {'fps mean':>9}")  # fmt: skip
                for n in sorted(args.watchers):
                    while len(pages) < n:
                        ctx = await browser.new_context(viewport={"width": 320, "height": 200})
                        page = await ctx.new_page()
                        await page.goto(f"http://127.0.0.1:{PORT}/static/janus.html"
                                        f"?janus={janus_rig.JANUS_HTTP}&id=1")  # fmt: skip
                        await page.wait_for_function("window.rfbJanus !== undefined")
                        await page.evaluate(COUNT)
                        pages.append(page)
                    deadline = time.monotonic() + 120
                    while pages and time.monotonic() < deadline:
                        counts = [await pg.evaluate("window.rfbJanus.frames") for pg in pages]
                        if min(counts) >= 10:
                            break
                        await asyncio.sleep(0.5)
                    chromium = descendants(browser_pid())
                    before = [await pg.evaluate("window.rfbJanus.frames") for pg in pages]
                    c0 = (cpu_seconds([server.pid]), cpu_seconds([janus.proc.pid]),  # type: ignore[union-attr]
                          cpu_seconds(chromium))  # fmt: skip
                    t0 = time.monotonic()
                    machine = MachineLoad()
                    await asyncio.sleep(args.seconds)
                    dt = time.monotonic() - t0
                    b = machine.busy()
                    c1 = (cpu_seconds([server.pid]), cpu_seconds([janus.proc.pid]),  # type: ignore[union-attr]
                          cpu_seconds(chromium))  # fmt: skip
                    after = [await pg.evaluate("window.rfbJanus.frames") for pg in pages]
                    fps = [(a - x) / dt for a, x in zip(after, before, strict=True)] or [0.0]
                    rfb_s, janus_s, chrome_s = ((y - x) / dt for x, y in zip(c0, c1, strict=True))
                    print(f"{n:>8} {rfb_s:>12.3f} {janus_s:>14.3f} {chrome_s:>13.2f} {b:>5.2f} "
                          f"{min(fps):>8.1f} {statistics.mean(fps):>9.1f}", flush=True)  # fmt: skip
                await browser.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        janus.kill()
        ns.remove()


def browser_pid() -> int:
    """The Chromium launched through the namespace wrapper: the newest chromium process."""
    out = subprocess.run(["pgrep", "-o", "-f", "chromium.*--remote-debugging-pipe"],
                         capture_output=True, text=True).stdout.split()  # fmt: skip
    return int(out[0]) if out else os.getpid()


if __name__ == "__main__":
    asyncio.run(main())
