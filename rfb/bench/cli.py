"""The command: what to measure from the command line, the run itself, its output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from .. import patterns
from ..encoders.base import DEFAULT_PRESET, X264_PRESETS, auto_bitrate
from .conversion import rfb_conversion, time_conversions
from .encode import BUDGET_S, MIN_FRAMES, WARMUP, EncodeResult, cases, floor_record, measure
from .machine import MachineLoad, machine_record
from .report import Progress, table

SIZES = ("640x480", "1280x720", "1920x1080", "3840x2160")
QUICK_SIZES = ("640x480",)
PATTERNS = ("scene", "dashboard", "test_card")
FRAMES = 60
QUICK_FRAMES = 8


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` (each at least 16) as ``(w, h)``; ValueError for anything else."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or min(int(w), int(h)) < 16:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT (each at least 16)")
    return int(w), int(h)


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
    """The command's options."""
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
        help="comma-separated: scene (realistic, panning), dashboard (plots, text, mostly "
        "static), test_card, or any of "
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
    """The options, defaults filled in (--quick's or the full run's) and checked."""
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
    """``rfb-bench``: the table on the terminal, or JSON lines with --json."""
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
