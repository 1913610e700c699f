"""rfb against pdum.rfb 0.3.0 in the same run on the same machine: publish -> decoded
latency and server CPU with H.264 viewers that decode every frame.

    python benchmarks/bench_vs_pdum.py [--seconds 10] [--viewers 1,8] [--size 1280x720]
        [--fps 30] [--runs 1] [--only rfb|pdum] [--bitrate BPS] [--preset ultrafast]
        [--deflate]

Each server runs in a process of its own (this script with a hidden ``--child``), so its
CPU time is its own: it pre-renders 256 frames of the realistic ``scene`` pattern (one
period of its scrolling texture, so the loop has no cut; rendering is not counted) and
publishes them in a loop at ``--fps``, H.264 at the same explicit bitrate for both
(rfb's automatic one, ``auto_bitrate``: about 0.1 bit per pixel per frame), each
library's defaults otherwise (rfb: x264 ``ultrafast``, or ``--preset``, adaptive ladder;
pdum.rfb: its fixed x264 ``ultrafast``; each picks NVENC by itself where it finds one, and the row says
which encoder ran). Right before each publish the publisher stamps the wall clock into
the frame with ``rfb.patterns.stamp_timecode`` (32 black or white 16x16 blocks along the
top edge, ms mod 2**32; in place on the ring buffer, which is published again only 256
frames later, so pdum.rfb's borrowed buffers are never written while in use).

The viewers are ``rfb.client`` WebSocket viewers in this process, all in one asyncio
loop (the protocol is pdum.rfb 0.x's, so the same viewer watches both): each asks for
H.264, decodes every frame with PyAV to RGB, reads the timecode back (the centre pixel
of each block against 128), takes ``time.time()`` and then acks the frame. ``--deflate``:
their sockets offer permessage-deflate, as browsers' do (a server that takes it then
deflates every frame; the row says what was negotiated). Publisher and
viewers share the machine's clock, so the difference is publish -> decoded latency
(1 ms resolution; readings below 0 or above 5 s are rejected and counted).

After a 2 s warm-up with every viewer receiving, a ``--seconds`` window is measured; per
server and viewer count it prints frames decoded per second (mean over viewers, then the
slowest and the fastest viewer's), latency p50 / p95 over all viewers' frames, the
server's CPU seconds per second (utime + stime of its process from /proc), the viewer
process's CPU s/s, mean bytes per frame received, frames published per second and the
machine's busy fraction (/proc/stat); then the rfb / pdum.rfb ratios of p50 and server
CPU (medians over ``--runs``), and each server's CPU with the most viewers over the
fewest. The servers are interleaved (rfb, pdum, rfb, pdum ...) so drift hits both.
With many viewers the rows measure the viewer process as much as the server: 8 x 720p
decodes at 30 fps run one after another on this process's one thread, acks wait behind
them, so viewers fall below the publish rate and an adaptive server reacts to the slow
acks (read the decoded fps, the viewers' CPU and the busy fraction before trusting
those rows). Loopback (127.0.0.1) only; asserts nothing.

pdum.rfb comes from its wheel in .cache/pdum/ (``bash scripts/test`` downloads it; this
script runs ``pip download`` itself if it is missing), unzipped into .cache/pdum/site/
and put on PYTHONPATH of its server process only; nothing is installed. It declares
Python >= 3.12 but imports and runs on 3.11. If it cannot run, the script says why and
prints rfb's rows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_core import free_port, publish_timecoded  # noqa: E402

from rfb import patterns  # noqa: E402
from rfb.bench import MachineLoad, cpu_seconds, nearest_rank  # noqa: E402
from rfb.encoders.base import DEFAULT_PRESET, X264_PRESETS, auto_bitrate  # noqa: E402

PDUM_CACHE = ROOT / ".cache" / "pdum"
PDUM_SITE = PDUM_CACHE / "site"
PDUM_REQUIREMENT = "habemus-papadum-rfb==0.3.0"
PDUM_WHEEL_GLOB = "habemus_papadum_rfb-0.3.0-*.whl"
RING = 256  # pre-rendered frames: the scene's texture scrolls 4 px/frame over 1024 px
WARMUP_S = 2.0
MAX_LATENCY_MS = 5000.0
SERVERS = ("rfb", "pdum")


# ---------------------------------------------------------------------------------------
# pdum.rfb from its wheel


def prepare_pdum() -> tuple[Path | None, str]:
    """(directory to put on PYTHONPATH, notes) or (None, why pdum.rfb cannot run)."""
    wheels = sorted(PDUM_CACHE.glob(PDUM_WHEEL_GLOB))
    if not wheels:
        PDUM_CACHE.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--python-version", "3.12", "-d", str(PDUM_CACHE),
               PDUM_REQUIREMENT]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(PDUM_CACHE.glob(PDUM_WHEEL_GLOB))
        if not wheels:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return None, f"no wheel in {PDUM_CACHE} and `pip download` failed: {tail[0]}"
    wheel = wheels[0]
    marker = PDUM_SITE / f".unzipped-{wheel.name}"
    if not marker.exists():
        shutil.rmtree(PDUM_SITE, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix="site-", dir=PDUM_CACHE))
        try:
            with zipfile.ZipFile(wheel) as z:
                z.extractall(staging)
            (staging / marker.name).touch()
            staging.rename(PDUM_SITE)
        except (OSError, zipfile.BadZipFile) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            return None, f"cannot unzip {wheel}: {exc}"
    probe = ("import pdum.rfb, pdum.rfb.server; from pdum.rfb.encoders import h264_cpu; "
             "assert h264_cpu.h264_cpu_available(), 'no libx264 in PyAV'; "
             "print(pdum.rfb.__version__)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], env=child_env(PDUM_SITE),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        return None, f"pdum.rfb does not import here: {lines[-1]}"
    return PDUM_SITE, f"pdum.rfb {done.stdout.strip()} from {wheel.name}; " + declared_vs_found(
        PDUM_SITE
    )


def declared_vs_found(site: Path) -> str:
    """What the wheel asks for against what this interpreter has (it runs regardless)."""
    meta = next(site.glob("*.dist-info/METADATA"), None)
    if meta is None:
        return "no METADATA"
    text = meta.read_text()
    needs = re.findall(r"^Requires-Python: (.+)$", text, re.M)
    parts = [f"declares Python {needs[0].strip()}" if needs else "declares no Python",
             f"runs on {sys.version.split()[0]}"]  # fmt: skip
    for line in re.findall(r"^Requires-Dist: ([^;\n]+)$", text, re.M):
        name = re.split(r"[<>=!~ ]", line.strip(), maxsplit=1)[0]
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "missing"
        parts.append(f"{line.strip()} (have {have})")
    return ", ".join(parts)


def child_env(pdum_site: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    paths = ([str(pdum_site)] if pdum_site else []) + [str(ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


# ---------------------------------------------------------------------------------------
# The server process


def child(kind: str, port: int, w: int, h: int, fps: float, bitrate: int, preset: str) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_and_publish(kind, port, w, h, fps, bitrate, preset))


async def serve_and_publish(
    kind: str, port: int, w: int, h: int, fps: float, bitrate: int, preset: str
) -> None:
    render = patterns.make("scene", w, h)
    frames = [render(i) for i in range(RING)]
    display: Any
    if kind == "rfb":
        import rfb
        from rfb.encoders import nvenc

        display = await rfb.serve(w, h, host="127.0.0.1", port=port, fps=fps, bitrate=bitrate,
                                  preset=preset)  # fmt: skip
        encoder = "libx264" if nvenc.nvenc_unavailable_reason() else "nvenc"
    else:
        from pdum.rfb import server as pdum_server

        display = await pdum_server.serve(w, h, host="127.0.0.1", port=port, fps=round(fps),
                                          bitrate=bitrate)  # fmt: skip
        encoder = "nvenc" if pdum_server._nvenc_usable() else "libx264"
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    loop.add_signal_handler(signal.SIGTERM, main.cancel)
    published = [0]
    threading.Thread(target=answer_parent, args=(loop, main, published), daemon=True).start()
    print(f"ready {encoder}", flush=True)
    try:
        await publish_timecoded(display, frames, fps, published)
    except asyncio.CancelledError:
        pass
    finally:
        await display.aclose()


def answer_parent(
    loop: asyncio.AbstractEventLoop, main: asyncio.Task[Any], published: list[int]
) -> None:
    """``count`` on stdin: print frames published so far; end of stdin: stop serving."""
    for line in sys.stdin:
        if line.strip() == "count":
            print(f"count {published[0]} {time.monotonic():.6f}", flush=True)
    loop.call_soon_threadsafe(main.cancel)


# ---------------------------------------------------------------------------------------
# The viewers (this process)


@dataclass
class Window:
    measuring: bool = False
    latencies: list[float] = field(default_factory=list)
    rejected: int = 0


@dataclass
class ViewerStats:
    first_frame: asyncio.Event = field(default_factory=asyncio.Event)
    decoded: int = 0
    bytes: int = 0
    frames: int = 0
    compress: int = 0  # the permessage-deflate window bits the socket got (0: none)


_BLOCK = patterns.TIMECODE_BLOCK
_CENTRES = np.arange(patterns.TIMECODE_BITS) * _BLOCK + _BLOCK // 2


def read_timecode(rgb: np.ndarray) -> int:
    """The ms value stamp_timecode wrote: the centre pixel of each block against 128."""
    bits = rgb[_BLOCK // 2, _CENTRES].mean(axis=1) >= 128
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def latency_ms(code: int, now_s: float) -> float:
    d = (now_s * 1000) % 2**32 - code
    if d < -(2**31):
        d += 2**32
    return d


@contextlib.asynccontextmanager
async def viewer(url: str, deflate: bool) -> AsyncIterator[Any]:
    """An ``rfb.client`` viewer of H.264; ``deflate``: its socket offers permessage-deflate,
    as browsers' do (rfb.client's own never does)."""
    import aiohttp

    from rfb import client, protocol

    caps = [protocol.CAP_H264, protocol.CAP_JPEG]
    if not deflate:
        async with client.connect(url, caps, auto_ack=False) as v:
            yield v
        return
    async with aiohttp.ClientSession() as http, http.ws_connect(
        url, max_msg_size=0, compress=15, autoping=True
    ) as ws:  # fmt: skip
        await ws.send_str(protocol.build_hello(caps))
        yield client.Viewer(ws, auto_ack=False)


async def watch(url: str, window: Window, stats: ViewerStats, deflate: bool = False) -> None:
    async with viewer(url, deflate) as v:
        stats.compress = v.ws.compress
        while True:
            f = await v.next_frame(decode=True, timeout=10)
            now = time.time()
            if f.header["type"] != "video_chunk":
                raise RuntimeError(f"the server sent {f.header['type']}, not H.264")
            if f.pixels is not None and window.measuring:
                ms = latency_ms(read_timecode(f.pixels), now)
                if 0 <= ms <= MAX_LATENCY_MS:
                    window.latencies.append(ms)
                else:
                    window.rejected += 1
            await v.ack(f.seq, f.received_at)
            if window.measuring:
                stats.frames += 1
                stats.bytes += len(f.payload)
                stats.decoded += f.pixels is not None
            if f.pixels is not None:
                stats.first_frame.set()


@dataclass
class Row:
    server: str
    viewers: int
    encoder: str
    fps: float  # mean over viewers
    fps_range: tuple[float, float]  # the slowest and the fastest viewer
    p50: float
    p95: float
    n: int
    rejected: int
    server_cpu: float
    viewer_cpu: float
    bytes_per_frame: float
    published_fps: float
    busy: float
    compress: int = 0  # window bits of the deflate the viewers' sockets got (0: none)

    def line(self) -> str:
        name = "rfb" if self.server == "rfb" else "pdum.rfb"
        return (f"{name:8s} {self.viewers} viewer(s) [{self.encoder}]  "
                f"decoded {self.fps:5.1f} fps ({self.fps_range[0]:.1f}-{self.fps_range[1]:.1f})  "
                f"p50 {self.p50:6.1f} ms  p95 {self.p95:6.1f} ms  "
                f"(n={self.n}, rejected {self.rejected})  server {self.server_cpu:.3f} CPU s/s  "
                f"viewers {self.viewer_cpu:.2f} CPU s/s  "
                f"{self.bytes_per_frame / 1000:5.1f} kB/frame  "
                f"published {self.published_fps:4.1f} fps  machine busy "
                f"{100 * self.busy:3.0f}%"
                f"{f'  deflate {self.compress} bits' if self.compress else ''}")  # fmt: skip


class Child:
    """One server process, stopped on exit whatever happens."""

    def __init__(
        self, kind: str, args: argparse.Namespace, pdum_site: Path | None, errors: IO[bytes]
    ) -> None:
        self.kind, self.args, self.pdum_site = kind, args, pdum_site
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.errors = errors  # the server's stderr

    async def __aenter__(self) -> Child:
        w, h = self.args.size
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--child", self.kind, "--port", str(self.port),
            "--size", f"{w}x{h}", "--fps", str(self.args.fps), "--bitrate", str(self.args.bitrate),
            "--preset", self.args.preset,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
            env=child_env(self.pdum_site if self.kind == "pdum" else None),
        )  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        text = (await asyncio.wait_for(self.proc.stdout.readline(), timeout)).decode()
        if not text:
            raise RuntimeError(f"{self.kind} server exited: {self.stderr_tail()}")
        return text.strip()

    async def published(self) -> tuple[int, float]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"count\n")
        await self.proc.stdin.drain()
        _, n, t = (await self.line(10)).split()
        return int(n), float(t)

    def stderr_tail(self, lines: int = 5) -> str:
        self.errors.seek(0)
        text = self.errors.read().decode(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(nothing on stderr)"

    async def __aexit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


async def measure(kind: str, n: int, args: argparse.Namespace, pdum_site: Path | None) -> Row:
    with tempfile.TemporaryFile() as errors:
        return await measure_with(kind, n, args, pdum_site, errors)


async def measure_with(
    kind: str, n: int, args: argparse.Namespace, pdum_site: Path | None, errors: IO[bytes]
) -> Row:
    async with Child(kind, args, pdum_site, errors) as server:
        ready = await server.line(120)
        if not ready.startswith("ready "):
            raise RuntimeError(f"{kind} server said {ready!r}")
        encoder = ready.split()[1]
        url = f"ws://127.0.0.1:{server.port}/"
        window = Window()
        stats = [ViewerStats() for _ in range(n)]
        tasks = [asyncio.create_task(watch(url, window, s, args.deflate)) for s in stats]
        try:
            deadline = time.monotonic() + 30
            while not all(s.first_frame.is_set() for s in stats):
                for t in tasks:
                    if t.done():
                        raise RuntimeError(f"a viewer of {kind} stopped: {t.exception()!r}; "
                                           f"server stderr: {server.stderr_tail()}")  # fmt: skip
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not every viewer of {kind} got a frame in 30 s")
                await asyncio.sleep(0.05)
            await asyncio.sleep(WARMUP_S)
            p0 = await server.published()
            c0, v0, machine = cpu_seconds(server.pid), time.process_time(), MachineLoad()
            t0 = time.monotonic()
            window.measuring = True
            await asyncio.sleep(args.seconds)
            window.measuring = False
            t1 = time.monotonic()
            c1, v1, busy = cpu_seconds(server.pid), time.process_time(), machine.busy()
            p1 = await server.published()
            for t in tasks:
                if t.done():
                    raise RuntimeError(f"a viewer of {kind} stopped: {t.exception()!r}")
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    wall = t1 - t0
    lat = window.latencies or [float("nan")]
    frames = sum(s.frames for s in stats)
    return Row(
        server=kind,
        viewers=n,
        encoder=encoder,
        fps=statistics.mean(s.decoded for s in stats) / wall,
        fps_range=(min(s.decoded for s in stats) / wall, max(s.decoded for s in stats) / wall),
        p50=nearest_rank(lat, 50),
        p95=nearest_rank(lat, 95),
        n=len(window.latencies),
        rejected=window.rejected,
        server_cpu=(c1 - c0) / wall,
        viewer_cpu=(v1 - v0) / wall,
        bytes_per_frame=sum(s.bytes for s in stats) / max(1, frames),
        published_fps=(p1[0] - p0[0]) / (p1[1] - p0[1]),
        busy=busy,
        compress=max(s.compress for s in stats),
    )


def summary(rows: list[Row], counts: list[int]) -> None:
    def med(server: str, n: int, attr: str) -> float | None:
        xs = [getattr(r, attr) for r in rows if r.server == server and r.viewers == n]
        return statistics.median(xs) if xs else None

    print("\n== rfb / pdum.rfb (medians over runs; the target: p50 and server CPU <= 0.8x)")
    for n in counts:
        parts = []
        for attr, label in (("p50", "p50"), ("server_cpu", "server CPU")):
            a, b = med("rfb", n, attr), med("pdum", n, attr)
            parts.append(f"{label} {a / b:.2f}x" if a is not None and b else f"{label} n/a")
        print(f"{n} viewer(s): " + "   ".join(parts))
    lo, hi = min(counts), max(counts)
    if hi != lo:
        print(f"\n== server CPU with {hi} viewers / {lo} (rfb's target: <= 1.1x)")
        for server in SERVERS:
            a, b = med(server, hi, "server_cpu"), med(server, lo, "server_cpu")
            if a is not None and b:
                print(f"{'rfb' if server == 'rfb' else 'pdum.rfb':8s} {a / b:.2f}x")


async def bench(args: argparse.Namespace) -> None:
    counts = [int(x) for x in args.viewers.split(",")]
    servers = [s for s in SERVERS if args.only in (None, s)]
    pdum_site: Path | None = None
    if "pdum" in servers:
        pdum_site, note = prepare_pdum()
        print(note if pdum_site else f"pdum.rfb is not measured: {note}")
        if pdum_site is None:
            servers.remove("pdum")
    w, h = args.size
    print(f"rfb vs pdum.rfb on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}: "
          f"{w}x{h} scene at {args.fps:g} fps, H.264 at {args.bitrate / 1e6:.2f} Mb/s for both "
          f"(rfb x264 {args.preset}), "
          f"{args.seconds:g} s measured after {WARMUP_S:g} s, {args.runs} run(s)"
          f"{', viewers offer permessage-deflate' if args.deflate else ''}",
          flush=True)  # fmt: skip
    rows: list[Row] = []
    for run in range(args.runs):
        for n in counts:
            for kind in servers:
                try:
                    row = await measure(kind, n, args, pdum_site)
                except (RuntimeError, TimeoutError, OSError) as exc:
                    print(f"{kind} {n} viewer(s), run {run + 1}: failed: {exc}", flush=True)
                    continue
                rows.append(row)
                print(row.line(), flush=True)
    if len(servers) == 2:
        summary(rows, counts)


def size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured window per row")
    ap.add_argument("--viewers", default="1,8", help="viewer counts, comma-separated")
    ap.add_argument("--size", type=size, default=(1280, 720), help="WxH of the published frames")
    ap.add_argument("--fps", type=float, default=30.0, help="publish rate")
    ap.add_argument("--runs", type=int, default=1, help="rounds of interleaved rows")
    ap.add_argument("--only", choices=SERVERS, help="measure one server only")
    ap.add_argument("--deflate", action="store_true",
                    help="the viewers offer permessage-deflate, as browsers do")  # fmt: skip
    ap.add_argument("--bitrate", type=int, default=0, help="bit/s for both (0: rfb's automatic)")
    ap.add_argument("--preset", default=DEFAULT_PRESET, choices=X264_PRESETS,
                    help="rfb's x264 preset (pdum.rfb's is always ultrafast)")  # fmt: skip
    ap.add_argument("--child", choices=SERVERS, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    w, h = args.size
    if w < patterns.TIMECODE_BITS * patterns.TIMECODE_BLOCK or h < patterns.TIMECODE_BLOCK:
        ap.error("the timecode needs frames of at least 512x16")
    if args.child:
        child(args.child, args.port, w, h, args.fps, args.bitrate, args.preset)
        return
    args.bitrate = args.bitrate or auto_bitrate(w, h, args.fps)
    try:
        asyncio.run(bench(args))
    except KeyboardInterrupt:
        print("interrupted (the server processes are stopped)", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
