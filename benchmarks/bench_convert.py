"""CPU colour conversion, RGB(A) -> I420 (BT.601 limited, 2x2 box chroma): CPU ms per frame.

    python benchmarks/bench_convert.py                       # 1280x720 and 1920x1080, scene
    python benchmarks/bench_convert.py --content scene,noise --frames 300
    python benchmarks/bench_convert.py --sizes 1280x720 --channels 3 --no-cold
    python benchmarks/bench_convert.py --paced               # at 30 fps: OpenCV's spin

Rows, for each size, RGB and RGBA, and each content ("scene": rfb.patterns' realistic
scene, 8 frames of its pan; "noise": uniform random bytes):

- ``opencv``: rfb's path where cv2 imports (convert.opencv_i420, then the VideoFrame
  that wraps its planes, as convert.cpu_i420 does), with OpenCV on 1 thread and on its
  default thread count;
- ``opencv, before``: the previous opencv_i420, kept here as the baseline (chroma from a
  full-size nearest-neighbour upsample of the 2x2 average and a second full cvtColor);
- ``swscale``: convert.swscale_i420 (rfb's fallback; sliced over SWSCALE_THREADS from
  SWSCALE_THREADS_MIN_PIXELS up), and the same on one slice.

Per row: CPU ms per frame (this process, all threads: time.process_time), wall ms per
frame, and minor page faults per frame, over ``--frames`` frames after one warm-up, the
paths taking turns in ``--rounds`` rounds so drift hits them alike. "cold": the first 30
conversions in a fresh process that allocates nothing else (a child per path, one
1280x720 RGB scene frame, OpenCV on 1 thread): there glibc may hand each frame's big
arrays out as memory it has just returned to the system, and they page-fault; "opencv,
fresh temporaries" is rfb's path with its reused quarter-size temporaries made new on
every call instead. Prints the machine's busy fraction over the run (run
it under ``flock /tmp/rfb-heavy.lock`` on a shared machine). Asserts nothing.

``--paced``: instead, as a stream converts, one frame every 1/30 s (PACED_FRAMES of them,
1280x720 RGB scene, cycling DISTINCT frames), each setting in a fresh process: OpenCV's
default threads with its workers spinning between calls (OpenCV's own default), with the
spin off (what rfb sets when it loads OpenCV: convert._NO_ACTIVE_WAIT), and on one thread.
CPU ms per frame counts the spin, which a back-to-back loop never shows.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rfb import patterns
from rfb.bench import MachineLoad, parse_size
from rfb.encoders import convert
from rfb.encoders.x264 import load_av

COLD_FRAMES = 30
FRESH_SUFFIX = ", fresh temporaries"
FRESH = "opencv" + FRESH_SUFFIX
DISTINCT = 8  # distinct source frames cycled through (each bigger than the caches)


def opencv_i420_before(cv2: Any, rgb: np.ndarray) -> np.ndarray:
    """opencv_i420 as it was before the quarter-size chroma (the baseline)."""
    rgb = convert.pad_to_even(rgb)
    h, w, c = rgb.shape
    code = cv2.COLOR_RGB2YUV_I420 if c == 3 else cv2.COLOR_RGBA2YUV_I420
    out = cv2.cvtColor(rgb, code)
    avg = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    blocks = cv2.resize(avg, (w, h), interpolation=cv2.INTER_NEAREST)
    out[h:] = cv2.cvtColor(blocks, code)[h:]
    return out


def sources(content: str, w: int, h: int, channels: int) -> list[np.ndarray]:
    if content == "scene":
        render = patterns.make("scene", w, h)
        frames = [np.asarray(render(i * 4))[..., :3] for i in range(DISTINCT)]
    elif content == "noise":
        rng = np.random.default_rng(w * h)
        frames = [rng.integers(0, 256, (h, w, 3), np.uint8) for _ in range(DISTINCT)]
    else:
        raise SystemExit(f"unknown content {content!r} (scene, noise)")
    if channels == 4:
        alpha = np.full((h, w, 1), 255, np.uint8)
        frames = [np.concatenate([f, alpha], axis=2) for f in frames]
    return [np.ascontiguousarray(f) for f in frames]


def swscale_one_slice(av: Any, rgb: np.ndarray) -> Any:
    fmt = "rgb24" if rgb.shape[2] == 3 else "rgba"
    rgb = convert.pad_to_even(rgb)
    h, w = rgb.shape[:2]
    return av.VideoFrame.from_ndarray(rgb, format=fmt).reformat(
        width=w, height=h, format="yuv420p", dst_colorspace=convert.SWSCALE_COLORSPACE,
        dst_color_range=convert.SWSCALE_RANGE, interpolation="AREA",
    )  # fmt: skip


def paths(av: Any, cv2: Any, w: int, h: int) -> dict[str, Callable[[np.ndarray], Any]]:
    ew, eh = convert.even_size(w, h)
    sliced = convert.SWSCALE_THREADS if w * h >= convert.SWSCALE_THREADS_MIN_PIXELS else 1
    out: dict[str, Callable[[np.ndarray], Any]] = {
        f"swscale ({sliced} slices, rfb's fallback)": lambda f: convert.swscale_i420(av, f, ew, eh),
        "swscale (1 slice)": lambda f: swscale_one_slice(av, f),
    }
    if cv2 is not None:
        out["opencv"] = lambda f: convert.yuv420p_frame(av, convert.opencv_i420(cv2, f))
        out["opencv, before"] = lambda f: convert.yuv420p_frame(av, opencv_i420_before(cv2, f))
    return out


def measure(
    fns: dict[str, Callable[[np.ndarray], Any]], frames: list[np.ndarray], n: int, rounds: int
) -> dict[str, tuple[float, float, float]]:
    """(CPU ms, wall ms, minor faults) per frame for each path, taking turns in rounds."""
    for fn in fns.values():
        fn(frames[0])
    totals = {k: [0.0, 0.0, 0.0] for k in fns}
    per_round = max(1, n // rounds)
    for r in range(rounds):
        names = list(fns)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn, acc = fns[name], totals[name]
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            c0, t0 = time.process_time(), time.perf_counter()
            for i in range(per_round):
                fn(frames[i % len(frames)])
            acc[0] += time.process_time() - c0
            acc[1] += time.perf_counter() - t0
            acc[2] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    m = per_round * rounds
    return {k: (1000 * c / m, 1000 * t / m, f / m) for k, (c, t, f) in totals.items()}


def cold_child(name: str, source: str) -> None:
    """In a fresh process that allocates nothing else: CPU ms and minor page faults per
    frame over its first COLD_FRAMES conversions of the frame saved in ``source``."""
    import cv2

    cv2.setNumThreads(1)
    av = load_av()
    frame = np.load(source)
    if name == FRESH:  # the same code, each temporary a new array

        def fresh(name: str, shape: tuple[int, ...]) -> np.ndarray:
            return np.empty(shape, np.uint8)

        convert._scratch_array = fresh
    fn = paths(av, cv2, 1280, 720)[name.removesuffix(FRESH_SUFFIX)]
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    c0 = time.process_time()
    for _ in range(COLD_FRAMES):
        fn(frame)
    cpu = 1000 * (time.process_time() - c0) / COLD_FRAMES
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / COLD_FRAMES
    print(f"{cpu:.3f} {faults:.0f}")


def cold_rows() -> None:
    print(f"\ncold: first {COLD_FRAMES} conversions in a fresh process allocating nothing "
          "else, 1280x720 RGB scene, OpenCV on 1 thread")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        source = str(Path(tmp) / "frame.npy")
        np.save(source, sources("scene", 1280, 720, 3)[0])
        for name in ("opencv", FRESH, "opencv, before"):
            got = subprocess.run(
                [sys.executable, __file__, "--cold-child", name, "--cold-source", source],
                capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            print(f"  {name:32s} {float(got[0]):.2f} CPU ms/frame, {got[1]} minor faults/frame")


PACED_FRAMES = 300
PACED = {
    "default threads, workers spin": ("spin", -1),
    "default threads, no spin (rfb)": ("rfb", -1),
    "one thread": ("rfb", 1),
}


def paced_child(spin: str, threads: int) -> None:
    import os

    for name in convert._NO_ACTIVE_WAIT:
        if spin == "spin":
            os.environ.pop(name, None)  # OpenCV's own defaults
    if spin == "spin":
        import cv2  # before rfb does: rfb then leaves the settings alone
    cv2 = convert.load_cv2()
    if threads > 0:
        cv2.setNumThreads(threads)
    av = load_av()
    frames = sources("scene", 1280, 720, 3)
    walls = []
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(PACED_FRAMES):
        t = time.perf_counter()
        convert.cpu_i420(av, frames[i % len(frames)], 1280, 720)
        walls.append(time.perf_counter() - t)
        time.sleep(max(0.0, t0 + (i + 1) / 30 - time.perf_counter()))
    cpu = 1000 * (time.process_time() - c0) / PACED_FRAMES
    walls.sort()
    print(f"{cpu:.3f} {1000 * walls[len(walls) // 2]:.3f} {cv2.getNumThreads()}")


def paced_rows() -> None:
    load = MachineLoad()
    print(f"paced: 1280x720 RGB scene converted at 30 frames a second, {PACED_FRAMES} frames, "
          "each setting in a fresh process")  # fmt: skip
    print("| OpenCV | threads | CPU ms/frame | wall ms/frame (median) |\n|---|---|---|---|")
    for label, (spin, threads) in PACED.items():
        got = subprocess.run(
            [sys.executable, __file__, "--paced-child", spin, "--paced-threads", str(threads)],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        print(f"| {label} | {got[2]} | {float(got[0]):.2f} | {float(got[1]):.2f} |")
    print(f"\nmachine busy {load.busy():.0%} over the run")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--channels", default="3,4", help="3 (RGB), 4 (RGBA), or both")
    ap.add_argument("--content", default="scene", help="scene, noise, or both (comma list)")
    ap.add_argument("--frames", type=int, default=200, help="timed frames per row")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--no-cold", action="store_true", help="skip the fresh-process rows")
    ap.add_argument("--cold-child", help=argparse.SUPPRESS)
    ap.add_argument("--cold-source", help=argparse.SUPPRESS)
    ap.add_argument("--paced", action="store_true", help="30 fps rows: OpenCV's spin counted")
    ap.add_argument("--paced-child", help=argparse.SUPPRESS)
    ap.add_argument("--paced-threads", type=int, default=-1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.paced_child:
        paced_child(args.paced_child, args.paced_threads)
        return
    if args.paced:
        paced_rows()
        return
    if args.cold_child:
        cold_child(args.cold_child, args.cold_source)
        return
    av = load_av()
    cv2 = convert.load_cv2()
    default_threads = cv2.getNumThreads() if cv2 is not None else 0
    load = MachineLoad()
    print(f"OpenCV {cv2.__version__ if cv2 else 'absent'} (default {default_threads} threads), "
          f"{args.frames} frames per row after one warm-up, {args.rounds} rounds")  # fmt: skip
    print("| size | input | content | path | OpenCV threads | CPU ms/frame | wall ms/frame "
          "| minor faults/frame |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        w, h = parse_size(size)
        for channels in (int(c) for c in args.channels.split(",")):
            for content in args.content.split(","):
                frames = sources(content, w, h, channels)
                fns = paths(av, cv2, w, h)
                cv_names = [k for k in fns if k.startswith("opencv")]
                rows: list[tuple[str, str, tuple[float, float, float]]] = []
                for threads in [1, default_threads] if cv2 is not None else [0]:
                    if cv2 is not None:
                        cv2.setNumThreads(threads)
                    # swscale does not use OpenCV's threads: timed once, on the first pass
                    timed = fns if not rows else {k: fns[k] for k in cv_names}
                    for name, fig in measure(timed, frames, args.frames, args.rounds).items():
                        rows.append((name, str(threads) if name in cv_names else "-", fig))
                if cv2 is not None:
                    cv2.setNumThreads(default_threads)
                layout = "RGB" if channels == 3 else "RGBA"
                for name, threads_s, (cpu, wall, faults) in rows:
                    print(f"| {w}x{h} | {layout} | {content} | {name} | {threads_s} | {cpu:.2f} "
                          f"| {wall:.2f} | {faults:.0f} |")  # fmt: skip
    if cv2 is not None and not args.no_cold:
        cold_rows()
    print(f"\nmachine busy {load.busy():.0%} over the run")


if __name__ == "__main__":
    main()
