"""The notebook widget in marimo (``mo.ui.anywidget(display.widget())``), served by
``marimo run``: Chromium draws the test card in the cell's output and a click reaches
``poll_events()`` in the notebook's process."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from support.pixels import assert_test_card
from support.servers import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

W, H = 320, 240
APP = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import json, threading, time
    import marimo as mo
    import rfb
    from rfb import patterns

    display = rfb.serve_in_thread({w}, {h}, port=0)
    render = patterns.make("test_card", {w}, {h})

    def run():
        i = 0
        while not display.closed:
            try:
                display.publish(render(i))
            except RuntimeError:
                break
            for e in display.poll_events():
                with open({events!r}, "a") as f:
                    f.write(json.dumps(e.event) + "\\n")
            i += 1
            time.sleep(1 / 30)

    threading.Thread(target=run, daemon=True).start()
    return display, mo


@app.cell
def _(display, mo):
    view = mo.ui.anywidget(display.widget(height={h}))
    view
    return
'''

# marimo puts widgets in shadow roots: find ours through them.
VIEWS = """(() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList?.contains('rfb-widget')) out.push(el.parentElement?.rfbView);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return out.filter(Boolean).map(v => [v.state, v.stats?.framesDisplayed ?? 0]);
})()"""


@pytest_asyncio.fixture(loop_scope="module")
async def marimo_app(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    pytest.importorskip("marimo", reason="needs the dev extra: pip install -e '.[dev]'")
    events = tmp_path / "events.jsonl"
    app = tmp_path / "app.py"
    app.write_text(APP.format(w=W, h=H, events=str(events)))
    port = free_port()
    log = open(tmp_path / "marimo.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "marimo", "run", str(app), "--headless", "--host", "127.0.0.1",
         "--port", str(port), "--no-token"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MARIMO_SKIP_UPDATE_CHECK": "1"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        async with asyncio.timeout(60), aiohttp.ClientSession() as http:
            while True:
                assert proc.poll() is None, (tmp_path / "marimo.log").read_text()[-2000:]
                try:
                    async with http.get(url) as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        yield url, events
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def test_widget_in_marimo_shows_pixels_and_takes_a_click(browser, marimo_app) -> None:
    url, events = marimo_app
    ctx = await browser.new_context(viewport={"width": 1000, "height": 700})
    page = await ctx.new_page()
    try:
        await page.goto(url)
        async with asyncio.timeout(60):
            while not ((v := await page.evaluate(VIEWS)) and v[0][0] == "negotiated" and v[0][1] > 3):
                await asyncio.sleep(0.2)
        canvas = page.locator(".rfb-widget canvas").first
        img = np.asarray(Image.open(io.BytesIO(await canvas.screenshot())).convert("RGB"))
        scale = min(img.shape[1] / W, img.shape[0] / H)
        dw, dh = W * scale, H * scale
        x0, y0 = (img.shape[1] - dw) / 2, (img.shape[0] - dh) / 2
        pts = [(x0 + dw / 4, y0 + dh / 4), (x0 + 3 * dw / 4, y0 + dh / 4),
               (x0 + dw / 4, y0 + 3 * dh / 4), (x0 + 3 * dw / 4, y0 + 3 * dh / 4)]  # fmt: skip
        assert_test_card([tuple(int(c) for c in img[int(y), int(x)]) for x, y in pts], tol=10)
        box = await canvas.bounding_box()
        assert box is not None
        css = box["width"] / img.shape[1]
        await page.mouse.click(box["x"] + (x0 + 80 * scale) * css, box["y"] + (y0 + 60 * scale) * css)
        async with asyncio.timeout(10):
            while not (events.exists() and '"pointer_down"' in events.read_text()):
                await asyncio.sleep(0.1)
        down = next(json.loads(line) for line in events.read_text().splitlines()
                    if '"pointer_down"' in line)  # fmt: skip
        assert abs(down["x"] - 80) <= 1 and abs(down["y"] - 60) <= 1
    finally:
        await ctx.close()
