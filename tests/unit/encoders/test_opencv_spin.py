"""OpenCV's worker threads: rfb has them wait asleep between frames rather than spin
(rfb/encoders/convert.py), unless the program said otherwise or loaded OpenCV first."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("cv2", reason="OpenCV is the fast extra")

PROBE = """
import os, sys
from rfb.encoders import convert
assert convert.load_cv2() is not None
print(",".join(os.environ.get(n, "-") for n in convert._NO_ACTIVE_WAIT))
"""


def _settings(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_THREAD_POOL")}
    clean.pop("RFB_NO_OPENCV", None)
    done = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env},
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def test_rfb_turns_the_spin_off_when_it_loads_opencv() -> None:
    assert _settings({}) == "0,0,0"


def test_what_the_program_set_is_kept() -> None:
    assert _settings({"OPENCV_THREAD_POOL_ACTIVE_WAIT_WORKER": "500"}) == "0,500,0"
