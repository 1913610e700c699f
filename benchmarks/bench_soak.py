"""Soak: a server streaming 720p30 for a long time while viewers come and go.

    python benchmarks/bench_soak.py                      # 10 minutes, the figures in docs/
    python benchmarks/bench_soak.py --minutes 2 --png soak.png --json soak.json

The server runs in its own process (``python -m rfb.server --pattern scene``, WebRTC and
WebSocket). Two WebSocket viewers watch throughout; every few seconds another viewer joins
(a WebSocket viewer, or a WHEP player that leaves with DELETE or, now and then, by just
vanishing) and leaves after a few seconds. Every 10 s the server's /metrics (Prometheus
format) is sampled: resident memory, open file descriptors, event-loop tasks, threads,
WebRTC sessions, viewers, encoder groups. Prints the samples and the growth from the
first sample after warm-up to the last; ``--png`` plots them (matplotlib). Asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))
from bench_core import H264, server

from rfb import client
from rfb.bench import cpu_seconds

SERIES = {
    "rss_mb": ("process_resident_memory_bytes", 1 / 2**20),
    "fds": ("process_open_fds", 1),
    "tasks": ("rfb_asyncio_tasks", 1),
    "threads": ("rfb_threads", 1),
    "webrtc_sessions": ("rfb_webrtc_sessions", 1),
    "groups": ("rfb_encoder_groups", 1),
}
WEBRTC = ("--transport", "webrtc", "--ice-host-addresses", "127.0.0.1",
          "--ice-allowed-networks", "127.0.0.0/8")  # fmt: skip


async def scrape(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    async with http.get(url + "metrics?format=prometheus") as r:
        text = await r.text()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name + "".join(f"{{{k}={v}}}" for k, v in sorted(s.labels.items()))
            values[key] = s.value
    return values


async def watcher(url: str, stop: asyncio.Event, counts: list[int]) -> None:
    async with client.connect(url.replace("http", "ws"), H264) as v:
        while not stop.is_set():
            await v.next_frame(timeout=20)
            counts[0] += 1


async def ws_visit(url: str, seconds: float) -> None:
    async with client.connect(url.replace("http", "ws"), H264) as v:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await v.next_frame(timeout=20)


async def whep_visit(url: str, seconds: float, vanish: bool) -> None:
    import aiortc

    pc = aiortc.RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.createDataChannel("rfb")
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "whep", data=pc.localDescription.sdp,
                             headers={"Content-Type": "application/sdp"}) as r:  # fmt: skip
            answer, resource = await r.text(), r.headers.get("Location", "")
        await pc.setRemoteDescription(aiortc.RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.sleep(seconds)
        if not vanish:
            await http.delete(url.rstrip("/") + resource)
    await pc.close()


async def visitors(
    url: str, stop: asyncio.Event, rng: random.Random, tally: dict[str, int]
) -> None:
    running: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        stay = rng.uniform(2, 8)
        r = rng.random()
        if r < 0.6:
            coro, kind = ws_visit(url, stay), "websocket"
        elif r < 0.95:
            coro, kind = whep_visit(url, stay, vanish=False), "whep"
        else:
            coro, kind = whep_visit(url, stay, vanish=True), "whep_vanished"
        tally[kind] += 1
        task = asyncio.create_task(coro)
        running.add(task)
        task.add_done_callback(running.discard)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(1, 4))
    await asyncio.gather(*running, return_exceptions=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=30.0, help="seconds before the baseline")
    ap.add_argument("--png", default=None, help="plot the samples here (matplotlib)")
    ap.add_argument("--json", default=None, help="write the samples here")
    args = ap.parse_args()
    rng = random.Random(7)
    samples: list[dict[str, float]] = []
    tally = {"websocket": 0, "whep": 0, "whep_vanished": 0}
    async with server(30, *WEBRTC) as (url, proc), aiohttp.ClientSession() as http:
        stop, leave = asyncio.Event(), asyncio.Event()
        frames = [[0], [0]]
        tasks = [asyncio.create_task(watcher(url, stop, c)) for c in frames]
        await asyncio.sleep(5)  # the two watchers are in, nobody else
        idle_start = await scrape(http, url)
        visiting = asyncio.create_task(visitors(url, leave, rng, tally))
        t0, c0 = time.monotonic(), cpu_seconds(proc.pid)
        print(f"soak: 1280x720 scene at 30 fps for {args.minutes:g} min, sampling every "
              f"{args.every:g} s (server pid {proc.pid})")  # fmt: skip
        print(
            f"{'t_s':>6} {'rss_mb':>7} {'fds':>4} {'tasks':>5} {'threads':>7} "
            f"{'webrtc':>6} {'viewers':>7} {'groups':>6} {'cpu':>5} {'watch_fps':>9}"
        )
        last_frames, last_t, last_cpu = frames[0][0], t0, c0
        while time.monotonic() - t0 < args.minutes * 60:
            await asyncio.sleep(args.every)
            m = await scrape(http, url)
            now, cpu = time.monotonic(), cpu_seconds(proc.pid)
            row = {name: m[key] * scale for name, (key, scale) in SERIES.items()}
            row["viewers"] = sum(v for k, v in m.items() if k.startswith("rfb_viewers{"))
            row["t_s"] = now - t0
            row["cpu"] = (cpu - last_cpu) / (now - last_t)
            row["watch_fps"] = (frames[0][0] - last_frames) / (now - last_t)
            last_frames, last_t, last_cpu = frames[0][0], now, cpu
            samples.append(row)
            print(f"{row['t_s']:6.0f} {row['rss_mb']:7.1f} {row['fds']:4.0f} {row['tasks']:5.0f} "
                  f"{row['threads']:7.0f} {row['webrtc_sessions']:6.0f} {row['viewers']:7.0f} "
                  f"{row['groups']:6.0f} {row['cpu']:5.2f} {row['watch_fps']:9.1f}",
                  flush=True)  # fmt: skip
        leave.set()
        await visiting
        waited = time.monotonic()
        while time.monotonic() - waited < 60:  # players that vanished time out in ~30 s
            idle_end = await scrape(http, url)
            settled = all(idle_end[SERIES[k][0]] <= idle_start[SERIES[k][0]]
                          for k in ("tasks", "fds", "webrtc_sessions"))  # fmt: skip
            if settled or (idle_end["rfb_webrtc_sessions"] == 0 and time.monotonic() - waited > 20):
                break
            await asyncio.sleep(1)
        waited = time.monotonic() - waited
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    base = next((s for s in samples if s["t_s"] >= args.warmup), samples[0])
    end = samples[-1]
    print(f"\nvisitors: {tally}")
    print(f"from t={base['t_s']:.0f} s to t={end['t_s']:.0f} s:")
    for name in ("rss_mb", "fds", "tasks", "threads"):
        print(f"  {name:8s} {base[name]:8.1f} -> {end[name]:8.1f}  ({end[name] - base[name]:+.1f})")
    print(
        f"with only the two watchers, before the visitors and {waited:.0f} s after the last left:"
    )
    for name, (key, scale) in SERIES.items():
        a, b = idle_start[key] * scale, idle_end[key] * scale
        print(f"  {name:16s} {a:8.1f} -> {b:8.1f}  ({b - a:+.1f})")
    print(f"server CPU: mean {sum(s['cpu'] for s in samples) / len(samples):.2f} s/s of 2 cores")
    if args.json:
        idle = {"start": idle_start, "end": idle_end}
        Path(args.json).write_text(
            json.dumps({"samples": samples, "visitors": tally, "idle": idle}, indent=1)
        )
    if args.png:
        plot(samples, args.png)


def plot(samples: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t_s"] / 60 for s in samples]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    for ax, names, label in (
        (axes[0][0], ["rss_mb"], "resident memory (MiB)"),
        (axes[0][1], ["fds"], "open file descriptors"),
        (axes[1][0], ["tasks", "threads"], "event-loop tasks, threads"),
        (axes[1][1], ["webrtc_sessions", "viewers"], "WebRTC sessions, viewers"),
    ):
        for name in names:
            ax.plot(t, [s[name] for s in samples], label=name)
        ax.set_title(label)
        ax.set_ylim(bottom=0)
        if len(names) > 1:
            ax.legend()
    for ax in axes[1]:
        ax.set_xlabel("minutes")
    fig.suptitle("rfb soak: 1280x720 scene at 30 fps, viewers joining and leaving")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


if __name__ == "__main__":
    asyncio.run(main())
