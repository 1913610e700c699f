"""``python -m rfb.bench``: what this machine's encoders make of frames like yours.

    python -m rfb.bench                      # every encoder, 640x480 .. 3840x2160, ~2 min
    python -m rfb.bench --quick              # a few seconds: 640x480, a few frames
    python -m rfb.bench --sizes 1280x720 --patterns scene --json > figures.jsonl

For every available encoder (JPEG, PNG, WebP, libx264 at the stream's preset and at
``ultrafast`` and ``superfast``, NVENC where it opens), every size and both patterns (the realistic
``scene``, a detailed map panning under a moving box, and pdum.rfb's flat ``test_card``),
it encodes the frames back to back, as one stream's encoder does, and reports:

* conversion ms (RGB -> YUV 4:2:0, H.264 only; images convert inside their codec) and
  encode ms, median and p95;
* bytes per frame, and the PSNR of the decoded frames against the published ones;
* the largest sustainable fps: frames over the time conversion plus encode took.

It also times the RGB -> YUV conversions this build of swscale offers for the frame's
layout, and compares rfb's H.264 path with the floor: the fastest conversion plus
x264 ``ultrafast``, measured in the same run. The figures are this process's, on one
encoder at a time; the machine's busy fraction during the run is printed with them.
``--json``: one JSON object per line on stdout (``kind``: machine, conversion, encode,
floor, skipped), for scripts; the table and progress bar go to the terminal.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import numpy as np

from . import patterns
from .encoders import convert
from .encoders.base import (
    DEFAULT_PRESET,
    X264_PRESETS,
    EncoderSettings,
    EncoderUnavailable,
    auto_bitrate,
)

SIZES = ("640x480", "1280x720", "1920x1080", "3840x2160")
QUICK_SIZES = ("640x480",)
PATTERNS = ("scene", "test_card")
FRAMES = 60
QUICK_FRAMES = 8
WARMUP = 3  # first encodes left out of the figures (x264's lookahead-free start, caches)
MIN_FRAMES = 10  # measured frames a case gets whatever --budget says
BUDGET_S = 4.0  # seconds a case may take once it has MIN_FRAMES
PSNR_SAMPLES = 8  # decoded frames compared with the source per case


# -- figures (no I/O) -----------------------------------------------------------------


def percentile(xs: Sequence[float], p: float) -> float:
    """The ``p``-th percentile by linear interpolation (NaN for no samples)."""
    if not xs:
        return math.nan
    return float(np.percentile(np.asarray(xs, np.float64), p))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of ``b`` against ``a`` (inf when equal); RGB channels only."""
    a, b = a[..., :3], b[..., :3]
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def parse_size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or min(int(w), int(h)) < 16:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT (each at least 16)")
    return int(w), int(h)


@dataclass(slots=True)
class EncodeResult:
    """One encoder on one pattern at one size."""

    encoder: str
    pattern: str
    width: int
    height: int
    frames: int
    convert_ms_p50: float | None  # None: the codec converts inside (images)
    convert_ms_p95: float | None
    encode_ms_p50: float
    encode_ms_p95: float
    total_ms_p50: float  # conversion + encode of one frame
    total_ms_p95: float
    bytes_per_frame: float
    psnr_db: float  # inf: lossless
    max_fps: float
    settings: dict[str, Any] = field(default_factory=dict)
    kind: str = "encode"

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["psnr_db"] = None if math.isinf(self.psnr_db) else round(self.psnr_db, 2)
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = round(v, 3)
        return out


