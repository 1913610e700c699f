"""Where the repository and the tests' data files are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
FIXTURES = ROOT / "tests" / "fixtures"
PDUM_FIXTURES = FIXTURES / "pdum-rfb-0.x"
SHARED_PDUM_FIXTURES = ROOT.parent / "shared" / "compat" / "pdum-rfb-0.x" / "fixtures"
