"""What mounting in a FastAPI app costs: the same stream on rfb's own aiohttp port, then
mounted at /rfb in a FastAPI app under uvicorn (rfb.asgi), watched by the same viewers.

    python benchmarks/bench_mounted.py [--seconds 12] [--viewers 1,4] [--size 1280x720]

The server runs in its own process (publishing the realistic ``scene`` pattern at 30 fps
from a thread, H.264); viewers are Python WebSocket clients in this process that ack
each frame on arrival (no decode). Prints per configuration the frames per second each
viewer got, publish -> arrival latency p50 / p95 (one host, one clock), the server's CPU
seconds per second and the machine's busy fraction (2 cores: the clients share them).
Loopback only; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_core import free_port  # noqa: E402

import rfb  # noqa: E402
from rfb import client, patterns, protocol  # noqa: E402
from rfb.bench import MachineLoad, cpu_seconds  # noqa: E402

CAPS = [protocol.CAP_H264]


def serve(mode: str, port: int, w: int, h: int) -> None:
    """The server process: one stream, ``scene`` at 30 fps, on rfb's port or in FastAPI."""
    render = patterns.make("scene", w, h)

    def publish(display: rfb.Display) -> None:
        i = 0
        while not display.closed:
            t = time.monotonic()
            display.publish(render(i), copy=False)
            i += 1
            time.sleep(max(0.0, 1 / 30 - (time.monotonic() - t)))

    if mode == "aiohttp":
        display = rfb.serve_in_thread(w, h, port=port, fps=30)
        publish(display)
        return
    import contextlib

    import uvicorn
    from fastapi import FastAPI

    server = rfb.Server()
    display = server.add_stream("default", w, h, fps=30)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        async with server.lifespan(app):
            threading.Thread(target=publish, args=(display,), daemon=True).start()
            yield

    app = FastAPI(lifespan=lifespan)
    app.mount("/rfb", server.asgi(prefix="/rfb"))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")


async def viewer(url: str, origin_s: float, seconds: float, out: dict[str, object]) -> None:
    arrivals: list[float] = []
    latency: list[float] = []
    async with client.connect(url, CAPS) as v:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            f = await v.next_frame(timeout=10)
            arrivals.append(f.received_at)
            latency.append(1000 * (f.received_at - origin_s - f.header["timestamp_us"] / 1e6))
    half = len(arrivals) // 2
    out["fps"] = (len(arrivals) - half - 1) / (arrivals[-1] - arrivals[half])
    q = statistics.quantiles(latency[half:], n=20)
    out["p50"], out["p95"] = statistics.median(latency[half:]), q[18]


async def measure(mode: str, n: int, args: argparse.Namespace) -> None:
    port = free_port()
    w, h = args.size
    proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--port", str(port),
                             "--size", f"{w}x{h}"])  # fmt: skip
    root = f"127.0.0.1:{port}" + ("/rfb" if mode == "asgi" else "")
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        import aiohttp

        async with aiohttp.ClientSession() as http:
            for _ in range(50):
                async with http.get(f"http://{root}/metrics") as r:
                    if r.status == 200:
                        origin = (await r.json())["display"]["monotonic_origin_s"]
                        break
                await asyncio.sleep(0.1)
        results: list[dict[str, object]] = [{} for _ in range(n)]
        url = f"ws://{root}/"
        tasks = [asyncio.create_task(viewer(url, origin, args.seconds, r)) for r in results]
        await asyncio.sleep(args.seconds / 2)
        machine = MachineLoad()
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        await asyncio.gather(*tasks)
        cpu = (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
        fps = [r["fps"] for r in results]
        p50 = statistics.median(r["p50"] for r in results)  # type: ignore[misc]
        p95 = max(r["p95"] for r in results)  # type: ignore[type-var]
        label = "rfb's own port (aiohttp)" if mode == "aiohttp" else "FastAPI + uvicorn (/rfb)"
        print(f"{label:26} {n} viewer(s): {min(fps):5.1f}-{max(fps):5.1f} fps  "  # type: ignore[type-var]
              f"latency p50 {p50:5.1f} ms  p95 {p95:5.1f} ms  server CPU {cpu:.2f} s/s  "
              f"machine busy {machine.busy():.2f}", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)


def size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=12)
    ap.add_argument("--viewers", default="1,4")
    ap.add_argument("--size", type=size, default=(1280, 720))
    ap.add_argument("--serve", choices=["aiohttp", "asgi"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port, *args.size)
        return
    print(f"scene {args.size[0]}x{args.size[1]} at 30 fps, H.264, {args.seconds:g} s per row "
          "(the second half measured)")  # fmt: skip
    for n in (int(v) for v in args.viewers.split(",")):
        for mode in ("aiohttp", "asgi"):
            asyncio.run(measure(mode, n, args))


if __name__ == "__main__":
    main()
