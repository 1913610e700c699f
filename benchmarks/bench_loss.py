"""WebSocket vs WebRTC under packet loss, between two network namespaces.

    sudo python benchmarks/bench_loss.py [--seconds N] [--loss 0 1 5] [--delay-ms 20]

Builds two namespaces joined by a link with a fixed one-way delay (server 10.99.0.1,
browser 10.99.0.2; tc netem is not available on these machines, so the link is a TUN
device in each namespace and benchmarks/tun_link.py copies the packets across after
``--delay-ms``; 0 gives a plain veth pair), drops N% of packets leaving each side with
nftables (``numgen random mod 100 < N drop``), runs ``python -m rfb.server --pattern timecode`` in
one and Debian's Chromium (driven by Playwright) in the other, and prints, per loss rate
and transport, the frames shown per second and the publish -> display latency read from
the timecode stamped into every frame (p50/p95). Also measures page load -> first WebRTC
frame with the browser's mDNS candidates dropped (rfb's default) and resolved
(--ice-keep-mdns). All traffic stays inside the two namespaces; they are removed at exit.
Needs root, iproute2 and nftables. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SRV, CLI = "rfb-bench-srv", "rfb-bench-cli"
SRV_IP, CLI_IP = "10.99.0.1", "10.99.0.2"
PORT = 8765
W, H = 1280, 720
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 # WebCodecs needs a secure context; http://10.99.0.1 is not one, and the
                 # WebSocket path would fall back to JPEG without this.
                 f"--unsafely-treat-insecure-origin-as-secure=http://{SRV_IP}:{PORT}"]  # fmt: skip


def sh(*cmd: str, check: bool = True) -> None:
    subprocess.run(cmd, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


_link: subprocess.Popen | None = None


def netns_up(delay_ms: float) -> None:
    global _link
    netns_down()
    sh("ip", "netns", "add", SRV)
    sh("ip", "netns", "add", CLI)
    if delay_ms > 0:
        _link = subprocess.Popen([sys.executable, str(HERE / "tun_link.py"), SRV, "rfbb0", CLI,
                                  "rfbb1", "--delay-ms", str(delay_ms)], stdout=subprocess.PIPE,
                                 text=True)  # fmt: skip
        assert _link.stdout is not None
        _link.stdout.readline()  # the devices exist once it says so
    else:
        sh("ip", "link", "add", "rfbb0", "type", "veth", "peer", "name", "rfbb1")
        sh("ip", "link", "set", "rfbb0", "netns", SRV)
        sh("ip", "link", "set", "rfbb1", "netns", CLI)
    for ns, dev, ip in ((SRV, "rfbb0", SRV_IP), (CLI, "rfbb1", CLI_IP)):
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "set", dev, "up")
        # A default route inside the link only, so Chromium finds a "default" interface.
        sh("ip", "-n", ns, "route", "add", "default", "dev", dev)


def netns_down() -> None:
    global _link
    if _link is not None:
        _link.terminate()
        _link.wait(10)
        _link = None
    for ns in (SRV, CLI):
        sh("ip", "netns", "del", ns, check=False)


def set_rate(mbit: float) -> None:
    """A bandwidth bottleneck each way (tc tbf works here, unlike netem)."""
    for ns, dev in ((SRV, "rfbb0"), (CLI, "rfbb1")):
        sh("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
           "rate", f"{mbit}mbit", "burst", "32kbit", "latency", "400ms")  # fmt: skip


def set_loss(percent: int) -> None:
    for ns, dev in ((SRV, "rfbb0"), (CLI, "rfbb1")):
        sh("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "rfbloss", check=False)
        if percent:
            sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "rfbloss")
            sh("ip", "netns", "exec", ns, "nft", "add chain inet rfbloss out "
               "{ type filter hook output priority 0 ; policy accept ; }")  # fmt: skip
            sh("ip", "netns", "exec", ns, "nft", f"add rule inet rfbloss out oifname {dev} "
               f"numgen random mod 100 < {percent} drop")  # fmt: skip


@contextlib.asynccontextmanager
async def server(*extra: str):  # type: ignore[no-untyped-def]
    cmd = ["ip", "netns", "exec", SRV, sys.executable, "-m", "rfb.server", "--host", SRV_IP,
           "--port", str(PORT), "--transport", "webrtc", "--pattern", "timecode", "--width", str(W),
           "--height", str(H), "--fps", "30", "--ice-host-addresses", SRV_IP,
           "--ice-allowed-networks", "10.99.0.0/24", *extra]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            r = subprocess.run(["ip", "netns", "exec", CLI, sys.executable, "-c",
                                f"import urllib.request as u; u.urlopen('http://{SRV_IP}:{PORT}/health', timeout=1)"],
                               capture_output=True)  # fmt: skip
            if r.returncode == 0:
                break
            await asyncio.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(10)


async def watch(browser, transport: str, seconds: float) -> dict:  # type: ignore[no-untyped-def]
    ctx = await browser.new_context(viewport={"width": W, "height": H},
                                    permissions=["camera", "microphone"])  # fmt: skip
    page = await ctx.new_page()
    await page.goto(f"http://{SRV_IP}:{PORT}/?transport={transport}&timecode&nooverlay")
    t0 = time.monotonic()
    while not await page.evaluate("window.rfbView?.stats?.firstFrameAt"):
        if time.monotonic() - t0 > 20:
            await ctx.close()
            return {
                "fps": 0.0,
                "p50": float("nan"),
                "p95": float("nan"),
                "n": 0,
                "first": float("nan"),
            }
        await asyncio.sleep(0.05)
    first = await page.evaluate("window.rfbView.stats.firstFrameAt - performance.timeOrigin")
    live = await page.evaluate("window.rfbView.stats.transport")
    codec = await page.evaluate("window.rfbView.stats.codec")
    await asyncio.sleep(3)
    lat: list[float] = []
    fps: list[float] = []
    for _ in range(int(seconds)):
        await asyncio.sleep(1)
        s = await page.evaluate("window.rfbView.stats")
        fps.append(s["fps"])
        lat += s.get("timecodeMs") or []
    rtc = s.get("rtc") or {}
    await ctx.close()
    lat.sort()
    pick = (
        (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else (lambda q: float("nan"))
    )
    return {"fps": statistics.mean(fps), "p50": pick(0.5), "p95": pick(0.95), "n": len(lat),
            "first": first, "live": live, "codec": codec,
            "rtc": f"{rtc.get('nackCount', 0)}/{rtc.get('pliCount', 0)}" if rtc else ""}  # fmt: skip


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=12)
    ap.add_argument("--loss", type=int, nargs="*", default=[0, 1, 5])
    ap.add_argument("--delay-ms", type=float, default=20.0, help="one-way delay (RTT is twice)")
    ap.add_argument("--rate-mbit", type=float, default=0, help="bottleneck each way (0: none)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_loss needs root (network namespaces, nftables)")
    from playwright.async_api import async_playwright

    wrapper = Path(tempfile.mkdtemp()) / "chromium-in-netns"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {CLI} /usr/bin/chromium "$@"\n')
    wrapper.chmod(0o755)
    netns_up(args.delay_ms)
    if args.rate_mbit:
        set_rate(args.rate_mbit)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(wrapper), args=CHROMIUM_ARGS)
            print(f"rfb loss benchmark: {W}x{H} timecode pattern at 30 fps, Chromium in its own "
                  f"namespace, {args.delay_ms:g} ms each way (RTT {2 * args.delay_ms:g} ms), "
                  f"{f'{args.rate_mbit:g} Mbit/s bottleneck, ' if args.rate_mbit else ''}"
                  f"{args.seconds:.0f} s per row", flush=True)  # fmt: skip
            print(
                f"{'loss':>5} {'transport':10} {'codec':12} {'shown fps':>9} {'p50 ms':>8} {'p95 ms':>8} {'frames':>7}"
                f"  NACKs/PLIs sent (WebRTC, whole visit)"
            )
            async with server():
                for loss in args.loss:
                    set_loss(loss)
                    for transport in ("websocket", "webrtc"):
                        r = await watch(browser, transport, args.seconds)
                        print(f"{loss:>4}% {r.get('live') or transport:10} {r.get('codec') or '-':12} {r['fps']:9.1f} "
                              f"{r['p50']:8.1f} {r['p95']:8.1f} {r['n']:7d}  {r['rtc']}", flush=True)  # fmt: skip
                set_loss(0)
            print("\npage load -> first WebRTC frame (no loss), browser without media permission "
                  "(mDNS host candidates):", flush=True)  # fmt: skip
            for label, extra in (("mDNS candidates dropped (default)", ()),
                                 ("mDNS candidates resolved (--ice-keep-mdns)", ("--ice-keep-mdns",))):  # fmt: skip
                firsts = []
                async with server(*extra):
                    for _ in range(3):
                        ctx = await browser.new_context()
                        page = await ctx.new_page()
                        await page.goto(f"http://{SRV_IP}:{PORT}/?transport=webrtc&nooverlay")
                        t0 = time.monotonic()
                        while not await page.evaluate("window.rfbView?.stats?.firstFrameAt"):
                            if time.monotonic() - t0 > 20:
                                break
                            await asyncio.sleep(0.05)
                        v = await page.evaluate(
                            "(window.rfbView?.stats?.firstFrameAt ?? NaN) - performance.timeOrigin"
                        )
                        firsts.append(v)
                        await ctx.close()
                print(f"  {label:45s} median {statistics.median(firsts):6.0f} ms  ({', '.join(f'{f:.0f}' for f in firsts)})",
                      flush=True)  # fmt: skip
            await browser.close()
    finally:
        netns_down()


if __name__ == "__main__":
    asyncio.run(main())
