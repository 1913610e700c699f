"""python -m rfb.doctor: every encoder and the path serve() would take."""

from __future__ import annotations

import subprocess
import sys


def test_doctor_reports_every_encoder_and_the_path() -> None:
    out = subprocess.run([sys.executable, "-m", "rfb.doctor"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    for cap in ("webcodecs/h264-annexb", "image/jpeg", "image/png", "image/webp"):
        assert cap in out
    assert "NVENC" in out and "serve() would take" in out
    assert "NumPy frames" in out
