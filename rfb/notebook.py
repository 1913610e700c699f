"""The notebook widget (the ``notebook`` extra: anywidget): a stream in a cell output.

    display = await rfb.serve(640, 480, port=0)
    display.widget()                  # JupyterLab, Notebook 7, VS Code, marimo, Colab

The widget is rfb's browser client (``RemoteFramebufferView``) in the output. Pixels and
input travel over the stream's own WebSocket (or WebRTC), never the kernel's comm, which
only carries where to connect and a little state back (``state``, ``stats``,
``last_error``). The page reaches the stream's port directly (``host``/``port``), through
a proxy on the notebook's own origin (``base_path``; ``"proxy"`` is jupyter-server-proxy's
``/proxy/<port>``, below JupyterHub's prefix where there is one), or at an explicit
``url``; the kernel gives the widget a key that lets it past the origin check from
whatever origin the notebook runs at.

Re-running a cell closes the displays that cell showed last time (its stream, and with
``serve()`` its port), so cells can be re-run without leaking servers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import anywidget
    import traitlets
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "rfb's notebook widget needs the 'notebook' extra: pip install 'rfb[notebook]' "
        f"(missing: {exc.name})"
    ) from None


if TYPE_CHECKING:
    from .display import Display

log = logging.getLogger("rfb")

WIDGET_JS = Path(__file__).parent / "static" / "widget.js"

_CSS = """
.rfb-widget { display: flex; flex-direction: column; gap: 4px; width: 100%; }
.rfb-widget .rfb-frame { width: 100%; background: #000; }
.rfb-widget .rfb-frame:focus-within { outline: 2px solid #4a90d9; outline-offset: -2px; }
.rfb-widget .rfb-status { font: 12px/1.4 ui-monospace, monospace; opacity: 0.75; }
.rfb-widget .rfb-toolbar { display: flex; gap: 6px; font-size: 12px; }
"""


class RfbCanvas(anywidget.AnyWidget):  # type: ignore[misc]
    """The stream's canvas alone, filling the cell's width (pdum.rfb's name and traits).

    Connection traits (``url``, ``host``, ``base_path``, ``port``, ``stream``, ``token``,
    ``image_only``, ``transport``) are read when the view connects: changing one
    reconnects. ``height`` is the output's height in CSS pixels.
    """

    _esm = WIDGET_JS
    _css = _CSS

    url = traitlets.Unicode("").tag(sync=True)  # wins over host/port/base_path
    host = traitlets.Unicode("auto").tag(sync=True)  # "auto": the page's own hostname
    base_path = traitlets.Unicode("").tag(sync=True)  # same-origin proxy path
    port = traitlets.Int(0).tag(sync=True)
    stream = traitlets.Unicode("default").tag(sync=True)
    token = traitlets.Unicode("").tag(sync=True)
    image_only = traitlets.Bool(False).tag(sync=True)
    transport = traitlets.Unicode("websocket").tag(sync=True)  # or "webrtc", "auto"
    secure = traitlets.Bool(False).tag(sync=True)  # wss:// (the server has TLS)
    key = traitlets.Unicode("").tag(sync=True)  # lets the page past the origin check
    fit = traitlets.Unicode("").tag(sync=True)  # "contain" (default), "cover", "fill"
    background = traitlets.Unicode("").tag(sync=True)  # letterbox colour
    height = traitlets.Int(480).tag(sync=True)
    show_toolbar = traitlets.Bool(False).tag(sync=True)
    show_stats = traitlets.Bool(False).tag(sync=True)
    # read back from the page
    state = traitlets.Unicode("connecting").tag(sync=True)
    stats = traitlets.Dict().tag(sync=True)
    last_error = traitlets.Unicode("").tag(sync=True)


class RfbViewer(RfbCanvas):
    """The canvas with a toolbar (fit, full screen) and a line of figures under it."""

    show_toolbar = traitlets.Bool(True).tag(sync=True)
    show_stats = traitlets.Bool(True).tag(sync=True)


def widget_for(
    display: Display,
    *,
    batteries: bool = True,
    base_path: str | None = None,
    host: str | None = None,
    url: str | None = None,
    **traits: Any,
) -> RfbCanvas:
    """See ``Display.widget``."""
    if display.closed:
        raise RuntimeError(f"display {display.name!r} is closed: serve a new one")
    server = display.server
    if display.stream.loop is None:
        raise RuntimeError("the display is not served yet: await rfb.serve(...) first")
    config = display.options
    values: dict[str, Any] = {
        "stream": display.name,
        "port": server.port,
        "secure": server.ssl_context is not None,
        "key": server.origins.issue_key(),
        "transport": "auto" if config.transport == "webrtc" else "websocket",
        "token": config.token or "",  # the kernel's user owns the stream
    }
    if url is not None:
        values["url"] = url
    elif base_path is not None:
        if base_path == "proxy":  # jupyter-server-proxy on the notebook's own server
            hub = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
            base_path = f"{hub.rstrip('/')}/proxy/{server.port}"
        values["base_path"] = base_path
    elif server.mounted_at is not None:  # in an app: where the app serves it
        values["url"] = display.ws_url
    else:
        chosen = host if host is not None else server.host
        # A server on every interface: the page connects to the host it was loaded from.
        values["host"] = "auto" if chosen in ("0.0.0.0", "::", "") else chosen
    values.update(traits)
    cls = RfbViewer if batteries else RfbCanvas
    w = cls(**values)
    _cells.shown(display)
    return w


class _CellRegistry:
    """Which displays each notebook cell showed, so that re-running the cell closes them.

    A cell is known by the cell id the notebook sends with each execution (JupyterLab,
    Notebook 7 and VS Code send one), else by its source text.
    """

    def __init__(self) -> None:
        self._by_cell: dict[str, list[Display]] = {}
        self._hooked: Any = None
        self._closing: set[asyncio.Task[None]] = set()

    def _shell(self) -> Any:
        ipython = sys.modules.get("IPython")
        return ipython.get_ipython() if ipython is not None else None

    def _cell(self, shell: Any, info: Any = None) -> str | None:
        kernel = getattr(shell, "kernel", None)
        parent: dict[str, Any] = {}
        if kernel is not None:
            try:
                parent = kernel.get_parent() or {}
            except Exception:  # an older kernel without get_parent()
                parent = getattr(kernel, "_parent_header", {}) or {}
        cell_id = (parent.get("metadata") or {}).get("cellId") or getattr(info, "cell_id", None)
        if cell_id:
            return f"id:{cell_id}"
        source = getattr(info, "raw_cell", None)
        if source is None:
            history = shell.user_ns.get("In") or [""]
            source = history[-1]
        return f"source:{hash(source)}" if source else None

    def shown(self, display: Display) -> None:
        shell = self._shell()
        if shell is None:
            return  # not in IPython (a script, marimo): nothing re-runs cells here
        if self._hooked is not shell:
            shell.events.register("pre_run_cell", self._pre_run_cell)
            self._hooked = shell
        cell = self._cell(shell)
        if cell is not None:
            shown = self._by_cell.setdefault(cell, [])
            if display not in shown:
                shown.append(display)

    def _pre_run_cell(self, info: Any = None) -> None:
        cell = self._cell(self._shell(), info)
        for display in self._by_cell.pop(cell, []) if cell else []:
            try:
                self._retire(display)
            except Exception:
                log.exception("rfb: closing the display %r of a re-run cell", display.name)

    def _retire(self, display: Display) -> None:
        """Close a display now: its port (serve()) or its name is free before the cell
        runs again; viewers and encoders finish closing in the background."""
        if display.closed:
            return
        server = display.server
        if not display.stream.on_loop_thread:
            display.close()  # serve_in_thread(): blocks until done, on the server's loop
            return
        if display.owns_server:
            server.stop_listening()
            make: Callable[[], Any] = display.aclose
        else:
            task = server.remove_stream(display.name)  # the name is free at once
            if task is None:
                return

            async def make() -> None:
                await task

        closing = asyncio.get_running_loop().create_task(make())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)


_cells = _CellRegistry()
