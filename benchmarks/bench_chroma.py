"""H.264 4:2:0 against 4:4:4 (High 4:4:4 Predictive), and what an exact still costs.

    python benchmarks/bench_chroma.py                 # dashboard and scene, 1280x720, 90 frames
    python benchmarks/bench_chroma.py --quick         # 20 frames, top rung only, fewer stills
    python benchmarks/bench_chroma.py --frames 60 --size 1920x1080 --rungs 0,2,4

Table 1, "stream": each pattern rendered as 30 fps content (frame i is the pattern at
time i), encoded as one stream's encoder does (libx264 at the stream's preset and rfb's
thread count, an IDR every second) at the automatic bitrate and at some of the default
ladder's lower rungs (``rfb.session.ladder.video_ladder``, the rung's EncoderSettings
with ``chroma`` replaced; a rung at 15 fps encodes every other frame), in 4:2:0 and
4:4:4. Per row: PSNR (RGB, mean over frames),
SSIM of luma (BT.601 Y of the published and the decoded RGB; 8x8 box windows, stride 1,
the usual constants), bytes per frame (and the bitrate they make at 30 fps), conversion
+ encode ms (median; the first three frames left out). A lower rung's smaller picture is
scaled back up to the published size (swscale, bilinear) before it is scored, as a
viewer sees it. Decoded frames go back to RGB with swscale's BT.601 limited-range
inverse (what bench_presets.py does).

Table 2, "exact still": one frame of each pattern as lossless PNG (Pillow's adaptive row
filters at zlib level 1, as rfb's PngEncoder, and level 6; no row filter and one
zlib.compress at level 1 and 6), lossless WebP (Pillow, ``method`` 0, 2, 4), and the
H.264 still (CRF 18, at most 2 s of the bitrate: EncoderSettings(still=True)) in 4:2:0
and 4:4:4: bytes, encode ms (median of 5; the H.264 still on a fresh encoder each time, as
one still is an IDR into an empty rate-control buffer), PSNR, and how long the bytes take to arrive
at 2 and at 10 Mbit/s (bytes * 8 / rate). Prints the machine's busy fraction over the
run. Asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import struct
import sys
import time
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rfb import patterns
from rfb.bench import MachineLoad, psnr
from rfb.encoders import convert
from rfb.encoders.base import CHROMA_444, CHROMAS, EncoderSettings, target_bitrate
from rfb.encoders.image import PngEncoder
from rfb.encoders.x264 import X264Encoder, load_av
from rfb.session.ladder import video_ladder

FPS = 30.0
WARMUP = 3
LUMA = np.array([convert.KR, convert.KG, convert.KB])


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float64) @ LUMA


def _box_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean over every k x k window (valid positions), by an integral image."""
    s = np.pad(x, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return (s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]) / (k * k)


