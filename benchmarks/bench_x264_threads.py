"""libx264 slice threads against encode time, size and quality, on this machine.

    python benchmarks/bench_x264_threads.py [--sizes 1280x720,1920x1080,3840x2160]
        [--threads 1,2,4,8,16] [--frames 60] [--preset ultrafast]

For each size, the realistic scene (fine detail, steady pan) converted once, then encoded
by rfb's X264Encoder with each thread count (tune=zerolatency: one slice per thread, no
frame of delay). Prints encode ms (p50, p95; conversion excluded), kB per frame and PSNR
against the source, and marks the count rfb picks by itself (x264_threads). The machine's
busy fraction is printed: when it nears 100 %, more threads cannot help. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from rfb import patterns
from rfb.bench import MachineLoad, parse_size, percentile, psnr
from rfb.encoders.base import DEFAULT_PRESET, EncoderSettings, x264_threads
from rfb.encoders.x264 import X264Encoder, load_av


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1280x720,1920x1080,3840x2160")
    ap.add_argument("--threads", default="1,2,4,8,16")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--preset", default=DEFAULT_PRESET)
    args = ap.parse_args()
    av = load_av()
    cpus = os.cpu_count() or 2
    counts = [int(t) for t in args.threads.split(",") if int(t) <= cpus]
    print(f"{cpus} CPUs, x264 {args.preset}, realistic scene, {args.frames} frames per row")
    for size in args.sizes.split(","):
        w, h = parse_size(size)
        render = patterns.make("scene", w, h)
        sources = [render(i) for i in range(args.frames)]
        auto = x264_threads(w, h, cpus)
        for n in sorted(set(counts) | {auto}):
            enc = X264Encoder(w, h, EncoderSettings(fps=30, bitrate=0, preset=args.preset,
                                                    threads=n))  # fmt: skip
            yuvs = [enc.to_yuv(s) for s in sources]
            decoder = av.CodecContext.create("h264", "r")
            load = MachineLoad()
            ms, sizes, scores = [], [], []
            for i, yuv in enumerate(yuvs):
                t = time.perf_counter()
                pic = enc.encode_yuv(yuv, i == 0, i * 33_333)
                ms.append((time.perf_counter() - t) * 1000)
                if pic is None:
                    continue
                sizes.append(len(pic.data))
                for frame in decoder.decode(av.Packet(pic.data)):
                    out = frame.to_ndarray(format="rgb24")
                    scores.append(psnr(sources[i], out[:h, :w]))
            enc.close()
            rec = load.record()
            busy = f"{rec['machine_busy']:.0%}" if "machine_busy" in rec else "?"
            mark = "  <- rfb's choice" if n == auto else ""
            print(f"{w}x{h} threads {n:2d}: encode p50 {statistics.median(ms):6.2f} ms, "
                  f"p95 {percentile(ms, 95):6.2f} ms, {np.mean(sizes) / 1000:5.1f} kB/frame, "
                  f"PSNR {np.mean(scores):.2f} dB, machine busy {busy}{mark}")  # fmt: skip


if __name__ == "__main__":
    main()
