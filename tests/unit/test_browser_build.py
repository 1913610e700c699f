"""The committed browser bundle and fixtures are what the sources produce."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from support import browser_fixtures
from support.paths import ROOT

BROWSER = ROOT / "browser"


def test_committed_bundle_matches_a_fresh_build() -> None:
    if shutil.which("node") is None or not (BROWSER / "node_modules").is_dir():
        pytest.fail("browser/node_modules is missing: run `npm ci` in browser/ (scripts/test does)")
    r = subprocess.run(
        ["node", "build.mjs", "--check"], cwd=BROWSER, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr + r.stdout


def test_python_fixtures_for_the_browser_tests_are_current() -> None:
    assert browser_fixtures.OUT.read_text(encoding="utf-8") == browser_fixtures.render(), (
        "run: python tests/support/browser_fixtures.py"
    )
    codes = browser_fixtures.CLOSE_CODES.read_text(encoding="utf-8")
    assert codes == browser_fixtures.render_close_codes(), "run: python tests/support/browser_fixtures.py"


def test_static_files_are_packaged() -> None:
    static = ROOT / "rfb" / "static"
    for name in ("index.html", "rfb.js", "rfb-worker.js"):
        assert (static / name).is_file(), name
    assert "./static/rfb.js" in (static / "index.html").read_text()