def ssim(a: np.ndarray, b: np.ndarray, k: int = 8) -> float:
    """Mean SSIM of two luma planes (0..255 floats) over k x k box windows."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = _box_mean(a, k), _box_mean(b, k)
    va = _box_mean(a * a, k) - ma * ma
    vb = _box_mean(b * b, k) - mb * mb
    cov = _box_mean(a * b, k) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(s.mean())


def to_rgb(frame: object, w: int, h: int) -> np.ndarray:
    """A decoded frame as the viewer shows it: RGB at the published size."""
    return frame.reformat(  # type: ignore[attr-defined, no-any-return]
        width=w,
        height=h,
        format="rgb24",
        src_colorspace=convert.SWSCALE_COLORSPACE,
        src_color_range=convert.SWSCALE_RANGE,
        interpolation="BILINEAR",
    ).to_ndarray()[:h, :w]


def stream(frames: list[np.ndarray], settings: EncoderSettings) -> dict[str, float]:
    av = load_av()
    h, w = frames[0].shape[:2]
    enc = X264Encoder(w, h, settings)
    dec = av.CodecContext.create("h264", "r")
    step = max(1, round(FPS / settings.fps))  # a rung at 15 fps takes every other frame
    every = max(1, round(settings.keyframe_interval_s * settings.fps))
    times, sizes, psnrs, ssims = [], [], [], []
    for k, i in enumerate(range(0, len(frames), step)):
        f = frames[i]
        t = time.perf_counter()
        pic = enc.encode(f, k % every == 0, int(i * 1e6 / FPS))
        times.append((time.perf_counter() - t) * 1000)
        assert pic is not None
        sizes.append(len(pic.data))
        for out in dec.decode(av.Packet(pic.data)):
            rgb = to_rgb(out, w, h)
            psnrs.append(psnr(f, rgb))
            ssims.append(ssim(luma(f), luma(rgb)))
    coded = (enc.coded_width, enc.coded_height)
    enc.close()
    return {
        "psnr": float(np.mean(psnrs)),
        "ssim": float(np.mean(ssims)),
        "bytes": float(np.mean(sizes)),
        "ms": float(np.median(times[WARMUP:] or times)),
        "coded": coded,  # type: ignore[dict-item]
        "fps": settings.fps,
    }


def timed(fn, n: int = 5) -> tuple[object, float]:  # type: ignore[no-untyped-def]
    out, ts = None, []
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        ts.append((time.perf_counter() - t) * 1000)
    return out, float(np.median(ts))


def png_no_filter(img: np.ndarray, level: int) -> bytes:
    """A lossless RGB PNG with filter type None on every row, one zlib.compress."""
    h, w = img.shape[:2]
    rows = np.zeros((h, 1 + 3 * w), np.uint8)
    rows[:, 1:].reshape(h, w, 3)[...] = img[..., :3]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(rows.tobytes(), level)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def stills(img: np.ndarray, quick: bool) -> list[tuple[str, int, float, float]]:
    """(what, bytes, encode ms, PSNR) for one frame."""
    from PIL import Image

    av = load_av()
    h, w = img.shape[:2]
    rows: list[tuple[str, int, float, float]] = []
    png = PngEncoder(w, h, EncoderSettings())
    pic, ms = timed(lambda: png.encode(img, True, 0))
    rows.append(("PNG (Pillow, adaptive filters), zlib 1 (PngEncoder)", len(pic.data), ms, np.inf))  # type: ignore[attr-defined]

    def pil(fmt: str, **opts: object) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, fmt, **opts)
        return buf.getvalue()

    data, ms = timed(lambda: pil("PNG", compress_level=6), 3)
    rows.append(("PNG (Pillow, adaptive filters), zlib 6", len(data), ms, np.inf))  # type: ignore[arg-type]
    for level in (1, 6):
        data, ms = timed(lambda lv=level: png_no_filter(img, lv), 3)  # type: ignore[misc]
        back = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))  # type: ignore[arg-type]
        assert np.array_equal(back, img[..., :3])
        rows.append((f"PNG, no row filter, zlib {level}", len(data), ms, np.inf))  # type: ignore[arg-type]
    for method in (0,) if quick else (0, 2, 4):
        data, ms = timed(lambda m=method: pil("WEBP", lossless=True, method=m), 3)  # type: ignore[misc]
        back = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))  # type: ignore[arg-type]
        rows.append((f"WebP lossless, method {method}", len(data), ms, psnr(img, back)))
    for chroma in CHROMAS:
        settings = EncoderSettings(bitrate=0, still=True, chroma=chroma)
        pics, ts = [], []
        for _ in range(5):  # a fresh encoder each: a still is one IDR into an empty VBV
            enc = X264Encoder(w, h, settings)
            t = time.perf_counter()
            pics.append(enc.encode(img, True, 0))
            ts.append((time.perf_counter() - t) * 1000)
            enc.close()
        p = pics[0]
        assert p is not None
        (out,) = av.CodecContext.create("h264", "r").decode(av.Packet(p.data))
        label = "4:4:4" if chroma == CHROMA_444 else "4:2:0"
        rows.append((f"H.264 still {label} (CRF 18)", len(p.data), float(np.median(ts)),
                     psnr(img, to_rgb(out, w, h))))  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--patterns", default="dashboard,scene")
    ap.add_argument("--rungs", default="0,3,6", help="indices into the default ladder")
    ap.add_argument("--quick", action="store_true", help="20 frames, the top rung, fewer stills")
    args = ap.parse_args()
    w, _, h = args.size.partition("x")
    width, height = int(w), int(h)
    n = 20 if args.quick and args.frames == 90 else args.frames
    ladder = video_ladder(EncoderSettings(bitrate=0, fps=FPS), width, height)
    wanted = [0] if args.quick else [int(r) for r in args.rungs.split(",")]
    rungs = [r for r in wanted if r < len(ladder)]
    names = args.patterns.split(",")
    load = MachineLoad()
    rendered = {}
    for name in names:
        render = patterns.make(name, width, height)
        rendered[name] = [render(i) for i in range(n)]

    print(f"## Stream: {width}x{height}, 30 fps content, {n} frames, IDR every second\n")
    print("| pattern | rung: bitrate, coded size, fps | chroma | PSNR (RGB) | SSIM (luma, 8x8 box) "
          "| bytes/frame (kbit/s) | conversion + encode p50 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in names:
        frames = rendered[name]
        for r in rungs:
            base = ladder[r]
            kbps = target_bitrate(base, width, height) / 1000
            for chroma in CHROMAS:
                res = stream(frames, replace(base, chroma=chroma))
                cw, ch = res["coded"]  # type: ignore[misc]
                label = "4:4:4" if chroma == CHROMA_444 else "4:2:0"
                print(f"| {name} | {r}: {kbps:.0f} kbit/s, {cw}x{ch}, {base.fps:g} fps | "
                      f"{label} | {res['psnr']:.2f} dB | {res['ssim']:.4f} | "
                      f"{res['bytes'] / 1000:.1f} kB ({res['bytes'] * 8 * base.fps / 1000:.0f}) | "
                      f"{res['ms']:.1f} ms |", flush=True)  # fmt: skip

    print(f"\n## Exact still: frame 0, {width}x{height}\n")
    print("| pattern | encoding | bytes | encode ms (median) | PSNR | at 2 Mbit/s | at 10 Mbit/s |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        for what, size, ms, score in stills(rendered[name][0], args.quick):
            q = "lossless" if score == np.inf else f"{score:.2f} dB"
            print(f"| {name} | {what} | {size / 1000:.1f} kB | {ms:.1f} | {q} | "
                  f"{size * 8 / 2e6 * 1000:.0f} ms | {size * 8 / 10e6 * 1000:.0f} ms |", flush=True)  # fmt: skip

    rec = load.record()
    print(f"\nmachine busy {rec.get('machine_busy', float('nan')):.0%} over the run, "
          f"this process {rec['process_cpu_s_per_s']:.2f} CPU s/s; "
          f"x264 threads as rfb picks them; OpenCV conversion: {convert.load_cv2() is not None}")  # fmt: skip


if __name__ == "__main__":
    main()
