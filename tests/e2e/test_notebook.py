"""The notebook widget in real JupyterLab and Notebook 7: a cell serves a stream and shows
``display.widget()``; Chromium draws the test card in the output, a click reaches
``poll_events()`` in the kernel, and re-running the cell closes the old stream's port."""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from support.browser import wait_for
from support.pixels import assert_test_card
from support.servers import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

FRAME_W, FRAME_H = 320, 240

CELL = """\
import asyncio, json
import rfb
from rfb import patterns

display = await rfb.serve({w}, {h}, port=0)
render = patterns.make("test_card", {w}, {h})

async def run(d):
    i = 0
    while not d.closed:
        try:
            d.publish(render(i))
        except RuntimeError:  # closed meanwhile (the cell was re-run)
            break
        for e in d.poll_events():
            with open({events!r}, "a") as f:
                f.write(json.dumps({{"port": d.port, **e.event}}) + "\\n")
        i += 1
        await asyncio.sleep(1 / 30)

task = asyncio.get_running_loop().create_task(run(display))
with open({ports!r}, "a") as f:
    f.write(f"{{display.port}}\\n")
display.widget(height={h})
"""


# The same stream again, through jupyter-server-proxy on JupyterLab's own origin.
PROXY_CELL = "display.widget(base_path='proxy', height={h})"


def notebook(*cells: str) -> dict[str, Any]:
    return {
        "cells": [
            {"cell_type": "code", "id": f"rfb-cell-{i}", "metadata": {}, "source": cell,
             "outputs": [], "execution_count": None}
            for i, cell in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


# The two Jupyter front-ends: (module to run, its app class, the notebook page's path).
FRONTENDS = {
    "jupyterlab": ("jupyterlab", "LabApp", "lab/tree"),
    "notebook7": ("notebook", "JupyterNotebookApp", "notebooks"),
}


class Lab:
    def __init__(self, root: Path, frontend: str = "jupyterlab") -> None:
        self.root = root
        self.module, self.app, self.page_path = FRONTENDS[frontend]
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        dirs = {name: self.root / name for name in ("config", "runtime", "settings", "workspaces", "data")}
        for d in dirs.values():
            d.mkdir()
        # No news toast or update check over the notebook (they would also reach the network).
        notify = dirs["settings"] / "@jupyterlab" / "apputils-extension"
        notify.mkdir(parents=True)
        (notify / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(dirs["config"]),
               "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
               "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
               "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
               "JUPYTER_DATA_DIR": str(dirs["data"]), "JUPYTER_PLATFORM_DIRS": "1"}  # fmt: skip
        self.log = open(self.root / "lab.log", "wb")  # noqa: SIM115 (closed in stop())
        args = [sys.executable, "-m", self.module, "--no-browser", "--ip=127.0.0.1",
                f"--port={self.port}", f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}", f"--{self.app}.expose_app_in_browser=True",
                "--ServerApp.port_retries=0"]  # fmt: skip
        if os.geteuid() == 0:  # CI machines run as root
            args.append("--allow-root")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # fmt: skip

    async def wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                assert self.proc is not None and self.proc.poll() is None, self.tail()
                try:
                    async with http.get(f"{self.url}/api/status?token={self.token}") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"JupyterLab did not start: {self.tail()}")
                await asyncio.sleep(0.2)

    def tail(self) -> str:
        path = self.root / "lab.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the server stops its kernels
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


@pytest_asyncio.fixture(loop_scope="module", params=sorted(FRONTENDS))
async def lab(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Lab]:
    """JupyterLab, then Notebook 7, each in its own temp dir with its own token."""
    pytest.importorskip(FRONTENDS[request.param][0], reason="needs the dev extra: pip install -e '.[dev]'")
    pytest.importorskip("anywidget", reason="needs the notebook extra")
    server = Lab(tmp_path, request.param)
    server.start()
    try:
        await server.wait_up()
        yield server
    finally:
        server.stop()


async def run_cell(page: Any) -> None:
    """Run the notebook's cell once the kernel is really idle (a run sent before is lost)."""
    await wait_for(page, """(() => {
        const w = window.jupyterapp?.shell?.currentWidget;
        return w?.sessionContext?.session?.kernel?.status === 'idle';
    })()""", timeout=60)  # fmt: skip
    await page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


async def widget_frames(page: Any) -> list[int]:
    """Frames drawn by each live widget on the page."""
    return list(await page.evaluate(
        "[...document.querySelectorAll('.rfb-widget')].map(w => w.parentElement.rfbView)"
        ".filter(v => v && v.state !== 'closed').map(v => v.stats?.framesDisplayed ?? 0)"
    ))  # fmt: skip


