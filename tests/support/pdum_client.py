"""pdum.rfb 0.3.0's own browser client (its anywidget module, static/widget.js), read from
its wheel on PyPI, to check that its users' viewers work against rfb unchanged.

The wheel is fetched once with pip into .cache/pdum/ (scripts/test does it up front); the
tests only read the file out of it and never add it to this repository.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "pdum"
REQUIREMENT = "habemus-papadum-rfb==0.3.0"
WIDGET = "pdum/rfb/static/widget.js"


def wheel() -> Path:
    found = sorted(CACHE.glob("habemus_papadum_rfb-0.3.0-*.whl"))
    if found:
        return found[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.12",  # it asks for 3.12+; the file read is plain JS
         "-d", str(CACHE), REQUIREMENT],
        check=True,
    )  # fmt: skip
    return sorted(CACHE.glob("habemus_papadum_rfb-0.3.0-*.whl"))[0]


def widget_js() -> str:
    with zipfile.ZipFile(wheel()) as z:
        return z.read(WIDGET).decode("utf-8")
