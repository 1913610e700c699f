"""A static scene republished every tick: server CPU with every frame encoded again
(``changed=True``, what rfb did before unchanged frames were detected) and with detection
(the default), in one run; plus what the comparison costs per frame at 720p and 4K.

    python benchmarks/bench_static.py                 # 1280x720 scene, 30 fps, 5 s each
    python benchmarks/bench_static.py --seconds 10 --size 1920x1080

Prints figures; asserts nothing. The server runs in a subprocess (this script with
``--serve``) so its CPU time is its own; the one viewer (H.264, acking, not decoding)
runs here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import time

import numpy as np

from rfb import client, patterns, protocol
from rfb.bench import MachineLoad, cpu_seconds

H264 = [protocol.CAP_H264, protocol.CAP_JPEG]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(port: int, w: int, h: int, fps: float, mode: str, pattern: str) -> None:
    """The server side: one static frame, published at ``fps`` until killed."""
    import rfb

    changed = {"forced": True, "detect": None}[mode]
    display = await rfb.serve(w, h, port=port, fps=fps)
    img = patterns.make(pattern, w, h)(0)
    next_at = time.monotonic()
    while True:
        display.publish(img, changed=changed)  # copied each time, as a render loop's frame
        next_at += 1 / fps
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def measure(
    mode: str, w: int, h: int, fps: float, seconds: float, pattern: str = "scene"
) -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--port", str(port),
                             "--size", f"{w}x{h}", "--fps", str(fps), "--pattern", pattern])  # fmt: skip
    url = f"ws://127.0.0.1:{port}/"
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            await asyncio.sleep(0.05)
        frames = 0
        async with client.connect(url, H264) as v:
            await v.next_frame(timeout=10)

            async def take() -> None:  # reads (and so acks) every unit as it comes
                nonlocal frames
                while True:
                    await v.next_frame(timeout=3600)
                    frames += 1

            task = asyncio.create_task(take())
            await asyncio.sleep(1.0)  # past the first keyframe (and, detecting, the still)
            f0, c0, t0, machine = frames, cpu_seconds(proc.pid), time.monotonic(), MachineLoad()
            await asyncio.sleep(seconds)
            c1, t1, busy = cpu_seconds(proc.pid), time.monotonic(), machine.busy()
            frames -= f0
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return {"server_cpu_s_per_s": (c1 - c0) / (t1 - t0), "machine_busy": busy,
                "frames_received_per_s": frames / (t1 - t0)}  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(10)


def compare_cost_ms(w: int, h: int, repeat: int = 50) -> dict[str, float]:
    from rfb.frames import same_pixels

    a = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
    b = a.copy()

    def timed(fn) -> float:  # type: ignore[no-untyped-def]
        fn(a, b)
        t = time.perf_counter()
        for _ in range(repeat):
            fn(a, b)
        return 1000 * (time.perf_counter() - t) / repeat

    return {
        "memcmp (same_pixels)": timed(same_pixels),
        "np.array_equal": timed(np.array_equal),
        "bytes ==": timed(lambda x, y: x.tobytes() == y.tobytes()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--pattern", default="scene", help="scene, dashboard, ...")
    ap.add_argument("--serve", choices=("forced", "detect"), help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    w, h = (int(n) for n in args.size.split("x"))
    if args.serve:
        asyncio.run(serve(args.port, w, h, args.fps, args.serve, args.pattern))
        return
    print("comparison of two identical frames, ms per frame (mean of 50):")
    for name, (cw, ch) in {"720p": (1280, 720), "4K": (3840, 2160)}.items():
        costs = compare_cost_ms(cw, ch)
        print(f"  {name:5s}" + "".join(f"  {k}: {v:.3f}" for k, v in costs.items()))
    print(f"static {w}x{h} {args.pattern} republished at {args.fps:g} fps, one H.264 viewer, "
          f"{args.seconds:g} s each:")  # fmt: skip
    for mode, label in (("forced", "before (changed=True)"), ("detect", "after (detected)")):
        r = asyncio.run(measure(mode, w, h, args.fps, args.seconds, args.pattern))
        print(f"  {label:22s} server CPU {r['server_cpu_s_per_s']:.3f} s/s, machine busy "
              f"{r['machine_busy']:.3f}, frames to the viewer {r['frames_received_per_s']:.1f}/s")  # fmt: skip


if __name__ == "__main__":
    main()
