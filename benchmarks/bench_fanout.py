"""Fan-out: what each WebSocket (or WebRTC) viewer costs the server per frame.

    python benchmarks/bench_fanout.py [--viewers 8,50,100,200,500] [--seconds 8]
        [--clients 4] [--transport websocket|webrtc] [--plot docs/images/fanout.png]

The server runs in a process of its own (this script with a hidden ``--server``): it
pre-renders 256 frames of the realistic ``scene`` pattern at 1280x720 and publishes them
at 30 fps, H.264 at rfb's automatic bitrate (about 11.5 kB a frame), stamping the wall
clock into each frame (``rfb.patterns.stamp_timecode``) right before its publish.

For each N it starts, besides one probe viewer, N ack-only viewers spread over
``--clients`` client processes (this script with ``--client``). An ack-only WebSocket
viewer is a raw asyncio protocol, not a library client, so that a client process can hold
hundreds: it opens the WebSocket, says hello as the browser does (H.264 and JPEG,
``scaled_frames``, the browser's features), reads each frame's envelope header (checks
that seq is dense and the first frame a keyframe) and acks it at once with its arrival
time, like the browser's ack; it never decodes. ``--transport webrtc``: each is an aiortc
peer that negotiates WHEP (H.264) and counts the frames its track yields, without decoding
past what aiortc's receiver does (aiortc decodes every frame: these clients are heavy,
so WebRTC rows saturate the clients long before the server).

The probe (its own process) is an ``rfb.client`` WebSocket viewer that decodes every frame
with PyAV, reads the timecode back and acks: publish -> decoded latency, p50 and p95.

Each row: after every viewer has its first frame and 2 s of warm-up, a ``--seconds``
window is measured: the server's CPU seconds per second (utime + stime from
/proc/<pid>/stat), the clients' (all client processes, the probe included), µs of server
CPU per viewer per frame (the CPU over the row with N = 0, only the probe, divided by
N x frames published), each viewer's frames per second (min and median), the probe's
latency, frames published per second, the machine's busy fraction (/proc/stat), and the
server's full garbage collections in the window (how many, and the longest: each holds the
event loop, and every viewer's frame with it). A row
whose clients and server together keep the machine near 100 % busy is limited by the
machine, not the server alone: read the busy fraction and the clients' CPU with it.
``--plot PATH`` writes server CPU against N (matplotlib). ``--nice-clients N`` runs the
ack-only client processes at niceness N, so that the server (and the probe) get the cores
first, as they would with the viewers on other machines: where the default rows and these
differ, the clients sharing the 2 cores are part of the limit. Loopback only; asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
if os.environ.get("FANOUT_SERVER_RFB"):  # --server-rfb: this server process measures that rfb
    sys.path.insert(0, os.environ["FANOUT_SERVER_RFB"])

from bench_core import free_port, publish_timecoded  # noqa: E402
from bench_vs_pdum import MAX_LATENCY_MS, latency_ms, read_timecode  # noqa: E402

from rfb import patterns  # noqa: E402
from rfb.bench import MachineLoad, cpu_seconds, nearest_rank  # noqa: E402

from support.ack_viewers import CAPS, open_viewers  # noqa: E402  (tests/support/)

W, H, FPS = 1280, 720, 30.0
RING = 256  # pre-rendered frames: one period of the scene's scroll
WARMUP_S = 2.0
CONNECT_BATCH = 25  # viewers opened at once per client process
FIRST_FRAME_S = 60.0  # a client waits this long for each of its viewers' first frame


# ---------------------------------------------------------------------------------------
# The server process


async def serve_and_publish(port: int, transport: str, max_viewers: int) -> None:
    import rfb

    render = patterns.make("scene", W, H)
    frames = [render(i) for i in range(RING)]
    extra: dict[str, Any] = {}
    if transport == "webrtc":
        from rfb.signaling import IceConfig

        extra["ice"] = IceConfig(host_addresses=("127.0.0.1",),
                                 allowed_remote_networks=("127.0.0.0/8",))  # fmt: skip
    display = await rfb.serve(W, H, host="127.0.0.1", port=port, fps=FPS,
                              transport=transport, max_viewers=max_viewers,
                              max_pending=max_viewers, max_webrtc_sessions=max_viewers,
                              **extra)  # fmt: skip
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    loop.add_signal_handler(signal.SIGTERM, main.cancel)
    published = [0]
    lags: list[float] = []
    gc_time = [0.0, 0.0, 0.0]  # s in the collector, in full collections, this one's start
    full_pauses: list[float] = []  # each full collection's length (s): the loop stands still

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_time[2] = time.perf_counter()
        else:
            took = time.perf_counter() - gc_time[2]
            gc_time[0] += took
            if info["generation"] == 2:
                gc_time[1] += took
                full_pauses.append(took)

    gc.callbacks.append(on_gc)

    async def lag() -> None:
        """How late the loop runs a 10 ms timer: a saturated loop is late."""
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - t - 0.01)

    def figures() -> str:
        hub = display.stream.hub
        totals = hub.totals.viewers(hub.live_viewers())
        late = sorted(lags) or [0.0]
        lags.clear()
        return json.dumps({"sent": totals["frames_sent"], "skipped": totals["frames_skipped"],
                           "expired": totals["frames_expired"], "groups": len(hub.groups),
                           "viewers": hub.viewer_count,
                           "lag_p95_ms": 1000 * late[int(0.95 * (len(late) - 1))],
                           "gc_s": gc_time[0], "gc2_s": gc_time[1],
                           "full_pauses": list(full_pauses),
                           "tracked": len(gc.get_objects())})  # fmt: skip

    def answer() -> None:
        for line in sys.stdin:
            if line.strip() == "count":
                print(f"count {published[0]} {time.monotonic():.6f}", flush=True)
            elif line.strip() == "figures":

                async def on_loop() -> str:
                    return figures()

                print(asyncio.run_coroutine_threadsafe(on_loop(), loop).result(), flush=True)
        loop.call_soon_threadsafe(main.cancel)

    lag_task = loop.create_task(lag())

    threading.Thread(target=answer, daemon=True).start()
    print(f"ready {Path(rfb.__file__).parent}, on {type(loop).__module__.split('.')[0]}'s "
          "event loop", flush=True)
    try:
        await publish_timecoded(display, frames, FPS, published)
    except asyncio.CancelledError:
        pass
    finally:
        lag_task.cancel()
        await display.aclose()


# ---------------------------------------------------------------------------------------
# Ack-only WebSocket viewers (client processes)


@dataclass
class Count:
    measuring: bool = False
    frames: int = 0  # in the window
    gaps: int = 0  # seq not one more than the previous one
    bad_first: bool = False  # the first frame was not a keyframe
    last_seq: int = -1
    first: asyncio.Event | None = None

    def on_frame(self, header: dict[str, Any], payload: bytes) -> None:
        if header.get("type") not in ("video_chunk", "image_frame"):
            return
        seq = header["seq"]
        if self.last_seq < 0:
            self.bad_first = not header.get("keyframe", False)
            if self.first is not None:
                self.first.set()
        elif seq != self.last_seq + 1:
            self.gaps += 1
        self.last_seq = seq
        if self.measuring:
            self.frames += 1


def control_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str]:
    """stdin lines as a queue (the parent says ``start`` and ``stop``)."""
    q: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        with contextlib.suppress(RuntimeError):  # the loop may be gone once stdin closes
            for line in sys.stdin:
                loop.call_soon_threadsafe(q.put_nowait, line.strip())
            loop.call_soon_threadsafe(q.put_nowait, "stop")

    threading.Thread(target=read, daemon=True).start()
    return q


async def run_client(port: int, n: int, transport: str) -> None:
    loop = asyncio.get_running_loop()
    lines = control_lines(loop)
    counts = [Count(first=asyncio.Event()) for _ in range(n)]
    closers: list[Any] = []
    if transport == "websocket":
        closers += await open_viewers(port, [c.on_frame for c in counts], CONNECT_BATCH)
    else:
        for c in counts:
            closers.append(await webrtc_viewer(port, c))
    for c in counts:
        assert c.first is not None
        await asyncio.wait_for(c.first.wait(), FIRST_FRAME_S)
    print("connected", flush=True)
    t0 = t1 = time.monotonic()
    while (line := await lines.get()) != "stop":
        if line == "start":
            t0 = time.monotonic()
            for c in counts:
                c.measuring = True
    t1 = time.monotonic()
    for c in counts:
        c.measuring = False
    print(json.dumps({"fps": [c.frames / (t1 - t0) for c in counts],
                      "gaps": sum(c.gaps for c in counts),
                      "bad_first": sum(c.bad_first for c in counts)}), flush=True)  # fmt: skip
    for closer in closers:
        res = closer.close()
        if asyncio.iscoroutine(res):
            await res


class _NoDecode:
    """Stands in for aiortc's H.264 decoder in the client processes: the frame as received
    (the server's work is the same whether or not its viewers decode)."""

    def decode(self, encoded_frame: Any) -> list[Any]:
        return [encoded_frame]


async def webrtc_viewer(port: int, c: Count) -> Any:
    """One aiortc WHEP viewer (kept on loopback) that counts the frames its track yields."""
    import aiohttp
    import aiortc
    from aiortc import rtcrtpreceiver

    from rfb.transports import aiortc_compat

    from support.webrtc import LOOPBACK

    rtcrtpreceiver.get_decoder = lambda codec: _NoDecode()  # type: ignore[assignment]
    pc = aiortc.RTCPeerConnection()
    aiortc_compat.use_ice_policy(pc, LOOPBACK)
    pc.addTransceiver("video", direction="recvonly")
    pc.createDataChannel("rfb")
    tasks: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(track: Any) -> None:
        async def pull() -> None:
            assert c.first is not None
            while True:
                await track.recv()
                c.first.set()
                if c.measuring:
                    c.frames += 1

        tasks.append(asyncio.get_running_loop().create_task(pull()))

    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http, http.post(
        f"http://127.0.0.1:{port}/whep", data=pc.localDescription.sdp,
        headers={"Content-Type": "application/sdp"},
    ) as r:  # fmt: skip
        if r.status != 201:
            raise RuntimeError(f"WHEP refused: {r.status} {await r.text()}")
        answer = await r.text()
    await pc.setRemoteDescription(aiortc.RTCSessionDescription(sdp=answer, type="answer"))

    class Closer:
        async def close(self) -> None:
            for t in tasks:
                t.cancel()
            await pc.close()

    return Closer()


async def run_probe(port: int) -> None:
    from rfb import client

    loop = asyncio.get_running_loop()
    lines = control_lines(loop)
    latencies: list[float] = []
    state = {"measuring": False, "frames": 0, "first": asyncio.Event()}

    async def watch() -> None:
        async with client.connect(f"ws://127.0.0.1:{port}/", list(CAPS), auto_ack=False,
                                  scaled_frames=True) as v:  # fmt: skip
            while True:
                f = await v.next_frame(decode=True, timeout=30)
                now = time.time()
                if f.pixels is not None:
                    state["first"].set()  # type: ignore[attr-defined]
                    if state["measuring"]:
                        ms = latency_ms(read_timecode(f.pixels), now)
                        if 0 <= ms <= MAX_LATENCY_MS:
                            latencies.append(ms)
                        state["frames"] += 1  # type: ignore[operator]
                await v.ack(f.seq, f.received_at)

    task = loop.create_task(watch())
    first = loop.create_task(state["first"].wait())  # type: ignore[attr-defined]
    await asyncio.wait([task, first], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    print("connected", flush=True)
    t0 = t1 = time.monotonic()
    while (line := await lines.get()) != "stop":
        if line == "start":
            t0, state["measuring"] = time.monotonic(), True
    t1 = time.monotonic()
    state["measuring"] = False
    print(json.dumps({"latencies": latencies, "fps": state["frames"] / (t1 - t0)}), flush=True)  # type: ignore[operator]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


# ---------------------------------------------------------------------------------------
# The parent


class Proc:
    def __init__(self, *args: str, rfb_path: str | None = None, nice: int = 0) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
        if rfb_path:
            env["FANOUT_SERVER_RFB"] = rfb_path
        self.p = subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env,
                                  preexec_fn=(lambda: os.nice(nice)) if nice else None)  # fmt: skip

    def say(self, line: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def line(self) -> str:
        assert self.p.stdout is not None
        text = self.p.stdout.readline()
        if not text:
            raise RuntimeError(f"{self.p.args[2:4]} exited with {self.p.wait()}")
        return text.strip()

    def stop(self) -> None:
        if self.p.poll() is None:
            with contextlib.suppress(OSError):
                assert self.p.stdin is not None
                self.p.stdin.close()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@dataclass
class Row:
    n: int
    server_cpu: float
    client_cpu: float
    fps_min: float
    fps_median: float
    probe_p50: float
    probe_p95: float
    probe_fps: float
    published_fps: float
    busy: float
    gaps: int
    bad_first: int
    skipped: int  # frames viewers did not get for want of credit (flow control)
    lag_p95: float  # ms the server's loop ran a 10 ms timer late, p95
    groups: int  # encoder groups (rungs in use)
    gc: float  # s/s the server spent in Python's garbage collector
    full_gcs: int = 0  # full collections in the window (each holds the loop)
    full_gc_ms: float = 0.0  # the longest of them
    us_per_viewer: float | None = None

    @property
    def others(self) -> float:
        """CPU s/s of everything else on the machine (other programs, the kernel's own)."""
        return max(0.0, self.busy * (os.cpu_count() or 1) - self.server_cpu - self.client_cpu)

    def line(self) -> str:
        us = "     -" if self.us_per_viewer is None else f"{self.us_per_viewer:6.1f}"
        return (f"{self.n:5d}  {self.server_cpu:6.2f}  {us}  {self.fps_min:5.1f} {self.fps_median:5.1f}"
                f"  {self.probe_p50:6.1f} {self.probe_p95:6.1f} {self.probe_fps:5.1f}"
                f"  {self.published_fps:5.1f}  {self.client_cpu:5.2f}  {self.others:5.2f}"
                f"  {100 * self.busy:4.0f}%"
                f"  {self.gaps:4d} {self.bad_first:3d}  {self.skipped:6d} {self.lag_p95:6.1f}"
                f" {self.groups:3d} {self.gc:5.3f} {self.full_gcs:3d} {self.full_gc_ms:5.0f}")  # fmt: skip


HEADER = ("    N  server  µs/v/f  fps min/med   probe p50  p95   fps  publ. clients others  busy"
          "  gaps bad1st skipped lag95 groups gc  full gc\n       CPU s/s                          ms     ms              "
          "CPU s/s CPU s/s                     ms       s/s   n    ms")


def measure(server: Proc, port: int, n: int, args: argparse.Namespace) -> Row:
    per = [n // args.clients + (i < n % args.clients) for i in range(args.clients)]
    clients = [Proc("--client", str(k), "--port", str(port), "--transport", args.transport,
                    nice=args.nice_clients) for k in per if k]  # fmt: skip
    probe = Proc("--probe", "--port", str(port))
    everyone = [*clients, probe]
    try:
        for c in everyone:
            if c.line() != "connected":
                raise RuntimeError("a client did not connect")
        time.sleep(WARMUP_S)
        server.say("count")
        _, p0, pt0 = server.line().split()
        server.say("figures")
        f0 = json.loads(server.line())
        pids = [c.p.pid for c in everyone]
        c0, k0, machine, t0 = cpu_seconds(server.p.pid), sum(map(cpu_seconds, pids)), MachineLoad(), time.monotonic()
        for c in everyone:
            c.say("start")
        spy = None
        if args.py_spy and n == max(int(x) for x in args.viewers.split(",")):
            spy = subprocess.Popen(["py-spy", "record", "-p", str(server.p.pid), "-r", "200",
                                    "-d", str(int(args.seconds)), "-f", "raw", "-o", args.py_spy,
                                    "--nonblocking"], stdout=subprocess.DEVNULL)  # fmt: skip
        time.sleep(args.seconds)
        if spy is not None:
            spy.wait()
        t1, c1, k1, busy = time.monotonic(), cpu_seconds(server.p.pid), sum(map(cpu_seconds, pids)), machine.busy()
        server.say("count")
        _, p1, pt1 = server.line().split()
        server.say("figures")  # before the viewers leave
        f1 = json.loads(server.line())
        if os.environ.get("FANOUT_DEBUG"):
            print(f0, f1, file=sys.stderr)
        for c in everyone:
            c.say("stop")
        reports = [json.loads(c.line()) for c in clients]
        probed = json.loads(probe.line())
    finally:
        for c in everyone:
            c.stop()
    fps = sorted(f for r in reports for f in r["fps"]) or [float("nan")]
    lat = probed["latencies"] or [float("nan")]
    full = f1["full_pauses"][len(f0["full_pauses"]):]
    return Row(n=n, server_cpu=(c1 - c0) / (t1 - t0), client_cpu=(k1 - k0) / (t1 - t0),
               fps_min=fps[0], fps_median=statistics.median(fps),
               probe_p50=nearest_rank(lat, 50), probe_p95=nearest_rank(lat, 95),
               probe_fps=probed["fps"], published_fps=(int(p1) - int(p0)) / (float(pt1) - float(pt0)),
               busy=busy, gaps=sum(r["gaps"] for r in reports),
               bad_first=sum(r["bad_first"] for r in reports),
               skipped=f1["skipped"] - f0["skipped"], lag_p95=f1["lag_p95_ms"],
               groups=f1["groups"], gc=(f1["gc_s"] - f0["gc_s"]) / (t1 - t0),
               full_gcs=len(full), full_gc_ms=1000 * max(full, default=0.0))  # fmt: skip


def plot(rows: list[Row], path: str, transport: str, baseline: list[Row] | None = None) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ns = [r.n for r in rows]
    if baseline:
        ax.plot([r.n for r in baseline], [r.server_cpu for r in baseline], "o:", color="tab:gray",
                label="server CPU s/s, before")  # fmt: skip
    ax.plot(ns, [r.server_cpu for r in rows], "o-", label="server CPU s/s")
    ax.plot(ns, [r.busy * os.cpu_count() for r in rows], "s--", label="machine busy (cores)")  # type: ignore[operator]
    ax2 = ax.twinx()
    if baseline:
        ax2.plot([r.n for r in baseline], [r.fps_min for r in baseline], "^:", color="tab:olive",
                 label="slowest viewer fps, before")  # fmt: skip
    ax2.plot(ns, [r.fps_min for r in rows], "^:", color="tab:green", label="slowest viewer fps")
    ax2.set_ylim(0, 35)
    ax2.set_ylabel("fps")
    ax.set_xlabel(f"{transport} viewers (ack-only, 720p30 scene)")
    ax.set_ylabel("CPU seconds per second")
    ax.grid(alpha=0.3)
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(lines, [str(x.get_label()) for x in lines], loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot: {path}")


def bench(args: argparse.Namespace) -> None:
    counts = [int(x) for x in args.viewers.split(",")]
    port = free_port()
    server = Proc("--server", "--port", str(port), "--transport", args.transport,
                  "--max-viewers", str(max(counts) + 16), "--loop", args.loop,
                  rfb_path=args.server_rfb)  # fmt: skip
    rows: list[Row] = []
    try:
        ready = server.line()
        if not ready.startswith("ready "):
            raise RuntimeError("the server did not start")
        print(f"rfb fan-out on {os.cpu_count()} CPUs: {W}x{H} scene at {FPS:g} fps, H.264, "
              f"{args.transport} viewers over {args.clients} client processes"
              f"{f' at niceness {args.nice_clients}' if args.nice_clients else ''}, "
              f"{args.seconds:g} s measured per row after {WARMUP_S:g} s; the server's rfb: "
              f"{ready.split(maxsplit=1)[1]}", flush=True)  # fmt: skip
        print(HEADER, flush=True)
        base: Row | None = None
        for n in [0, *counts]:
            try:
                row = measure(server, port, n, args)
            except RuntimeError as exc:  # a client gave up waiting for its first frames
                print(f"{n:5d}  the viewers did not all get a first frame within "
                      f"{FIRST_FRAME_S:g} s ({exc}): this machine saturates before N = {n}",
                      flush=True)  # fmt: skip
                break
            if n == 0:
                base = row
            elif base is not None:
                # per frame each viewer received (at saturation, fewer than published)
                row.us_per_viewer = 1e6 * (row.server_cpu - base.server_cpu) / (n * row.fps_median)
            rows.append(row)
            print(row.line(), flush=True)
            time.sleep(1.0)  # the departed viewers' close handshakes
    finally:
        server.stop()
    marginal(rows)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1))
    if args.plot and rows:
        plot(rows, args.plot, args.transport, _rows(args.baseline_json))


def marginal(rows: list[Row]) -> None:
    """The slope of server CPU against viewer-frames per second over the rows with viewers:
    what one more viewer costs, free of any fixed cost the first viewers bring (a WebRTC
    viewer's rung of its own is a second encode)."""
    pts = [(r.n * r.fps_median, r.server_cpu) for r in rows if r.n > 0 and r.fps_median > 0]
    if len(pts) < 2:
        return
    mx = statistics.fmean(x for x, _ in pts)
    my = statistics.fmean(y for _, y in pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx > 0:
        slope = sum((x - mx) * (y - my) for x, y in pts) / sxx
        print(f"marginal cost (slope over the rows with viewers): {1e6 * slope:.1f} µs per "
              f"viewer per frame")  # fmt: skip


def _rows(path: str | None) -> list[Row] | None:
    if not path:
        return None
    return [Row(**r) for r in json.loads(Path(path).read_text())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--viewers", default="8,50,100,200,500", help="viewer counts, comma-separated")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured window per row")
    ap.add_argument("--clients", type=int, default=4, help="client processes")
    ap.add_argument("--transport", choices=("websocket", "webrtc"), default="websocket")
    ap.add_argument("--plot", help="write server CPU against N here (PNG)")
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--baseline-json", help="rows of another run (--json) to plot as 'before'")
    ap.add_argument("--from-json", help="plot these rows (--json) instead of measuring")
    ap.add_argument("--server-rfb", metavar="DIR",
                    help="the server imports rfb from DIR (another checkout: a baseline)")
    ap.add_argument("--py-spy", help="profile the server with py-spy over the largest N's window "
                    "(collapsed stacks to this path)")
    ap.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                    help="the server's event loop, as rfb's own event_loop option (auto: "
                    "uvloop where installed)")
    ap.add_argument("--nice-clients", type=int, default=0, metavar="N",
                    help="run the ack-only clients at this niceness (the probe and server at "
                    "0): the server gets the cores first, as with its viewers on other machines")
    ap.add_argument("--server", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--client", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--max-viewers", type=int, default=1100, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.server:
        try:
            from rfb.event_loop import loop_factory
        except ImportError:  # --server-rfb: a tree from before the event_loop option
            loop = asyncio.new_event_loop
        else:
            loop = loop_factory(args.loop)
        with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loop) as runner:
            runner.run(serve_and_publish(args.port, args.transport, args.max_viewers))
    elif args.client is not None:
        asyncio.run(run_client(args.port, args.client, args.transport))
    elif args.probe:
        asyncio.run(run_probe(args.port))
    elif args.from_json:
        rows = _rows(args.from_json) or []
        plot(rows, args.plot or "fanout.png", args.transport, _rows(args.baseline_json))
    else:
        bench(args)


if __name__ == "__main__":
    main()
