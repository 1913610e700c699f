"""WebSocket vs WebRTC on impaired links, between two network namespaces.

    sudo python benchmarks/bench_loss.py [--pattern scene] [--size 1280x720]
        [--rate-mbit 2] [--loss 0 5] [--delay-ms 20] [--seconds 12]
        [--step] [--json out.json] [--cdf out.png] [--step-plot out.png] [--first-frame]
        [--audio [--transports]]
    python benchmarks/bench_loss.py --plot a.json b.json --cdf out.png
    python benchmarks/bench_loss.py --plot step.json --step-plot out.png

Builds two namespaces joined by a link with a fixed one-way delay (server 10.99.0.1,
browser 10.99.0.2; this kernel has no tc netem, so the link is a TUN device in each
namespace and benchmarks/tun_link.py copies packets across after ``--delay-ms``; 0 gives
a plain veth pair), an optional bottleneck each way (``tc tbf``), and N% of packets
dropped each way, one wire-sized packet at a time (by the delay line; on the veth by
nftables ``numgen random mod 100 < N drop`` with segmentation offloads off). Runs
``python -m rfb.server --pattern <pattern> --timecode`` in one namespace and Debian's
Chromium (driven by Playwright) in the other; every frame carries its publish time, which
the page reads back after drawing it.

One row per loss rate and transport, both transports in the same run: frames shown per
second; publish -> display latency p50/p95/p99; the longest gap between two frames drawn
(a freeze); the mean bitrate received; the rung switches the server made; the median rung
(0 = top); the machine's busy fraction while the row ran (both namespaces share these
cores: when it nears 1.0 the figures measure the CPU, not the link). The first 3 s after
the first frame are not counted.

``--step``: the bottleneck (``--rate-mbit``) is lifted after ``--seconds`` and restored
after as long again; prints each phase's figures and how long after the lift the viewer
was back on the top rung (the server's rung, read from /metrics every 0.1 s by a sampler
inside the server's namespace, so not over the link under test; the stats message says
it up to a second later). ``--json`` saves the rows (with every latency sample; with
``--step`` also each transport's time series: every frame's draw time, the page's stats
each second, the server's rung, rung bitrate and path estimate every 0.1 s) and ``--cdf``
plots their latency CDFs, ``--step-plot`` the step change over time: shown fps, and the
rung's bitrate and the estimate, the lift and the restore marked (matplotlib: pip install
'rfb[bench]'). ``--plot a.json ...`` redraws either from saved JSON. ``--first-frame``: also
page load -> first WebRTC frame with the browser's mDNS candidates dropped (rfb's default)
and resolved (--ice-keep-mdns).

``--audio``: the sound section, after the video rows (``--transports`` with no names
skips those). This process serves a 440 Hz tone (and a still picture) over WebRTC from
the server's namespace; Chromium's page plays it. With the link's loss at the first
``--loss`` rate over 0 (default 5 %), once with the stream's ``fec`` on (RED and Opus
in-band FEC, which the browser's loss reports turn on), once with Opus's FEC alone (RED
held off) and once with neither (``fec=False``), it prints how long after the loss began
a receiver report turned them on (s), then over the next ``--seconds`` the 20 ms
slots the page played: real audio (decoded, from the packet or rebuilt by RED / FEC)
against concealed (``concealedSamples`` over ``totalSamplesReceived`` of the audio track's
inbound-rtp stats over ``--seconds``), concealment events, packets lost, packets the
server sent as RED and encoded with FEC, the listener's tier (it is held on the top rung
of a ``--size`` picture, so on the normal tier, which has FEC), and the tone the page hears (peak frequency and RMS of 0.7 s at its speakers'
node; a 0.5 sine is 0.354).

All traffic stays inside the two namespaces; they are removed at exit. Needs root,
iproute2 and nftables. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from rfb.bench import MachineLoad, nearest_rank  # noqa: E402
from rfb.patterns import TRIVIAL_PATTERNS  # noqa: E402

SRV, CLI = "rfb-bench-srv", "rfb-bench-cli"
SRV_IP, CLI_IP = "10.99.0.1", "10.99.0.2"
PORT = 8765
WARMUP_S = 3.0
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 # WebCodecs needs a secure context; http://10.99.0.1 is not one, and the
                 # WebSocket path would fall back to JPEG without this.
                 f"--unsafely-treat-insecure-origin-as-secure=http://{SRV_IP}:{PORT}"]  # fmt: skip

# Collects every stats object the view emits (once a second) into window.rfbSamples.
COLLECT = """(() => {
  window.rfbSamples = [];
  let last = null;
  window.rfbCollector = setInterval(() => {
    const s = window.rfbView?.stats;
    if (s && s !== last) { last = s; window.rfbSamples.push({...s, at: Date.now()}); }
  }, 50);
})()"""


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
                                 stdin=subprocess.PIPE, text=True)  # fmt: skip
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


def chromium_wrapper(chromium: str = "/usr/bin/chromium") -> Path:
    """A launcher that runs Chromium in the client's namespace (CLI)."""
    wrapper = Path(tempfile.mkdtemp()) / "chromium-in-netns"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {CLI} {chromium} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def serve_where(netns: bool, transport: str, port: int) -> tuple[dict[str, Any], str | None]:
    """``rfb.serve()`` keywords for a benchmark's server, and the URL the browser opens:
    on the delayed path, in the server's namespace on ``port`` (the caller runs inside
    ``in_server_netns()``); else on loopback (None: the display's own URL)."""
    from rfb.signaling import IceConfig

    from support.webrtc import LOOPBACK

    if netns:
        ice = IceConfig(host_addresses=(SRV_IP,), allowed_remote_networks=("10.99.0.0/24",))
        where: dict[str, Any] = {"host": SRV_IP, "port": port}
    else:
        ice, where = LOOPBACK, {"port": 0}
    if transport == "webrtc":
        where.update(transport="webrtc", ice=ice)
    return where, f"http://{SRV_IP}:{port}/" if netns else None


