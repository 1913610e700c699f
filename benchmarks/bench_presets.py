"""x264 presets at the same bitrate: conversion + encode ms, bytes and PSNR per preset.

    python benchmarks/bench_presets.py [--size 1280x720] [--frames 120] [--runs 2]
        [--pattern scene] [--presets ultrafast,superfast,veryfast]

Encodes the same frames (the realistic ``scene`` by default) at the stream's automatic
bitrate with each preset (interleaved, ``--runs`` times), decodes them back with PyAV
and prints the median and p95 ms of RGB -> YUV conversion plus encode, kB per frame and
the PSNR of the decoded frames against the published ones. One thread of this process;
asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rfb import patterns
from rfb.bench import psnr
from rfb.encoders.base import X264_PRESETS, EncoderSettings
from rfb.encoders.x264 import X264Encoder, load_av


def run(preset: str, frames: list[np.ndarray], fps: float) -> tuple[np.ndarray, float, float]:
    av = load_av()
    h, w = frames[0].shape[:2]
    enc = X264Encoder(w, h, EncoderSettings(bitrate=0, fps=fps, preset=preset))
    dec = av.CodecContext.create("h264", "r")
    times, sizes, scores = [], [], []
    for i, f in enumerate(frames):
        t = time.perf_counter()
        pic = enc.encode(f, i == 0, int(i * 1e6 / fps))
        times.append((time.perf_counter() - t) * 1000)
        if pic is None:
            continue
        sizes.append(len(pic.data))
        for out in dec.decode(av.Packet(pic.data)):
            rgb = out.reformat(format="rgb24", src_colorspace="ITU601", src_color_range="MPEG")
            scores.append(psnr(rgb.to_ndarray(), f))
    enc.close()
    return np.array(times[10:]), float(np.mean(sizes)), float(np.mean(scores[10:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--pattern", default="scene")
    ap.add_argument("--presets", default="ultrafast,superfast,veryfast")
    args = ap.parse_args()
    w, _, h = args.size.partition("x")
    render = patterns.make(args.pattern, int(w), int(h))
    frames = [render(i) for i in range(args.frames)]
    presets = args.presets.split(",")
    for p in presets:
        if p not in X264_PRESETS:
            raise SystemExit(f"unknown preset {p!r}: one of {X264_PRESETS}")
    print(f"{args.pattern} {args.size}, automatic bitrate at {args.fps:g} fps, {args.frames} frames")
    for r in range(args.runs):
        for p in presets:
            t, size, score = run(p, frames, args.fps)
            print(f"run {r + 1}  {p:10} conversion+encode p50 {np.median(t):5.1f} ms  "
                  f"p95 {np.percentile(t, 95):5.1f} ms  {size / 1000:5.1f} kB/frame  "
                  f"PSNR {score:5.2f} dB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
