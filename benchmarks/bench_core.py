"""Core figures on this machine: encode cost, latency, CPU per viewer, sustained fps.

    python benchmarks/bench_core.py            # everything, ~1.5 minutes
    python benchmarks/bench_core.py encode latency
    python benchmarks/bench_core.py --pattern bouncing_box   # the trivial pattern
    python benchmarks/bench_core.py --pattern dashboard      # plots, text, mostly static
    python benchmarks/bench_core.py sustained --size 1920x1080 --sustained-fps 60   # 1080p60

Prints figures; asserts nothing. The server runs in a subprocess (``python -m
rfb.server``) so its CPU time is its own; the viewers run here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import numpy as np

from rfb import client, encoders, patterns, protocol
from rfb.bench import MachineLoad, cpu_seconds, nearest_rank
from rfb.encoders.base import DEFAULT_PRESET, X264_PRESETS, EncoderSettings

W, H = 1280, 720
PATTERN = "scene"  # --pattern; the encode section adds dashboard and the trivial bouncing_box
PRESET = DEFAULT_PRESET  # --preset: x264's
H264 = [protocol.CAP_H264, protocol.CAP_JPEG]
JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def publish_timecoded(display: Any, frames: Sequence[np.ndarray], fps: float,
                            published: list[int]) -> None:  # fmt: skip
    """Publish ``frames`` in a loop at ``fps`` until cancelled, counting in ``published[0]``.
    The timecode is written in place: a ring buffer is published again only ``len(frames)``
    frames later, so a server that borrows the buffer is never written under. A loop that
    falls more than 0.5 s behind carries on at the rate rather than bursting."""
    loop = asyncio.get_running_loop()
    t0, i = loop.time(), 0
    while True:
        img = frames[i % len(frames)]
        patterns.stamp_timecode(img, int(time.time() * 1000))
        display.publish(img)
        published[0] += 1
        i += 1
        delay = t0 + i / fps - loop.time()
        if delay < -0.5:
            t0, delay = loop.time() - i / fps, 0.0
        await asyncio.sleep(max(0.0, delay))


@contextlib.asynccontextmanager
async def server(fps: float, *extra: str) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rfb.server", "--pattern", PATTERN, "--preset", PRESET, "--port", str(port),
         "--width", str(W), "--height", str(H), "--fps", str(fps), *extra],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url + "health") as r:
                        if r.status == 200:
                            break
                await asyncio.sleep(0.05)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(10)


async def server_metrics(url: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(url + "metrics") as r:
        return await r.json()


def pattern_label(pattern: str) -> str:
    return f"{pattern} (trivial pattern)" if pattern in patterns.TRIVIAL_PATTERNS else pattern


def bench_encode(frames: int = 150) -> None:
    for pattern in dict.fromkeys((PATTERN, "dashboard", "bouncing_box")):
        encode_rows(pattern, frames)


def encode_rows(pattern: str, frames: int) -> None:
    print(
        f"\n== encode, {W}x{H} {pattern_label(pattern)}, {frames} frames (median ms, mean bytes/frame)"
    )
    render = patterns.make(pattern, W, H)
    imgs = [render(i) for i in range(frames)]
    for cap, label in ((protocol.CAP_JPEG, "JPEG q80"), (protocol.CAP_PNG, "PNG"),
                       (protocol.CAP_WEBP, "WebP q80"), (protocol.CAP_H264, "H.264 x264")):  # fmt: skip
        enc = encoders.create(cap, W, H, EncoderSettings(fps=30, preset=PRESET))
        ms, sizes = [], []
        for i, img in enumerate(imgs):
            t = time.perf_counter()
            pic = enc.encode(img, i % 30 == 0, i * 33333)
            ms.append((time.perf_counter() - t) * 1000)
            sizes.append(len(pic.data))
        enc.close()
        print(
            f"{label:12s} encode {statistics.median(ms):6.2f} ms   {statistics.mean(sizes):9.0f} B/frame"
        )


def decode_ms(cap: str, frames: int = 60) -> float:
    """Median time this process takes to decode one frame of the stream."""
    render = patterns.make(PATTERN, W, H)
    enc = encoders.create(cap, W, H, EncoderSettings(fps=30, preset=PRESET))
    pics = [enc.encode(render(i), i == 0, i * 33333) for i in range(frames)]
    enc.close()
    viewer = client.Viewer(ws=None)  # type: ignore[arg-type]
    ms = []
    for i, p in enumerate(pics):
        header = {"type": "video_chunk" if cap == protocol.CAP_H264 else "image_frame", "seq": i}
        t = time.perf_counter()
        viewer.decode(client.ReceivedFrame(header, p.data, 0.0))
        ms.append((time.perf_counter() - t) * 1000)
    return statistics.median(ms[5:])


async def bench_latency(seconds: float) -> None:
    print(
        f"\n== publish -> decoded latency, loopback Python viewer decoding every frame ({seconds:.0f} s)"
    )
    for caps, label in ((JPEG, "JPEG"), (H264, "H.264")):
        async with server(30) as (url, _):
            origin = (await server_metrics(url))["display"]["monotonic_origin_s"]
            lat = []
            async with client.connect(url.replace("http", "ws"), caps) as v:
                await v.next_frame(decode=True)
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    f = await v.next_frame(decode=True)
                    lat.append(
                        (time.monotonic() - (origin + f.header["timestamp_us"] / 1e6)) * 1000
                    )
                m = await server_metrics(url)
        enc = m["groups"][0]["encode_ms"] if m["groups"] else float("nan")
        dec = decode_ms(caps[0])
        p50 = nearest_rank(lat, 50)
        print(f"{label:6s} p50 {p50:6.2f} ms  p95 {nearest_rank(lat, 95):6.2f} ms  (n={len(lat)})   "
              f"encode {enc:.2f} + decode {dec:.2f} = {enc + dec:.2f} ms   "
              f"p50 - (encode+decode) = {p50 - enc - dec:+.2f} ms")  # fmt: skip


async def _watch(
    url: str, caps: list[str], stop: asyncio.Event, decode: bool, out: list[int]
) -> None:
    async with client.connect(url.replace("http", "ws"), caps) as v:
        n = 0
        while not stop.is_set():
            await v.next_frame(decode=decode)
            n += 1
            out[0] = n


async def bench_cpu(seconds: float) -> None:
    print(f"\n== server CPU, H.264 at 30 fps, viewers ack without decoding ({seconds:.0f} s each)")
    results = {}
    for n in (1, 8):
        async with server(30) as (url, proc):
            stop = asyncio.Event()
            counters = [[0] for _ in range(n)]
            tasks = [asyncio.create_task(_watch(url, H264, stop, False, c)) for c in counters]
            await asyncio.sleep(2)  # warm up: joins, first IDR
            c0, t0 = cpu_seconds(proc.pid), time.monotonic()
            f0 = [c[0] for c in counters]
            await asyncio.sleep(seconds)
            c1, t1 = cpu_seconds(proc.pid), time.monotonic()
            fps = [(c[0] - f) / (t1 - t0) for c, f in zip(counters, f0, strict=True)]
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        results[n] = (c1 - c0) / (t1 - t0)
        print(f"{n} viewer(s): {results[n]:.3f} CPU s/s   received fps per viewer: "
              f"min {min(fps):.1f} mean {statistics.mean(fps):.1f}")  # fmt: skip
    print(f"8 viewers / 1 viewer CPU ratio: {results[8] / results[1]:.2f}x")


async def bench_sustained(seconds: float, fps: float) -> None:
    print(f"\n== sustained rate, {W}x{H} published at {fps:g} fps to one viewer ({seconds:.0f} s);"
          " server: publish loop + conversion + encode; this process: the viewer")  # fmt: skip
    for caps, label, decode in ((H264, "H.264", True), (H264, "H.264", False),
                                (JPEG, "JPEG", True)):  # fmt: skip
        async with server(fps) as (url, proc):
            stop = asyncio.Event()
            counter = [0]
            task = asyncio.create_task(_watch(url, caps, stop, decode, counter))
            await asyncio.sleep(2)
            m0 = await server_metrics(url)
            f0, t0, c0 = counter[0], time.monotonic(), cpu_seconds(proc.pid)
            v0, machine = time.process_time(), MachineLoad()
            await asyncio.sleep(seconds)
            m1 = await server_metrics(url)
            t1 = time.monotonic()
            shown = (counter[0] - f0) / (t1 - t0)
            server_cpu = (cpu_seconds(proc.pid) - c0) / (t1 - t0)
            viewer_cpu = (time.process_time() - v0) / (t1 - t0)
            busy = machine.busy()
            stop.set()
            await asyncio.gather(task, return_exceptions=True)
        published = (m1["display"]["frames_published"] - m0["display"]["frames_published"]) / (
            t1 - t0
        )
        group = m1["groups"][0] if m1["groups"] else {}
        encoded = group.get("frames_encoded", 0) - (
            m0["groups"][0].get("frames_encoded", 0) if m0["groups"] else 0
        )
        what = "decoding" if decode else "acking only"
        print(f"{label:6s} viewer {what:12s} received {shown:5.1f} fps   published {published:5.1f} fps  "
              f"encoded {encoded / (t1 - t0):5.1f} fps  encode (conversion+encode) p50 "
              f"{group.get('encode_ms', float('nan')):5.2f} ms   server {server_cpu:.2f} CPU s/s  "
              f"viewer {viewer_cpu:.2f} CPU s/s  machine busy {100 * busy:.0f}%")  # fmt: skip


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("sections", nargs="*", default=["encode", "latency", "cpu", "sustained"])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--pattern", default="scene", choices=patterns.PATTERNS)
    ap.add_argument("--preset", default=DEFAULT_PRESET, choices=X264_PRESETS, help="x264's")
    ap.add_argument("--size", default="1280x720", help="WxH of the published frames")
    ap.add_argument("--sustained-fps", type=float, default=60.0, help="publish rate, sustained")
    args = ap.parse_args()
    global PATTERN, PRESET, W, H
    PATTERN, PRESET = args.pattern, args.preset
    W, H = (int(x) for x in args.size.lower().split("x"))
    print(f"rfb core benchmark on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"{W}x{H} {pattern_label(PATTERN)}, x264 {PRESET}")  # fmt: skip
    if "encode" in args.sections:
        bench_encode()
    if "latency" in args.sections:
        await bench_latency(args.seconds)
    if "cpu" in args.sections:
        await bench_cpu(args.seconds)
    if "sustained" in args.sections:
        await bench_sustained(args.seconds, args.sustained_fps)


if __name__ == "__main__":
    asyncio.run(main())