@contextlib.contextmanager
def in_server_netns() -> Iterator[None]:
    """This thread (the event loop's: the server's sockets, aiortc's ICE) and the threads
    it starts meanwhile are in the server's namespace; Playwright talks over pipes."""
    from tun_link import _setns

    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    srv = os.open(f"/var/run/netns/{SRV}", os.O_RDONLY)
    _setns(srv)
    try:
        yield
    finally:
        _setns(home)
        os.close(home)
        os.close(srv)


@contextlib.asynccontextmanager
async def delayed_chromium(pw: Any, delay_ms: float, args: list[str],
                           chromium: str = "/usr/bin/chromium") -> AsyncIterator[Any]:  # fmt: skip
    """The namespaces up, joined by the delay line; Chromium launched in the client's and
    this thread in the server's while the block runs; all taken down after."""
    netns_up(delay_ms)
    try:
        browser = await pw.chromium.launch(executable_path=str(chromium_wrapper(chromium)),
                                           headless=True, args=args)  # fmt: skip
        try:
            with in_server_netns():
                yield browser
        finally:
            await browser.close()
    finally:
        netns_down()


def netns_down() -> None:
    global _link
    if _link is not None:
        _link.terminate()
        _link.wait(10)
        _link = None
    for ns in (SRV, CLI):
        sh("ip", "netns", "del", ns, check=False)


def set_rate(mbit: float | None) -> None:
    """A bottleneck each way (tc tbf works here, unlike netem); None lifts it."""
    for ns, dev in ((SRV, "rfbb0"), (CLI, "rfbb1")):
        if mbit:
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
               "rate", f"{mbit}mbit", "burst", "32kbit", "latency", "400ms")  # fmt: skip
        else:
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", dev, "root", check=False)


