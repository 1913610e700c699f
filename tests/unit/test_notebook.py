"""display.widget() (rfb/notebook.py) before its stream is served says so. (The widget's
traits and key over sockets: tests/integration/test_widget.py; in JupyterLab and marimo:
tests/e2e/.)"""

from __future__ import annotations

import pytest

import rfb

pytest.importorskip("anywidget", reason="needs the notebook extra: pip install -e '.[dev]'")


def test_widget_before_serving_says_so() -> None:
    server = rfb.Server()
    cam = server.add_stream("cam", 64, 48)
    with pytest.raises(RuntimeError, match="not served yet"):
        cam.widget()