def summarise(
    encoder: str,
    pattern: str,
    size: tuple[int, int],
    convert_s: Sequence[float] | None,
    encode_s: Sequence[float],
    nbytes: Sequence[int],
    scores: Sequence[float],
    settings: dict[str, Any] | None = None,
) -> EncodeResult:
    """Figures of one case from per-frame seconds (warm-up already left out)."""
    conv = [1000 * x for x in convert_s] if convert_s is not None else None
    enc = [1000 * x for x in encode_s]
    total = [c + e for c, e in zip(conv, enc, strict=True)] if conv is not None else enc
    busy = sum(total) / 1000
    return EncodeResult(
        encoder=encoder,
        pattern=pattern,
        width=size[0],
        height=size[1],
        frames=len(enc),
        convert_ms_p50=percentile(conv, 50) if conv is not None else None,
        convert_ms_p95=percentile(conv, 95) if conv is not None else None,
        encode_ms_p50=percentile(enc, 50),
        encode_ms_p95=percentile(enc, 95),
        total_ms_p50=percentile(total, 50),
        total_ms_p95=percentile(total, 95),
        bytes_per_frame=float(np.mean(nbytes)) if nbytes else math.nan,
        psnr_db=min(float(np.mean(scores)), math.inf) if scores else math.nan,
        max_fps=len(total) / busy if busy > 0 else math.inf,
        settings=settings or {},
    )


def floor_record(
    path: EncodeResult, floor_encode: EncodeResult, conversions: dict[str, float]
) -> dict[str, Any]:
    """rfb's H.264 path (its conversion + its preset) against the floor: the fastest
    conversion measured for this layout plus x264 ultrafast, from the same run."""
    fastest = min(conversions, key=lambda k: conversions[k])
    floor_ms = conversions[fastest] + floor_encode.encode_ms_p50
    return {
        "kind": "floor",
        "pattern": path.pattern,
        "width": path.width,
        "height": path.height,
        "path": path.encoder,
        "path_ms": round(path.total_ms_p50, 3),
        "floor_ms": round(floor_ms, 3),
        "floor_conversion": fastest,
        "ratio": round(path.total_ms_p50 / floor_ms, 3) if floor_ms > 0 else None,
    }


# -- encoders to try ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """An encoder to measure: ``make(w, h)`` opens one; ``video``: decode as H.264."""

    name: str
    make: Callable[[int, int], Any]
    video: bool
    settings: dict[str, Any]


def cases(preset: str, quality: int, fps: float, bitrate: int) -> tuple[list[Case], dict[str, str]]:
    """The encoders that can run here, and why each other one cannot."""
    from .encoders import image

    found: list[Case] = []
    skipped: dict[str, str] = {}
    img = EncoderSettings(quality=quality, fps=fps)

    def jpeg(w: int, h: int) -> Any:
        return image.JpegEncoder(w, h, img)

    found.append(Case(f"jpeg q{quality}", jpeg, False, {"quality": quality}))
    found.append(Case("png", lambda w, h: image.PngEncoder(w, h, img), False, {}))
    found.append(
        Case(
            f"webp q{quality}",
            lambda w, h: image.WebpEncoder(w, h, img),
            False,
            {"quality": quality},
        )
    )
    try:
        from .encoders.x264 import X264Encoder, load_av

        load_av()
    except EncoderUnavailable as exc:
        skipped["x264"] = str(exc)
    else:
        # The stream's preset, and the next one either side of the default for the trade-off.
        presets = [preset] + [p for p in ("ultrafast", "superfast") if p != preset]
        for p in presets:
            s = EncoderSettings(bitrate=bitrate, fps=fps, preset=p)
            found.append(
                Case(
                    f"x264 {p}",
                    functools.partial(X264Encoder, settings=s),
                    True,
                    {"preset": p, "bitrate": bitrate or "auto"},
                )
            )
    from .encoders import gpu

    why = gpu.nvenc_unavailable_reason()
    if why is None:
        from .encoders.nvenc import NvencEncoder

        s = EncoderSettings(bitrate=bitrate, fps=fps)
        found.append(
            Case("nvenc", lambda w, h: NvencEncoder(w, h, s), True, {"bitrate": bitrate or "auto"})
        )
    else:
        skipped["nvenc"] = why
    return found, skipped


# -- measuring ------------------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


