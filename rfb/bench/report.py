"""The terminal: the progress bar while a run goes, the table of its records after."""

from __future__ import annotations

import math
import time
from typing import Any, TextIO

from .. import patterns


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
