"""``python -m rfb.bench``: what this machine's encoders make of frames like yours.

    python -m rfb.bench                      # every encoder, 640x480 .. 3840x2160, ~2 min
    python -m rfb.bench --quick              # a few seconds: 640x480, a few frames
    python -m rfb.bench --sizes 1280x720 --patterns scene --json > figures.jsonl

For every available encoder (JPEG, PNG, WebP, libx264 at the stream's preset and at
``ultrafast`` and ``superfast``, NVENC where it opens), every size and the three default
patterns (the realistic ``scene``, a detailed map panning under a moving box; ``dashboard``,
plots with thin lines, small text and a heat map, mostly static; pdum.rfb's flat ``test_card``),
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

One job a module: ``figures`` (percentiles, PSNR), ``machine`` (busy fraction, CPU
seconds, what the machine is), ``encode`` (the encoders to try, one case measured),
``conversion`` (RGB -> I420 candidates timed), ``report`` (progress bar, table) and
``cli`` (the command). The benchmarks in benchmarks/ take their figures and machine
load from here too.
"""

from .cli import (
    FRAMES,
    PATTERNS,
    QUICK_FRAMES,
    QUICK_SIZES,
    SIZES,
    main,
    parse_args,
    parse_size,
    parser,
    run,
)
from .conversion import conversion_candidates, rfb_conversion, time_conversions
from .encode import (
    BUDGET_S,
    MIN_FRAMES,
    PSNR_SAMPLES,
    WARMUP,
    Case,
    EncodeResult,
    cases,
    floor_record,
    measure,
    summarise,
)
from .figures import nearest_rank, percentile, psnr
from .machine import MachineLoad, busy_fraction, cpu_seconds, cpu_ticks, machine_record
from .report import Progress, table

__all__ = [
    "BUDGET_S",
    "FRAMES",
    "MIN_FRAMES",
    "PATTERNS",
    "PSNR_SAMPLES",
    "QUICK_FRAMES",
    "QUICK_SIZES",
    "SIZES",
    "WARMUP",
    "Case",
    "EncodeResult",
    "MachineLoad",
    "Progress",
    "busy_fraction",
    "cases",
    "conversion_candidates",
    "cpu_seconds",
    "cpu_ticks",
    "floor_record",
    "machine_record",
    "main",
    "measure",
    "nearest_rank",
    "parse_args",
    "parse_size",
    "parser",
    "percentile",
    "psnr",
    "rfb_conversion",
    "run",
    "summarise",
    "table",
    "time_conversions",
]