class _Decoder:
    """Decodes what a case made back to RGB, for PSNR."""

    def __init__(self, video: bool) -> None:
        self._ctx: Any = None
        if video:
            from .encoders.x264 import load_av

            av = load_av()
            self._av = av
            self._ctx = av.CodecContext.create("h264", "r")

    def __call__(self, data: bytes) -> list[np.ndarray]:
        if self._ctx is None:
            from PIL import Image

            return [np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))]
        out = []
        for frame in self._ctx.decode(self._av.Packet(data)):
            rgb = frame.reformat(
                format="rgb24",
                src_colorspace=convert.SWSCALE_COLORSPACE,
                src_color_range=convert.SWSCALE_RANGE,
            )
            out.append(rgb.to_ndarray())
        return out


def measure(
    case: Case, pattern: str, frames: list[np.ndarray], fps: float, budget_s: float = math.inf
) -> EncodeResult:
    """Encode ``frames`` back to back with a fresh encoder; IDR every second, as a stream.

    Stops early once ``budget_s`` has gone by and MIN_FRAMES are measured (PNG at 4K
    takes half a second a frame)."""
    h, w = frames[0].shape[:2]
    enc = case.make(w, h)
    decode = _Decoder(case.video)
    split = hasattr(enc, "to_yuv") and hasattr(enc, "encode_yuv")
    keyframe_every = max(1, round(fps))
    conv_s: list[float] = []
    enc_s: list[float] = []
    nbytes: list[int] = []
    scores: list[float] = []
    sample_every = max(1, (len(frames) - WARMUP) // PSNR_SAMPLES)
    pending: list[np.ndarray] = []  # sources of pictures the encoder still holds
    start = time.monotonic()
    try:
        for i, src in enumerate(frames):
            if len(enc_s) >= MIN_FRAMES and time.monotonic() - start > budget_s:
                break
            key = i % keyframe_every == 0
            ts = int(i * 1e6 / fps)
            t0 = time.perf_counter()
            if split:
                yuv = enc.to_yuv(src)
                t1 = time.perf_counter()
                pic = enc.encode_yuv(yuv, key, ts)
            else:
                t1 = t0
                pic = enc.encode(src, key, ts)
            c, e = t1 - t0, time.perf_counter() - t1
            pending.append(src)
            if i >= WARMUP:
                conv_s.append(c)
                enc_s.append(e)
            if pic is None:
                continue
            source = pending.pop(0)
            if i >= WARMUP:
                nbytes.append(len(pic.data))
            for out in decode(pic.data):  # every frame: H.264 needs the whole sequence
                if i >= WARMUP and (i - WARMUP) % sample_every == 0:
                    scores.append(psnr(source, out[: source.shape[0], : source.shape[1]]))
    finally:
        enc.close()
    return summarise(
        case.name, pattern, (w, h), conv_s if split else None, enc_s, nbytes, scores, case.settings
    )


def conversion_candidates(rgb: np.ndarray) -> dict[str, Callable[[], Any]]:
    """Every correct way this build offers to turn ``rgb`` into BT.601 limited-range I420."""
    from .encoders.x264 import load_av

    av = load_av()
    h, w = rgb.shape[:2]
    ew, eh = convert.even_size(w, h)
    layout = "rgb24" if rgb.shape[2] == 3 else "rgba"
    swapped = "bgr24" if rgb.shape[2] == 3 else "bgra"
    order = [2, 1, 0] if rgb.shape[2] == 3 else [2, 1, 0, 3]

    def sws(arr: np.ndarray, fmt: str, threads: int | None) -> Any:
        frame = av.VideoFrame.from_ndarray(convert.pad_to_even(arr), format=fmt)
        return frame.reformat(
            width=ew,
            height=eh,
            format="yuv420p",
            dst_colorspace=convert.SWSCALE_COLORSPACE,
            dst_color_range=convert.SWSCALE_RANGE,
            interpolation="AREA",
            threads=threads,
        )

    out: dict[str, Callable[[], Any]] = {
        "rfb": lambda: convert.cpu_i420(av, rgb, ew, eh),
        f"swscale {layout}, 1 thread": lambda: sws(rgb, layout, None),
        f"swscale {layout}, 2 threads": lambda: sws(rgb, layout, 2),
        f"copy to {swapped} + swscale": lambda: sws(
            np.ascontiguousarray(rgb[..., order]), swapped, None
        ),
    }
    cv2 = convert.load_cv2()
    if cv2 is not None:
        out["opencv"] = lambda: av.VideoFrame.from_ndarray(
            convert.opencv_i420(cv2, rgb), format="yuv420p"
        )
    return out


def rfb_conversion() -> str:
    """Which candidate rfb's own path is, for frames of the stream's size."""
    return "opencv" if convert.load_cv2() is not None else "swscale"


def time_conversions(rgb: np.ndarray, repeats: int) -> dict[str, float]:
    """Median ms of each candidate (interleaved, so drift hits all alike)."""
    fns = conversion_candidates(rgb)
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats):
        for k in names[r % len(names) :] + names[: r % len(names)]:  # each takes every slot
            times[k].append(1000 * _timed(fns[k])[1])
    return {k: percentile(v[1:] or v, 50) for k, v in times.items()}


