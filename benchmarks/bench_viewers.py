"""Encode cost grows with the rungs in use, not the viewers: server CPU with one
unconstrained viewer, then with 8 (4 each behind its own 1 Mbit/s bottleneck, 4
unconstrained).

    python benchmarks/bench_viewers.py [--seconds 15] [--pattern scene] [--size 1280x720]

The server (``python -m rfb.server``) runs in its own process; its CPU seconds per
second come from /proc. Viewers are Python WebSocket clients in this process that ack
each frame with its arrival time (no decode), the constrained ones through a loopback
proxy that passes 1 Mbit/s (tests/support/throttle_proxy.py). Prints per viewer the frames per
second, its rung (0 = top) over the last half of the run, and the CPU ratio; the
machine's busy fraction is printed too (2 cores: the clients share them). Loopback only;
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_core import free_port  # noqa: E402

from rfb import client, protocol  # noqa: E402
from rfb.bench import MachineLoad, cpu_seconds  # noqa: E402

from support.throttle_proxy import ThrottleProxy  # noqa: E402  (tests/support/)

CAPS = [protocol.CAP_H264, protocol.CAP_JPEG]


async def viewer(url: str, seconds: float, out: dict[str, object]) -> None:
    frames: list[float] = []
    async with client.connect(url, CAPS, scaled_frames=True) as v:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            f = await v.next_frame(timeout=10)
            frames.append(f.received_at)
        rungs = [s.get("rung") for s in v.stats[len(v.stats) // 2 :] if "rung" in s]
    half = [t for t in frames if t >= frames[0] + seconds / 2]
    out["fps"] = (len(half) - 1) / (half[-1] - half[0]) if len(half) > 1 else 0.0
    out["rungs"] = sorted(set(rungs))  # type: ignore[type-var]


async def run(args: argparse.Namespace, constrained: int, free: int) -> None:
    port = free_port()
    w, h = args.size
    proc = subprocess.Popen([sys.executable, "-m", "rfb.server", "--port", str(port),
                             "--pattern", args.pattern, "--width", str(w), "--height", str(h)],
                            stdout=subprocess.DEVNULL)  # fmt: skip
    proxies: list[ThrottleProxy] = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        urls = []
        for _ in range(constrained):
            proxy = ThrottleProxy(("127.0.0.1", port), 1e6)
            await proxy.start()
            proxies.append(proxy)
            urls.append((f"1 Mbit/s #{len(proxies)}", f"ws://127.0.0.1:{proxy.port}/"))
        urls += [(f"free #{i + 1}", f"ws://127.0.0.1:{port}/") for i in range(free)]
        results: list[dict[str, object]] = [{} for _ in urls]
        tasks = [asyncio.create_task(viewer(u, args.seconds, r))
                 for (_, u), r in zip(urls, results, strict=True)]  # fmt: skip
        await asyncio.sleep(args.seconds / 2)  # the second half is measured
        machine = MachineLoad()
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        await asyncio.gather(*tasks)
        c1, t1 = cpu_seconds(proc.pid), time.monotonic()
        cpu = (c1 - c0) / (t1 - t0)
        busy = machine.busy()
        print(f"{constrained} behind 1 Mbit/s + {free} unconstrained: server CPU {cpu:.2f} s/s, "
              f"machine busy {busy:.2f}")  # fmt: skip
        for (name, _), r in zip(urls, results, strict=True):
            print(f"    {name:14} {r['fps']:5.1f} fps  rungs {r['rungs']}")
        args.cpu.append(cpu)
    finally:
        for proxy in proxies:
            await proxy.aclose()
        proc.terminate()
        proc.wait(10)


def size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=16)
    ap.add_argument("--pattern", default="scene")
    ap.add_argument("--size", type=size, default=(1280, 720))
    args = ap.parse_args()
    args.cpu = []
    w, h = args.size
    print(f"rfb viewers benchmark: {w}x{h} {args.pattern} at 30 fps, H.264, "
          f"{args.seconds:g} s per run (second half measured)")  # fmt: skip
    await run(args, 0, 1)
    await run(args, 4, 4)
    one, eight = args.cpu
    print(f"server CPU, 8 viewers / 1 viewer: {eight / one:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
