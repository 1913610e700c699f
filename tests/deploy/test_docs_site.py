"""The documentation site (mkdocs.yml) builds with `mkdocs build --strict`: a broken link,
a missing page, image or anchor, or an API reference mkdocstrings cannot resolve fails
it. The built site carries the API reference generated from the docstrings (with the
option dataclasses' fields), the generated options table, its search index, and nothing
a reader's browser would fetch from elsewhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_site_builds_strict_with_the_api_reference(tmp_path: Path) -> None:
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's end-of-life banner
    )  # fmt: skip
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"

    api = (site / "reference" / "api" / "index.html").read_text()
    for name in ("serve", "serve_in_thread", "serve_server", "serve_options", "Server",
                 "Display", "InputEvent", "AuthContext", "ViewOnly", "StreamOptions",
                 "ServerOptions", "IceConfig"):  # fmt: skip
        assert f'id="rfb.{name}"' in api, f"rfb.{name} is missing from the API reference"
    # The option dataclasses' fields, each with the doc its option() carries.
    assert 'id="rfb.StreamOptions.max_viewers"' in api
    assert 'id="rfb.StreamOptions.keyframe_interval_s"' in api
    assert 'id="rfb.ServerOptions.origins"' in api
    assert "RFB_MAX_VIEWERS" in api
    assert "viewers on all transports" in api

    integrations = (site / "reference" / "integrations" / "index.html").read_text()
    assert 'id="rfb.rendercanvas.RfbRenderCanvas"' in integrations
    assert 'id="rfb.notebook.RfbViewer"' in integrations

    options = (site / "reference" / "options" / "index.html").read_text()
    assert re.search(r"<td><code>max_viewers</code></td>\s*<td><code>64</code></td>", options)

    index = json.loads((site / "search" / "search_index.json").read_text())
    assert any("serve_in_thread" in doc["text"] for doc in index["docs"])
    assert (site / "images" / "demo.png").stat().st_size > 10_000

    # Offline: no page loads a script, stylesheet or font from another host.
    for page in site.rglob("*.html"):
        html = page.read_text()
        remote = re.findall(r"<(?:script|link)\b[^>]*(?:src|href)=\"(?:https?:)?//[^\"]+\"", html)
        assert not remote, f"{page.relative_to(site)} loads {remote}"
