"""python -m rfb.bench: the shape of what it prints (never a speed)."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from rfb import bench

ENCODE_KEYS = {
    "encoder", "pattern", "width", "height", "frames", "convert_ms_p50", "convert_ms_p95",
    "encode_ms_p50", "encode_ms_p95", "total_ms_p50", "total_ms_p95", "bytes_per_frame",
    "psnr_db", "max_fps", "settings",
}  # fmt: skip


def test_quick_json_lines_cover_every_encoder_pattern_and_the_floor() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "rfb.bench", "--quick", "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    records = [json.loads(line) for line in run.stdout.splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "machine" and kinds[-1] == "busy"
    assert records[0]["cpus"] >= 1 and "pyav" in records[0]
    assert 0 <= records[-1]["machine_busy"] <= 1

    encodes = [r for r in records if r["kind"] == "encode"]
    got = {(r["encoder"], r["pattern"], r["width"], r["height"]) for r in encodes}
    for pattern in ("scene", "dashboard", "test_card"):
        for name in ("jpeg q80", "png", "webp q80", "x264 superfast", "x264 ultrafast"):
            assert (name, pattern, 640, 480) in got
    for r in encodes:
        assert set(r) >= ENCODE_KEYS
        assert r["frames"] >= 2
        assert r["encode_ms_p50"] > 0 and r["encode_ms_p95"] >= r["encode_ms_p50"]
        assert r["bytes_per_frame"] > 0 and r["max_fps"] > 0
        if r["encoder"].startswith("x264"):
            assert r["convert_ms_p50"] > 0  # timed apart from the encode
            assert r["total_ms_p50"] >= r["encode_ms_p50"]
            assert r["settings"]["bitrate"] > 0
        else:
            assert r["convert_ms_p50"] is None  # images convert inside their codec
        if r["encoder"] == "png":
            assert r["psnr_db"] is None  # lossless
        else:
            assert 10 < r["psnr_db"] < 100

    convs = [r for r in records if r["kind"] == "conversion"]
    assert {r["pattern"] for r in convs} == {"scene", "dashboard", "test_card"}
    for r in convs:
        assert "rfb" in r["candidates"] and r["rfb_path"] in ("opencv", "swscale")
        assert "opencv" in r["candidates"]  # the dev extra installs it
        assert all(v > 0 for v in r["candidates"].values())
    floors = [r for r in records if r["kind"] == "floor"]
    assert {r["pattern"] for r in floors} == {"scene", "dashboard", "test_card"}
    for r in floors:
        assert r["path"] == "x264 ultrafast" and r["ratio"] > 0  # the default preset
        assert r["floor_conversion"] in convs[0]["candidates"]
    skipped = {r["encoder"] for r in records if r["kind"] == "skipped"}
    assert ("nvenc" in skipped) != any(r["encoder"] == "nvenc" for r in encodes)


def test_table_reports_every_row_and_labels_the_trivial_pattern() -> None:
    out = io.StringIO()
    bench.main(["--quick", "--sizes", "320x240", "--frames", "5", "--no-progress"], stdout=out)
    text = out.getvalue()
    for name in ("jpeg q80", "png", "webp q80", "x264 superfast", "x264 ultrafast"):
        assert text.count(f"\n{name} ") == 3  # scene, dashboard and test_card
    assert "lossless" in text and "floor" in text and "machine busy" in text
    assert "test_card: flat colour" in text


def test_summarise_and_floor_from_known_times() -> None:
    r = bench.summarise("x264 superfast", "scene", (64, 48), [0.001] * 4, [0.003] * 4,
                        [1000] * 4, [30.0, 32.0])  # fmt: skip
    assert r.convert_ms_p50 == pytest.approx(1.0) and r.total_ms_p50 == pytest.approx(4.0)
    assert r.max_fps == pytest.approx(250.0) and r.psnr_db == pytest.approx(31.0)
    fast = bench.summarise("x264 ultrafast", "scene", (64, 48), [0.001] * 4, [0.002] * 4,
                           [1000] * 4, [30.0])  # fmt: skip
    floor = bench.floor_record(r, fast, {"a": 1.5, "b": 0.5})
    assert floor["floor_conversion"] == "b" and floor["floor_ms"] == pytest.approx(2.5)
    assert floor["ratio"] == pytest.approx(4.0 / 2.5, abs=1e-3)
    assert bench.psnr(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2, 3), np.uint8)) == math.inf


def test_the_shared_figures_and_machine_load() -> None:
    """What benchmarks/ take from rfb.bench: both percentiles, PSNR, the machine's load."""
    xs = [4.0, 1.0, 3.0, 2.0]
    assert bench.percentile(xs, 50) == pytest.approx(2.5)  # interpolated
    assert bench.nearest_rank(xs, 50) == 3.0 and bench.nearest_rank(xs, 100) == 4.0  # a sample
    assert math.isnan(bench.percentile([], 50)) and math.isnan(bench.nearest_rank([], 95))
    a = np.zeros((4, 4, 4), np.uint8)
    b = a.copy()
    b[..., 3] = 255  # alpha does not count
    b[0, 0, 0] = 255
    assert bench.psnr(a, b) == pytest.approx(10 * math.log10(48))
    load = bench.MachineLoad()
    assert 0.0 <= load.busy() <= 1.0
    assert set(load.record()) <= {"process_cpu_s_per_s", "machine_busy"}
    assert bench.busy_fraction((100, 40), (200, 90)) == pytest.approx(0.5)
    assert (
        bench.busy_fraction((100, 40), (100, 40)) is None
        and bench.busy_fraction(None, None) is None
    )
    if bench.cpu_ticks() is not None:  # Linux
        assert bench.cpu_seconds(os.getpid()) > 0


@pytest.mark.parametrize("argv", [["--sizes", "12x7"], ["--sizes", "wide"], ["--patterns", "nope"]])
def test_bad_arguments_exit_with_a_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