async def both_widgets_draw(page: Any) -> None:
    async with asyncio.timeout(30):
        while not ((f := await widget_frames(page)) and len(f) == 2 and min(f) > 3):
            await asyncio.sleep(0.1)


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def test_widget_in_jupyter_shows_pixels_takes_input_and_rerun_closes(browser, lab) -> None:
    events, ports = lab.root / "events.jsonl", lab.root / "ports.txt"
    cell = CELL.format(w=FRAME_W, h=FRAME_H, events=str(events), ports=str(ports))
    pytest.importorskip("jupyter_server_proxy", reason="needs the dev extra")
    proxy_cell = PROXY_CELL.format(h=FRAME_H)
    (lab.root / "rfb.ipynb").write_text(json.dumps(notebook(cell, proxy_cell)))
    ctx = await browser.new_context(viewport={"width": 1100, "height": 800})
    page = await ctx.new_page()
    try:
        await page.goto(f"{lab.url}/{lab.page_path}/rfb.ipynb?token={lab.token}")
        await run_cell(page)
        await wait_for(page, "document.querySelector('.rfb-widget')", timeout=60)
        await both_widgets_draw(page)
        (first_port,) = [int(p) for p in lines(ports)]
        urls = await page.evaluate(
            "[...document.querySelectorAll('.rfb-widget')].map(w => w.parentElement.rfbView.opts.url)"
        )
        assert urls[0].startswith(f"ws://127.0.0.1:{first_port}/?rfb_key=")
        assert urls[1].startswith(f"{lab.url.replace('http', 'ws')}/proxy/{first_port}/?rfb_key=")

        # The output's canvas, as Chromium drew it: the test card, letterboxed (contain).
        canvas = page.locator(".rfb-widget canvas").first
        box = await canvas.bounding_box()
        assert box is not None and abs(box["height"] - FRAME_H) <= 1
        shot = await canvas.screenshot()
        img = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"))
        scale = min(img.shape[1] / FRAME_W, img.shape[0] / FRAME_H)
        dw, dh = FRAME_W * scale, FRAME_H * scale
        x0, y0 = (img.shape[1] - dw) / 2, (img.shape[0] - dh) / 2
        pts = [(x0 + dw / 4, y0 + dh / 4), (x0 + 3 * dw / 4, y0 + dh / 4),
               (x0 + dw / 4, y0 + 3 * dh / 4), (x0 + 3 * dw / 4, y0 + 3 * dh / 4)]  # fmt: skip
        colours = [tuple(int(c) for c in img[int(y), int(x)]) for x, y in pts]
        assert_test_card(colours, tol=10)
        assert x0 > 20 and img[int(img.shape[0] / 2), 5].max() < 30, "contain: black bars beside it"

        # A click at frame pixel (80, 60) reaches poll_events() in the kernel. (The
        # screenshot scrolled the output into view: measure the canvas again.)
        box = await canvas.bounding_box()
        assert box is not None
        css = box["width"] / img.shape[1]
        await page.mouse.click(box["x"] + (x0 + 80 * scale) * css, box["y"] + (y0 + 60 * scale) * css)
        async with asyncio.timeout(10):
            while not any('"pointer_down"' in line for line in events.read_text().splitlines()
                          if events.exists()):  # fmt: skip
                await asyncio.sleep(0.1)
        down = next(json.loads(line) for line in events.read_text().splitlines()
                    if '"pointer_down"' in line)  # fmt: skip
        assert down["port"] == first_port
        assert abs(down["x"] - 80) <= 1 and abs(down["y"] - 60) <= 1

        # Re-running the cell closes the old stream (its port is free) and shows the new one.
        await run_cell(page)
        async with asyncio.timeout(30):
            while len(lines(ports)) < 2:
                await asyncio.sleep(0.1)
        second_port = int(lines(ports)[1])
        assert second_port != first_port
        async with asyncio.timeout(10):
            while not await refused(first_port):
                await asyncio.sleep(0.1)
        await both_widgets_draw(page)
        metrics_url = f"http://127.0.0.1:{second_port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(metrics_url) as r:
            metrics = await r.json()
        codecs = [v["codec"] for v in metrics["viewers"]]
        assert codecs == ["webcodecs/h264-annexb"] * 2, "the two new widgets watch, in H.264"
    except BaseException:
        await page.screenshot(path=str(lab.root / "failure.png"))
        outputs = await page.evaluate(
            "[...document.querySelectorAll('.jp-OutputArea')].map(o => o.innerText).join('\\n')"
        )
        print("cell outputs:", outputs, "\nJupyterLab log:", lab.tail(), sep="\n")
        raise
    finally:
        await ctx.close()
