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