def set_loss(percent: float) -> None:
    """N% of packets dropped each way: by the delay line where there is one (per packet
    on the wire; see tun_link.py), else by nftables on the veth with segmentation
    offloads off, so that a TCP burst is not one packet to the rule."""
    if _link is not None and _link.stdin is not None:
        _link.stdin.write(f"loss {percent:g}\n")
        _link.stdin.flush()
        return
    for ns, dev in ((SRV, "rfbb0"), (CLI, "rfbb1")):
        if percent:
            sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, "gso", "off", "tso", "off",
               "gro", "off", check=False)  # fmt: skip
        sh("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "rfbloss", check=False)
        if percent:
            sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "rfbloss")
            sh("ip", "netns", "exec", ns, "nft", "add chain inet rfbloss out "
               "{ type filter hook output priority 0 ; policy accept ; }")  # fmt: skip
            sh("ip", "netns", "exec", ns, "nft", f"add rule inet rfbloss out oifname {dev} "
               f"numgen random mod 100 < {percent:g} drop")  # fmt: skip


@contextlib.asynccontextmanager
async def server(args: argparse.Namespace, *extra: str):  # type: ignore[no-untyped-def]
    w, h = args.size
    cmd = ["ip", "netns", "exec", SRV, sys.executable, "-m", "rfb.server", "--host", SRV_IP,
           "--port", str(PORT), "--transport", "webrtc", "--pattern", args.pattern,
           "--timecode", "--width", str(w), "--height", str(h), "--fps", "30",
           "--ice-host-addresses", SRV_IP, "--ice-allowed-networks", "10.99.0.0/24",
           *args.server_arg, *extra]  # fmt: skip
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


def summarise(samples: list[dict[str, Any]], busy: float) -> dict[str, Any]:
    """One row's figures from the stats objects the page emitted."""
    lat = sorted(x for s in samples for x in s.get("timecodeMs") or [])
    drawn = sorted(x for s in samples for x in s.get("drawnAt") or [])
    gaps = [b - a for a, b in itertools.pairwise(drawn)]
    span = (drawn[-1] - drawn[0]) / 1000 if len(drawn) > 1 else 0.0
    rungs = [s["adaptation"]["rung"] for s in samples if s.get("adaptation")]
    switches = [s["adaptation"]["switches"] for s in samples if s.get("adaptation")]
    last = samples[-1] if samples else {}
    rtc = last.get("rtc") or {}
    return {
        "fps": (len(drawn) - 1) / span if span else 0.0,
        "p50": nearest_rank(lat, 50),
        "p95": nearest_rank(lat, 95),
        "p99": nearest_rank(lat, 99),
        "freeze": max(gaps) if gaps else float("nan"),
        "mbit": statistics.mean(s["bitrate"] for s in samples) / 1e6 if samples else 0.0,
        "switches": (switches[-1] - switches[0]) if switches else 0,
        "rung": statistics.median(rungs) if rungs else float("nan"),
        "busy": busy,
        "n": len(lat),
        "latencies": lat,
        "codec": last.get("codec"),
        "live": last.get("transport"),
        "rtc": f"{rtc.get('nackCount', 0)}/{rtc.get('pliCount', 0)}" if rtc else "",
    }


async def open_view(browser, args: argparse.Namespace, transport: str):  # type: ignore[no-untyped-def]
    w, h = args.size
    ctx = await browser.new_context(viewport={"width": w, "height": h},
                                    permissions=["camera", "microphone"])  # fmt: skip
    page = await ctx.new_page()
    await page.goto(f"http://{SRV_IP}:{PORT}/?transport={transport}&timecode&nooverlay")
    t0 = time.monotonic()
    while not await page.evaluate("window.rfbView?.stats?.firstFrameAt"):
        if time.monotonic() - t0 > 20:
            await ctx.close()
            return None, None
        await asyncio.sleep(0.05)
    await asyncio.sleep(WARMUP_S)
    return ctx, page


async def take(page) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    samples: list[dict[str, Any]] = await page.evaluate(
        "(() => { const s = window.rfbSamples; window.rfbSamples = []; return s; })()"
    )
    return samples


