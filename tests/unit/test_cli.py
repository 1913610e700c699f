"""The demo server's command line (rfb/cli.py), before it serves anything."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_cli_gpu_without_cupy_names_the_extra() -> None:
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    r = subprocess.run([sys.executable, "-m", "rfb.server", "--gpu", "--port", "0"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "rfb[gpu]" in r.stderr


def test_cli_refuses_relay_rungs_that_are_not_rungs() -> None:
    r = subprocess.run([sys.executable, "-m", "rfb.server", "--port", "0",
                        "--relay-rtp", "rtp://127.0.0.1:5004", "--relay-rungs", "0,x"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "rungs are numbers like 0,2,4" in r.stderr
