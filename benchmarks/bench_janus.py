"""rfb's CPU with 0, 10 and 50 watchers through Janus, beside Janus's own; or, with
``--simulcast``, two watchers of a simulcast mountpoint, one behind a bottleneck.

    sudo python benchmarks/bench_janus.py [--watchers 0 10 50] [--seconds 10]
        [--pattern scene] [--size 640x360]
    sudo python benchmarks/bench_janus.py --simulcast [--mbit 1] [--seconds 30]
        [--bitrate 2000000] [--rungs 0 4 6] [--pattern scene] [--size 640x360]

``python -m rfb.server --relay-rtp rtp://127.0.0.1:5004`` and Debian's Janus (the repo's
docker/janus configuration: one Streaming mountpoint) run in a network namespace of
their own (Janus gathers ICE candidates on 127.0.0.2 there), and headless Chromium pages
in it watch the stream through rfb's Janus watcher page (rfb/static/janus.html). For each
watcher count, after every page shows frames: the CPU seconds per second of the rfb
server and of Janus (utime + stime from /proc), Chromium's (all its processes), the
machine's busy fraction (2 cores: when it nears 1.0 the watchers' fps measure the CPU,
not Janus), and the watchers' presented frames per second. Loopback only; needs root,
iproute2 and janus; asserts nothing.

``--simulcast``: rfb relays three rungs of its ladder (``relay_rtp(simulcast=True)``,
or ``rungs=`` those of ``--rungs``; top ``--bitrate``) to the repo's simulcast mountpoint (id 2); one watcher in Janus's
namespace, one in a namespace of its own behind ``--mbit`` Mbit/s (``tc tbf`` on the
veth from Janus: tests/support/janus_rig.py's WatcherLink). After ``--warmup`` seconds
each watcher's row over ``--seconds``, probes up included: the substream it spent most
time on and its share of the time, that substream's rung and picture size, kbit/s
received, frames decoded per second (getStats), the substream switches it asked for;
then the CPU of rfb and Janus, and the machine's busy fraction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    ap.add_argument("--seconds", type=float, default=None, help="per row (default 10; --simulcast 30)")
    ap.add_argument("--pattern", default="scene")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--simulcast", action="store_true", help="two watchers of the simulcast mountpoint")
    ap.add_argument("--mbit", type=float, default=1.0, help="--simulcast: the bottleneck")
    ap.add_argument("--bitrate", type=int, default=2_000_000, help="--simulcast: the top rung")
    ap.add_argument("--warmup", type=float, default=20.0, help="--simulcast: seconds before measuring")
    ap.add_argument("--rungs", type=int, nargs="*", default=None,
                    help="--simulcast: these rungs (default: simulcast=True's three)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the rfb side
    args = ap.parse_args()
    if args.serve:
        return await serve_simulcast(args)
    reason = janus_rig.why_not()
    if reason:
        sys.exit(f"bench_janus: {reason}")
    if args.simulcast:
        return await simulcast(args)
    args.seconds = args.seconds or 10.0
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


SIM_PORT = 8766
# The watcher's receiver, cumulative (getStats), and the substream Janus sends it.
RECEIVER = """async () => { const w = window.rfbJanus.watcher; const pc = w.peerConnection;
  if (!pc) return null; let out = null; (await pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') out = {frames: r.framesDecoded ?? 0,
      bytes: r.bytesReceived ?? 0, w: r.frameWidth ?? 0, h: r.frameHeight ?? 0}; });
  if (out) { out.at = performance.now(); out.substream = w.stats ? w.stats.substream : null;
             out.switches = w.stats ? w.stats.switches.length : 0; }
  return out; }"""


async def serve_simulcast(args: argparse.Namespace) -> None:
    """The rfb side (in Janus's namespace): the pattern at 30 fps, three rungs relayed."""
    import rfb
    from rfb import patterns

    w, h = (int(x) for x in args.size.split("x"))
    display = await rfb.serve(w, h, port=SIM_PORT, host="0.0.0.0", bitrate=args.bitrate)
    relay = (display.relay_rtp("rtp://127.0.0.1:5010", rungs=args.rungs) if args.rungs
             else display.relay_rtp("rtp://127.0.0.1:5010", simulcast=True))
    print(json.dumps(relay.metrics()["substreams"]), flush=True)
    render = patterns.make(args.pattern, w, h)
    loop = asyncio.get_running_loop()
    start, i = loop.time(), 0
    while True:
        display.publish(render(i))
        i += 1
        await asyncio.sleep(max(0.0, start + i / 30 - loop.time()))


async def simulcast(args: argparse.Namespace) -> None:
    from playwright.async_api import async_playwright

    seconds = args.seconds or 30.0
    tmp = Path(tempfile.mkdtemp(prefix="rfb-janus-"))
    ns = netns.Netns("rfbjb")
    link = janus_rig.WatcherLink(ns)
    janus = janus_rig.Janus(ns, janus_rig.janus_config(tmp), tmp / "janus.log")
    server = None
    print(f"rfb Janus simulcast benchmark: {args.size} {args.pattern} at 30 fps, top rung "
          f"{args.bitrate / 1e6:g} Mbit/s, three rungs to Janus's simulcast mountpoint; one "
          f"watcher behind {args.mbit:g} Mbit/s (tc tbf), one not; {seconds:g} s after "
          f"{args.warmup:g} s; {os.cpu_count()} cores", flush=True)  # fmt: skip
    try:
        with ns.entered():
            await janus.start()
            link.limit(args.mbit)
            server = ns.popen(sys.executable, str(Path(__file__).resolve()), "--serve", "--size",
                              args.size, "--pattern", args.pattern, "--bitrate", str(args.bitrate),
                              *(["--rungs", *map(str, args.rungs)] if args.rungs else []),
                              stdout=subprocess.PIPE)  # fmt: skip
            assert server.stdout is not None
            subs = json.loads(await asyncio.to_thread(server.stdout.readline))
            async with async_playwright() as p:
                near = await p.chromium.launch(executable_path=str(ns.wrapper(CHROMIUM, tmp)),
                                               args=ARGS, headless=True)  # fmt: skip
                far = await p.chromium.launch(executable_path=str(link.ns.wrapper(CHROMIUM, tmp)),
                                              args=ARGS, headless=True)  # fmt: skip
                pages = []
                for browser, host, janus_url in (
                    (near, "127.0.0.1", janus_rig.JANUS_HTTP),
                    (far, janus_rig.LINK_JANUS, janus_rig.LINK_JANUS_HTTP),
                ):
                    page = await (await browser.new_context()).new_page()
                    await page.goto(f"http://{host}:{SIM_PORT}/static/janus.html?janus={janus_url}&id=2")
                    pages.append(page)
                await asyncio.sleep(args.warmup)
                first = [await pg.evaluate(RECEIVER) for pg in pages]
                shares: list[dict[int | None, int]] = [{}, {}]
                c0 = (cpu_seconds([server.pid]), cpu_seconds([janus.proc.pid]))  # type: ignore[union-attr]
                machine, t0 = MachineLoad(), time.monotonic()
                while time.monotonic() - t0 < seconds:
                    for k, pg in enumerate(pages):
                        sub = (await pg.evaluate(RECEIVER) or {}).get("substream")
                        shares[k][sub] = shares[k].get(sub, 0) + 1
                    await asyncio.sleep(0.5)
                dt = time.monotonic() - t0
                busy = machine.busy()
                c1 = (cpu_seconds([server.pid]), cpu_seconds([janus.proc.pid]))  # type: ignore[union-attr]
                last = [await pg.evaluate(RECEIVER) for pg in pages]
                print(f"{'watcher':<22} {'substream':>9} {'share':>6} {'rung':>5} {'size':>9} "
                      f"{'kbit/s':>7} {'fps':>6} {'switches':>9}")  # fmt: skip
                for k, name in enumerate(("unconstrained", f"behind {args.mbit:g} Mbit/s")):
                    a, b = first[k], last[k]
                    span = (b["at"] - a["at"]) / 1000
                    most = max(shares[k], key=lambda x: shares[k][x])
                    share = shares[k][most] / sum(shares[k].values())
                    rung = next((s["rung"] for s in subs if s["substream"] == most), "?")
                    size = next((f"{s['size'][0]}x{s['size'][1]}" for s in subs
                                 if s["substream"] == most), "?")  # fmt: skip
                    print(f"{name:<22} {most!s:>9} {share:>6.0%} {rung!s:>5} {size:>9} "
                          f"{8 * (b['bytes'] - a['bytes']) / span / 1000:>7.0f} "
                          f"{(b['frames'] - a['frames']) / span:>6.1f} "
                          f"{b['switches'] - a['switches']:>9}")  # fmt: skip
                log = await pages[1].evaluate("window.rfbJanus.watcher.stats?.switches ?? []")
                t_first = first[1]["at"]
                for sw in log:  # the constrained watcher's switches in the window, and why
                    if sw["at"] >= t_first:
                        print(f"  behind {args.mbit:g} Mbit/s at +{(sw['at'] - t_first) / 1000:5.1f} s: "
                              f"{sw['from']} -> {sw['to']} ({sw['why']})")  # fmt: skip
                rfb_s, janus_s = ((y - x) / dt for x, y in zip(c0, c1, strict=True))
                print("rungs sent: " + ", ".join(f"substream {s['substream']} = rung {s['rung']} "
                      f"({s['size'][0]}x{s['size'][1]}, {s['bitrate'] / 1e3:.0f} kbit/s)"
                      for s in subs))  # fmt: skip
                print(f"rfb CPU {rfb_s:.2f} s/s, Janus CPU {janus_s:.2f} s/s, machine busy {busy:.2f}")
                await near.close()
                await far.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        janus.kill()
        link.remove()
        ns.remove()


def browser_pid() -> int:
    """The Chromium launched through the namespace wrapper: the newest chromium process."""
    out = subprocess.run(["pgrep", "-o", "-f", "chromium.*--remote-debugging-pipe"],
                         capture_output=True, text=True).stdout.split()  # fmt: skip
    return int(out[0]) if out else os.getpid()


if __name__ == "__main__":
    asyncio.run(main())