async def watch(browser, args: argparse.Namespace, transport: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    ctx, page = await open_view(browser, args, transport)
    if page is None:
        return summarise([], 0.0) | {"fps": 0.0, "live": transport}
    await page.evaluate(COLLECT)
    machine = MachineLoad()
    await asyncio.sleep(args.seconds)
    samples = await take(page)
    row = summarise(samples, machine.busy())
    if args.trace:
        trace(samples)
    await ctx.close()
    return row


def trace(samples: list[dict[str, Any]], t0: float | None = None) -> None:
    """Each second's figures, for tuning: fps, latency, the rung and why."""
    for s in samples:
        if t0 is not None:
            print(f"    {(s['at'] - t0) / 1000:5.1f} s", end="")
        a = s.get("adaptation") or {}
        lat = sorted(s.get("timecodeMs") or [])
        est = a.get("estimateBps")
        print(f"    fps {s['fps']:5.1f} p50 {nearest_rank(lat, 50):5.0f} max {max(lat or [0]):5.0f} "
              f"rung {a.get('rung')} {a.get('codedWidth')} est "
              f"{'-' if est is None else f'{est / 1e6:.2f}M'} queue {a.get('queueMs')} "
              f"{a.get('reason')}", flush=True)  # fmt: skip


# Inside the server's namespace: its JSON /metrics every 0.1 s, one line per sample
# ([epoch ms, [per viewer: rung, rung bitrate, estimate, queue ms]]), so that polling it
# loads neither the link under test nor the page.
SAMPLER = """
import json, sys, time, urllib.request
KEYS = ("rung", "rung_bitrate", "estimate_bps", "queue_ms")
while True:
    t = time.time()
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
            m = json.load(r)
        v = [[x.get(k) for k in KEYS] for x in m.get("viewers", [])]
        print(json.dumps([round(1000 * t), v]), flush=True)
    except Exception:
        pass
    time.sleep(max(0.0, 0.1 - (time.time() - t)))
"""


class ServerSampler:
    """The viewer's rung, rung bitrate and estimate as the server has them, every 0.1 s."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, list[Any]]] = []

    async def __aenter__(self) -> ServerSampler:
        self.proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", SRV, sys.executable, "-c", SAMPLER,
            f"http://{SRV_IP}:{PORT}/metrics", stdout=asyncio.subprocess.PIPE)  # fmt: skip
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            t, viewers = json.loads(line)
            self.samples.append((t, viewers[0] if viewers else []))

    async def __aexit__(self, *exc: object) -> None:
        self.proc.terminate()
        await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


def each_second(s: dict[str, Any], start: float) -> dict[str, Any]:
    """One stats message of the page's, for the time series."""
    return {
        "t": round((s["at"] - start) / 1000, 3),
        "fps": s.get("fps"),
        "mbit": (s.get("bitrate") or 0) / 1e6,
        "p95": nearest_rank(sorted(s.get("timecodeMs") or [0]), 95),
        "rung": (s.get("adaptation") or {}).get("rung"),
    }


async def step(
    browser: Any, args: argparse.Namespace, transport: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Constrained, lifted, restored: each for --seconds. The rows, and the time series."""
    set_rate(args.rate_mbit)
    ctx, page = await open_view(browser, args, transport)
    if page is None:
        return [], {}
    rows, phases, seen = [], [], []
    async with ServerSampler() as sampler:
        await page.evaluate(COLLECT)
        start = time.time() * 1000
        for phase, rate in (("constrained", args.rate_mbit), ("lifted", None),
                            ("restored", args.rate_mbit)):  # fmt: skip
            set_rate(rate)
            machine = MachineLoad()
            t0 = time.time() * 1000
            await asyncio.sleep(args.seconds)
            samples = await take(page)
            seen += samples
            row = summarise(samples, machine.busy())
            if args.trace:
                print(f"  {transport} {phase} from {t0 / 1000 % 1000:.1f}:", flush=True)
                trace(samples, t0)
            row |= {"phase": phase, "top_after_ms": None, "live": transport}
            rows.append(row)
            phases.append([phase, (t0 - start) / 1000, (time.time() * 1000 - start) / 1000])
    await ctx.close()
    set_rate(args.rate_mbit)
    lift, restore = phases[1][1], phases[2][1]
    server = [[round((t - start) / 1000, 3), *v] for t, v in sampler.samples if v]
    # The first sample at the top rung after the lift (and before the restore).
    top = next((t for t, rung, *_ in server if lift <= t < restore and rung == 0), None)
    rows[1]["top_after_ms"] = None if top is None else 1000 * (top - lift)
    series = {
        "live": transport,
        "phases": phases,
        "top_after_s": None if top is None else top - lift,
        "drawn_s": [round((x - start) / 1000, 4) for s in seen for x in s.get("drawnAt") or []],
        "browser": [each_second(s, start) for s in seen],
        "server": server,  # [t s, rung, rung bitrate bps, estimate bps, queue ms]
    }
    return rows, series


def label(args: argparse.Namespace) -> str:
    w, h = args.size
    trivial = " (trivial pattern)" if args.pattern in TRIVIAL_PATTERNS else ""
    rate = f"{args.rate_mbit:g} Mbit/s bottleneck, " if args.rate_mbit else ""
    return (f"{w}x{h} {args.pattern}{trivial} at 30 fps, RTT {2 * args.delay_ms:g} ms, "
            f"{rate}{args.seconds:g} s per row")  # fmt: skip


HEADER = (f"{'loss':>5} {'transport':10} {'codec':12} {'shown fps':>9} {'p50 ms':>7} "
          f"{'p95 ms':>7} {'p99 ms':>7} {'freeze ms':>9} {'Mbit/s':>6} {'switches':>8} "
          f"{'rung':>4} {'busy':>5}  NACK/PLI")  # fmt: skip


def fmt_row(loss: float, r: dict[str, Any]) -> str:
    return (f"{loss:>4g}% {r.get('live') or '-':10} {(r.get('codec') or '-')[:12]:12} "
            f"{r['fps']:9.1f} {r['p50']:7.0f} {r['p95']:7.0f} {r['p99']:7.0f} "
            f"{r['freeze']:9.0f} {r['mbit']:6.2f} {r['switches']:8d} {r['rung']:4g} "
            f"{r['busy']:5.2f}  {r['rtc']}")  # fmt: skip


def plot_cdf(rows: list[dict[str, Any]], path: str, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--cdf needs matplotlib: pip install 'rfb[bench]'")
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for r in rows:
        lat = sorted(r["latencies"])
        if not lat:
            continue
        ys = [(i + 1) / len(lat) for i in range(len(lat))]
        ax.plot(lat, ys, label=r["name"])
    ax.set_xlabel("publish -> display latency (ms)")
    ax.set_ylabel("fraction of frames")
    ax.set_xlim(0, min(1000, max(max(r["latencies"] or [0]) for r in rows) * 1.05))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


def fps_over_time(
    drawn: list[float], step_s: float = 0.25, window_s: float = 1.0
) -> tuple[list[float], list[float]]:
    """Frames drawn per second in a sliding window, every ``step_s``."""
    if len(drawn) < 2:
        return [], []
    drawn = sorted(drawn)
    ts, fps = [], []
    lo = hi = 0
    t = max(0.0, drawn[0]) + window_s
    while t <= drawn[-1]:
        while hi < len(drawn) and drawn[hi] <= t:
            hi += 1
        while lo < hi and drawn[lo] <= t - window_s:
            lo += 1
        ts.append(t - window_s / 2)
        fps.append((hi - lo) / window_s)
        t += step_s
    return ts, fps


def plot_step(series: list[dict[str, Any]], path: str, title: str, rate_mbit: float | None) -> None:
    """Shown fps, and the rung's bitrate and the server's estimate, over the step change."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--step-plot needs matplotlib: pip install 'rfb[bench]'")
    series = [s for s in series if s.get("phases")]
    if not series:
        sys.exit("no step-change series to plot (run with --step, or --plot a --step JSON)")
    fig, (top, low) = plt.subplots(2, 1, sharex=True, figsize=(7, 4.2), dpi=110)
    phases = series[0]["phases"]
    end = phases[-1][2]
    for ax in (top, low):
        for name, a, b in phases:
            if name != "lifted":
                ax.axvspan(a, b, color="0.5", alpha=0.12, lw=0)
        ax.grid(alpha=0.3)
    names = {"websocket": "WebSocket", "webrtc": "WebRTC"}
    for i, s in enumerate(series):
        colour = f"C{i}"
        name = names.get(s["live"], s["live"])
        ts, fps = fps_over_time(s["drawn_s"])
        top.plot(ts, fps, color=colour, lw=1.2, label=f"{name}: shown fps (1 s window)")
        srv = s["server"]
        t = [x[0] for x in srv]
        nan = float("nan")
        rung_mbit = [nan if x[2] is None else x[2] / 1e6 for x in srv]
        est = [nan if x[3] is None else x[3] / 1e6 for x in srv]
        low.step(t, rung_mbit, where="post", color=colour, lw=1.4, label=f"{name}: rung's bitrate")
        low.plot(t, est, color=colour, lw=0.8, ls="--", alpha=0.8, label=f"{name}: estimate")
        if s.get("top_after_s") is not None:
            lift = phases[1][1]
            at = lift + s["top_after_s"]
            y = next((r for tt, r in zip(t, rung_mbit, strict=True) if tt >= at and r > 0), None)
            if y is not None:
                low.plot([at], [y], "o", color=colour, ms=5)
            low.text(lift + 0.2, 0.13 - 0.09 * i, f"{name} on the top rung "
                     f"{s['top_after_s']:.1f} s after the lift (dot)", fontsize=7,
                     color=colour, transform=low.get_xaxis_transform())  # fmt: skip
    if rate_mbit:
        low.axhline(rate_mbit, color="k", lw=0.8, ls=":", label=f"bottleneck {rate_mbit:g} Mbit/s")
    for name, a, _ in phases:
        top.text(a + 0.2, 46, name, fontsize=7, color="0.3", va="top")
    top.set_ylabel("shown fps")
    top.set_ylim(0, 48)
    low.set_ylabel("Mbit/s (log)")
    low.set_yscale("log")
    low.set_ylim(0.5, 100)  # room above for the legend
    low.set_xlabel("seconds (grey: bottleneck on)")
    low.set_xlim(0, end)
    top.legend(fontsize=7, loc="lower left")
    low.legend(fontsize=6.5, loc="upper left", ncol=3)
    top.set_title(title, fontsize=8.5)
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


def size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


# The audio track's receiver figures (inbound-rtp), and what the speakers' node plays.
RTC_AUDIO = """async () => {
  const r = await window.rfbView.rtc.pc.getStats();
  let o = null;
  r.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') o = s; });
  return o && { total: o.totalSamplesReceived, concealed: o.concealedSamples,
                silent: o.silentConcealedSamples, events: o.concealmentEvents,
                lost: o.packetsLost, received: o.packetsReceived };
}"""
async def audio_section(p: Any, args: argparse.Namespace, wrapper: Path) -> None:
    """The tone over WebRTC at ``loss`` %, the stream's fec option on and off."""
    import numpy as np

    sys.path.insert(0, str(HERE.parent / "tests"))
    import rfb
    from rfb.signaling import IceConfig

    from support.tone import TonePublisher, heard

    loss = next((x for x in args.loss if x > 0), 5.0)
    browser = await p.chromium.launch(executable_path=str(wrapper),
                                      args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])  # fmt: skip
    try:
        with in_server_netns():
            print(f"\nsound over WebRTC at {loss:g} % loss each way (RTT {2 * args.delay_ms:g} ms), "
                  f"{args.seconds:g} s per row; slots: 20 ms of the track's samples", flush=True)
            print(f"{'on':8} {'after':>5} {'tier':6} {'slots':>6} {'real %':>7} {'concealed %':>11} "
                  f"{'events':>6} {'lost':>5} {'RED tx':>6} {'FEC tx':>6} {'heard Hz':>8} {'RMS':>5} "
                  f"{'busy':>5}")  # fmt: skip
            for mode in ("RED+FEC", "FEC", "neither"):
                fec = mode != "neither"
                ice = IceConfig(host_addresses=(SRV_IP,), allowed_remote_networks=("10.99.0.0/24",))
                w, h = args.size
                display = await rfb.serve(w, h, host=SRV_IP, port=PORT, transport="webrtc",
                                          ice=ice, fec=fec)  # fmt: skip
                display.publish(np.full((h, w, 3), 96, np.uint8))
                tone = TonePublisher(display, 440.0)
                ctx = await browser.new_context(viewport={"width": w, "height": h})
                try:
                    page = await ctx.new_page()
                    await page.goto(f"http://{SRV_IP}:{PORT}/?transport=webrtc&nooverlay")
                    for _ in range(300):
                        if await page.evaluate("window.rfbView?.stats?.audio?.packets > 50"):
                            break
                        await asyncio.sleep(0.1)
                    # Held on the top rung: the loss would take its picture down the ladder,
                    # and its sound to the low tier, which has no FEC (docs/guides/audio.md).
                    hub = display.stream.hub
                    (viewer,) = hub.live_viewers()
                    hub.pin(viewer.id, hub.routing.entries[viewer.id].allowed[0])
                    (peer,) = display.stream.webrtc.sessions.values()
                    if mode == "FEC" and peer.audio.red is not None:
                        from rfb.transports.audio_red import LossWatch

                        peer.audio.red.watch = LossWatch()  # one no report reaches: RED stays off
                    set_loss(loss)
                    t_loss, on_after = time.monotonic(), None
                    # Chromium sends audio receiver reports every ~5 s (2.5 to 7.5): the first
                    # that shows loss turns RED / FEC on. Measured from then on.
                    while fec and time.monotonic() - t_loss < 30:
                        if peer.audio.audio_lossy():
                            on_after = time.monotonic() - t_loss
                            break
                        await asyncio.sleep(0.1)
                    await asyncio.sleep(1.0)  # the FEC encoder warms up and takes over
                    a0 = await page.evaluate(RTC_AUDIO)
                    enc0 = display.metrics()["display"]["audio"]["fec_packets"]
                    red0 = peer.audio.red.packets if peer.audio.red is not None else 0
                    machine = MachineLoad()
                    await asyncio.sleep(max(0.0, args.seconds - 0.7))
                    hz, rms = await heard(page, 700)
                    a1 = await page.evaluate(RTC_AUDIO)
                    busy = machine.busy()
                    enc1 = display.metrics()["display"]["audio"]["fec_packets"]
                    red = (peer.audio.red.packets if peer.audio.red is not None else 0) - red0
                    tier = display.stream.audio.tier_of(viewer.id)
                    set_loss(0)
                    d = {k: a1[k] - a0[k] for k in a0}
                    slots = d["total"] / 960
                    concealed = 100 * d["concealed"] / max(1, d["total"])
                    after = "-" if on_after is None else f"{on_after:.1f}"
                    print(f"{mode:8} {after:>5} {tier or '-':6} {slots:6.0f} "
                          f"{100 - concealed:7.2f} {concealed:11.2f} {d['events']:6d} {d['lost']:5d} "
                          f"{red:6d} {enc1 - enc0:6d} {hz:8.1f} {rms:5.3f} {busy:5.2f}", flush=True)  # fmt: skip
                finally:
                    set_loss(0)
                    await tone.stop()
                    await ctx.close()
                    await display.aclose()
    finally:
        await browser.close()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pattern", default="scene", help="the server's --pattern (default scene)")
    ap.add_argument("--size", type=size, default=(1280, 720), help="WxH (default 1280x720)")
    ap.add_argument("--seconds", type=float, default=12)
    ap.add_argument("--loss", type=float, nargs="*", default=[0, 5])
    ap.add_argument("--delay-ms", type=float, default=20.0, help="one-way delay (RTT is twice)")
    ap.add_argument("--rate-mbit", type=float, default=0, help="bottleneck each way (0: none)")
    ap.add_argument("--transports", nargs="*", default=["websocket", "webrtc"])
    ap.add_argument("--step", action="store_true", help="lift the bottleneck, then restore it")
    ap.add_argument("--json", help="save the rows (with latency samples) here")
    ap.add_argument("--cdf", help="plot the rows' latency CDFs into this PNG")
    ap.add_argument(
        "--step-plot", help="with --step (or --plot): plot the step change into this PNG"
    )
    ap.add_argument(
        "--plot", nargs="*", help="only plot --cdf / --step-plot from these saved --json files"
    )
    ap.add_argument("--first-frame", action="store_true", help="also time the first WebRTC frame")
    ap.add_argument("--trace", action="store_true", help="print each second's figures")
    ap.add_argument("--server-arg", action="append", default=[], help="pass to rfb.server")
    ap.add_argument("--audio", action="store_true", help="also the sound section (WebRTC)")
    args = ap.parse_args()
    if args.plot:
        saves = [json.loads(Path(f).read_text()) for f in args.plot]
        if args.cdf or not args.step_plot:
            rows = [r for d in saves for r in d["rows"]]
            plot_cdf(rows, args.cdf or "latency_cdf.png", "publish -> display latency")
        if args.step_plot:
            series = [x for d in saves for x in d.get("series", [])]
            rate = next((d.get("rate_mbit") for d in saves if d.get("series")), None)
            plot_step(series, args.step_plot, step_title(saves[0]["label"]), rate)
        return
    if os.geteuid() != 0:
        sys.exit("bench_loss needs root (network namespaces, nftables)")
    if args.step and not args.rate_mbit:
        sys.exit("--step needs --rate-mbit")
    from playwright.async_api import async_playwright

    wrapper = chromium_wrapper()
    netns_up(args.delay_ms)
    if args.rate_mbit:
        set_rate(args.rate_mbit)
    saved: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(wrapper), args=CHROMIUM_ARGS)
            print(f"rfb loss benchmark: {label(args)}; Chromium in its own namespace", flush=True)
            async with server(args):
                if args.step:
                    print(f"step change: {args.rate_mbit:g} Mbit/s, lifted, restored; "
                          f"{args.seconds:g} s each", flush=True)  # fmt: skip
                    print(f"{'phase':12} {HEADER}  top rung after")
                    for transport in args.transports:
                        rows, one = await step(browser, args, transport)
                        if one:
                            series.append(one)
                        for r in rows:
                            top = r["top_after_ms"]
                            top_s = "-" if top is None else f"{top / 1000:.1f} s"
                            print(f"{r['phase']:12} {fmt_row(0, r)}  {top_s}", flush=True)
                            r["name"] = f"{r['live']} {r['phase']}"
                            saved.append(r)
                else:
                    print(HEADER)
                    for loss in args.loss:
                        set_loss(loss)
                        for transport in args.transports:
                            r = await watch(browser, args, transport)
                            print(fmt_row(loss, r), flush=True)
                            rate = f"{args.rate_mbit:g} Mbit/s, " if args.rate_mbit else ""
                            r["name"] = (f"{r['live']}: {rate}RTT {2 * args.delay_ms:g} ms, "
                                         f"{loss:g}% loss")  # fmt: skip
                            saved.append(r)
                    set_loss(0)
            if args.first_frame:
                await first_frames(browser, args)
            await browser.close()
            if args.audio:
                await audio_section(p, args, wrapper)
    finally:
        netns_down()
    if args.json:
        out = {"label": label(args), "rate_mbit": args.rate_mbit, "rows": saved}
        if args.step:
            out["series"] = series
        Path(args.json).write_text(json.dumps(out))
    if args.cdf:
        plot_cdf(saved, args.cdf, label(args))
    if args.step_plot and args.step:
        plot_step(series, args.step_plot, step_title(label(args)), args.rate_mbit)


def step_title(text: str) -> str:
    """The plot's title from the run's label: the bottleneck first, the phases' length."""
    return "step change: " + text.replace(" per row", " per phase")


async def first_frames(browser, args: argparse.Namespace) -> None:  # type: ignore[no-untyped-def]
    print("\npage load -> first WebRTC frame (no loss), browser without media permission "
          "(mDNS host candidates):", flush=True)  # fmt: skip
    for name, extra in (("mDNS candidates dropped (default)", ()),
                        ("mDNS candidates resolved (--ice-keep-mdns)", ("--ice-keep-mdns",))):  # fmt: skip
        firsts = []
        async with server(args, *extra):
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
        print(f"  {name:45s} median {statistics.median(firsts):6.0f} ms  "
              f"({', '.join(f'{f:.0f}' for f in firsts)})", flush=True)  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