class MachineLoad:
    """The machine's busy fraction and this process's CPU over a span (Linux /proc)."""

    def __init__(self) -> None:
        self._t, self._cpu, self._stat = time.monotonic(), time.process_time(), self._read()

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                vals = [int(x) for x in f.readline().split()[1:]]
        except OSError:
            return None
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals), idle

    def record(self) -> dict[str, Any]:
        wall = max(1e-9, time.monotonic() - self._t)
        out: dict[str, Any] = {
            "process_cpu_s_per_s": round((time.process_time() - self._cpu) / wall, 3)
        }
        now = self._read()
        if now is not None and self._stat is not None and now[0] > self._stat[0]:
            total, idle = now[0] - self._stat[0], now[1] - self._stat[1]
            out["machine_busy"] = round(1 - idle / total, 3)
        return out


def machine_record() -> dict[str, Any]:
    import platform

    out: dict[str, Any] = {
        "kind": "machine",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    try:
        import av

        out["pyav"] = av.__version__
        out["ffmpeg"] = ".".join(map(str, av.library_versions.get("libavcodec", ())))
    except ImportError:
        pass
    return out


# -- the terminal ---------------------------------------------------------------------


class Progress:
    """A one-line progress bar on a terminal (nothing when ``out`` is not one)."""

    def __init__(self, total: int, out: TextIO, enabled: bool = True) -> None:
        self.total, self.done, self.out = total, 0, out
        self.enabled = enabled and out.isatty()
        self._t0 = time.monotonic()

    def step(self, label: str) -> None:
        if not self.enabled:
            return
        n = 28
        filled = n * self.done // max(1, self.total)
        elapsed = time.monotonic() - self._t0
        bar = "#" * filled + "-" * (n - filled)
        self.out.write(f"\r[{bar}] {self.done}/{self.total} {elapsed:5.0f}s  {label[:40]:40}")
        self.out.flush()

    def advance(self) -> None:
        self.done += 1

    def finish(self) -> None:
        if self.enabled:
            self.out.write("\r" + " " * 100 + "\r")
            self.out.flush()


def _f(x: float | None, spec: str = ".1f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def table(records: list[dict[str, Any]]) -> str:
    """The terminal report of one run's records."""
    lines: list[str] = []
    machine = next((r for r in records if r["kind"] == "machine"), {})
    busy = next((r for r in records if r["kind"] == "busy"), {})
    head = f"rfb.bench: {machine.get('cpus', '?')} CPUs, Python {machine.get('python', '?')}"
    if "pyav" in machine:
        head += f", PyAV {machine['pyav']} (libavcodec {machine.get('ffmpeg', '?')})"
    lines.append(head)
    if busy:
        lines.append(
            f"machine busy {100 * busy.get('machine_busy', math.nan):.0f}% during the "
            f"run; this process {busy['process_cpu_s_per_s']:.2f} CPU s/s"
        )
    convs = [r for r in records if r["kind"] == "conversion"]
    if convs:
        lines.append("")
        lines.append(
            f"RGB -> YUV 4:2:0 (BT.601 limited), median ms (rfb takes {convs[0]['rfb_path']}):"
        )
        for r in convs:
            opts = "  ".join(f"{k} {v:.2f}" for k, v in r["candidates"].items())
            lines.append(f"  {r['width']}x{r['height']} {r['pattern']:9} {opts}")
    enc = [r for r in records if r["kind"] == "encode"]
    if enc:
        lines.append("")
        cols = (
            f"{'encoder':15} {'pattern':9} {'size':>9} {'conv ms':>8} {'enc p50':>8} "
            f"{'enc p95':>8} {'kB/frame':>9} {'PSNR dB':>8} {'max fps':>8}"
        )
        lines.append(cols)
        lines.append("-" * len(cols))
        for r in enc:
            score = "lossless" if r["psnr_db"] is None else _f(r["psnr_db"], ".2f")
            lines.append(
                f"{r['encoder']:15} {r['pattern']:9} {r['width']:>4}x{r['height']:<4} "
                f"{_f(r['convert_ms_p50'], '.2f'):>8} {_f(r['encode_ms_p50'], '.2f'):>8} "
                f"{_f(r['encode_ms_p95'], '.2f'):>8} {_f(r['bytes_per_frame'] / 1000, '.1f'):>9} "
                f"{score:>8} {_f(r['max_fps'], '.0f'):>8}"
            )
    floors = [r for r in records if r["kind"] == "floor"]
    if floors:
        lines.append("")
        lines.append(
            "H.264 path (conversion + encode p50) against the floor (fastest "
            "conversion + x264 ultrafast):"
        )
        for r in floors:
            lines.append(
                f"  {r['width']}x{r['height']} {r['pattern']:9} {r['path']}: "
                f"{r['path_ms']:.2f} ms, floor {r['floor_ms']:.2f} ms "
                f"({r['floor_conversion']}): {r['ratio']:.2f}x"
            )
    skipped = [r for r in records if r["kind"] == "skipped"]
    for r in skipped:
        lines.append(f"not measured: {r['encoder']}: {r['reason']}")
    trivial = [p for p in {r.get("pattern") for r in enc} if p in patterns.TRIVIAL_PATTERNS]
    trivial += ["test_card"] if any(r.get("pattern") == "test_card" for r in enc) else []
    if trivial:
        lines.append(
            f"({', '.join(sorted(set(trivial)))}: flat colour, far easier than a "
            "real render; 'scene' is the realistic one)"
        )
    return "\n".join(lines)


# -- the command ----------------------------------------------------------------------


def run(
    args: argparse.Namespace,
    emit: Callable[[dict[str, Any]], None],
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Measure what ``args`` asks; every record goes to ``emit`` as it is made."""
    records: list[dict[str, Any]] = []

    def out(rec: dict[str, Any]) -> None:
        records.append(rec)
        emit(rec)

    out(machine_record())
    sizes = [parse_size(s) for s in args.sizes]
    busy = MachineLoad()
    found, skipped = cases(args.preset, args.quality, args.fps, args.bitrate)
    for name, reason in skipped.items():
        out({"kind": "skipped", "encoder": name, "reason": reason})
    if progress is not None:
        progress.total = len(sizes) * len(args.patterns) * (len(found) + 1)
    video = [c for c in found if c.video]
    for w, h in sizes:
        for pattern in args.patterns:
            label = f"{pattern} {w}x{h}"
            if progress is not None:
                progress.step(f"rendering {label}")
            render = patterns.make(pattern, w, h)
            frames = [render(i) for i in range(args.frames + WARMUP)]
            conversions: dict[str, float] = {}
            if video:
                if progress is not None:
                    progress.step(f"conversions {label}")
                conversions = time_conversions(frames[0], max(3, min(20, args.frames)))
                out(
                    {
                        "kind": "conversion",
                        "pattern": pattern,
                        "width": w,
                        "height": h,
                        "rfb_path": rfb_conversion(),
                        "candidates": {k: round(v, 3) for k, v in conversions.items()},
                    }
                )
            if progress is not None:
                progress.advance()
            by_name: dict[str, EncodeResult] = {}
            for case in found:
                if progress is not None:
                    progress.step(f"{case.name} {label}")
                try:
                    result = measure(case, pattern, frames, args.fps, args.budget)
                except Exception as exc:  # one encoder failing must not lose the others
                    out(
                        {
                            "kind": "skipped",
                            "encoder": case.name,
                            "pattern": pattern,
                            "width": w,
                            "height": h,
                            "reason": f"{type(exc).__name__}: {exc}",
                        }
                    )
                else:
                    if result.settings.get("bitrate") == "auto":
                        result.settings["bitrate"] = auto_bitrate(w, h, args.fps)
                    by_name[case.name] = result
                    out(result.record())
                if progress is not None:
                    progress.advance()
            path, fastest = by_name.get(f"x264 {args.preset}"), by_name.get("x264 ultrafast")
            if path is not None and fastest is not None and conversions:
                out(floor_record(path, fastest, conversions))
            del frames
    out({"kind": "busy", **busy.record()})
    return records


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m rfb.bench",
        description="Encode speed, size and quality of every encoder rfb can use here.",
    )
    ap.add_argument(
        "--sizes", default=None, help=f"comma-separated WxH (default {','.join(SIZES)})"
    )
    ap.add_argument(
        "--patterns",
        default=",".join(PATTERNS),
        help="comma-separated: scene (realistic), test_card, or any of "
        f"{', '.join(patterns.PATTERNS)}",
    )
    ap.add_argument("--frames", type=int, default=None, help=f"per case (default {FRAMES})")
    ap.add_argument(
        "--budget",
        type=float,
        default=BUDGET_S,
        help=f"seconds per case once it has {MIN_FRAMES} frames (default {BUDGET_S:g})",
    )
    ap.add_argument("--fps", type=float, default=30.0, help="rate control and IDR spacing")
    ap.add_argument("--bitrate", type=int, default=0, help="H.264 bits/s (0: rfb's automatic)")
    ap.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        choices=X264_PRESETS,
        help=f"x264's (the stream default: {DEFAULT_PRESET})",
    )
    ap.add_argument("--quality", type=int, default=80, help="JPEG/WebP quality")
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"{','.join(QUICK_SIZES)}, {QUICK_FRAMES} frames: a few seconds",
    )
    ap.add_argument("--json", action="store_true", help="JSON lines on stdout, no table")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = parser()
    args = ap.parse_args(argv)
    sizes = args.sizes or ",".join(QUICK_SIZES if args.quick else SIZES)
    args.sizes = [s for s in sizes.split(",") if s]
    args.patterns = [p for p in args.patterns.split(",") if p]
    args.frames = args.frames or (QUICK_FRAMES if args.quick else FRAMES)
    try:
        for s in args.sizes:
            parse_size(s)
    except ValueError as exc:
        ap.error(str(exc))
    for p in args.patterns:
        if p not in patterns.PATTERNS:
            ap.error(f"unknown pattern {p!r}: one of {', '.join(patterns.PATTERNS)}")
    if args.frames < 2:
        ap.error("--frames must be at least 2")
    return args


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    args = parse_args(argv)
    stdout = stdout or sys.stdout
    progress = Progress(0, sys.stderr, enabled=not args.no_progress)

    def emit(rec: dict[str, Any]) -> None:
        if args.json:
            stdout.write(json.dumps(rec) + "\n")
            stdout.flush()

    try:
        records = run(args, emit, progress)
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        sys.stderr.close()
        return 0
    finally:
        progress.finish()
    if not args.json:
        stdout.write(table(records) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
