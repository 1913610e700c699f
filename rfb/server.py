"""The aiohttp application: one port for viewers, the demo page, health and metrics.

``python -m rfb.server`` runs the demo server (see rfb/cli.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from . import exposition, protocol
from .access import Access, bearer_token
from .origins import OriginPolicy
from .transports import websocket
from .transports.common import auth_context

if TYPE_CHECKING:
    from .display import Display

log = logging.getLogger("rfb")

STATIC_DIR = Path(__file__).parent / "static"

_NOTE = """<!doctype html>
<html><head><meta charset="utf-8"><title>rfb</title></head>
<body style="font-family: sans-serif">
<h1>rfb</h1>
<p>This server streams frames over the WebSocket at <code id="u"></code>.</p>
<p>The browser client is not bundled in this build.</p>
<script>document.getElementById("u").textContent =
  (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";</script>
</body></html>
"""


def _is_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _guarded(request: web.Request) -> bool:
    """Requests that open a viewer: WebSocket upgrades on any path, and WHEP."""
    return _is_upgrade(request) or request.path == "/whep" or request.path.startswith("/whep/")


def origin_middleware(
    policy: OriginPolicy, on_refused: Callable[[], None] = lambda: None
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Refuse viewer connections from web pages on origins the policy does not allow:
    403 before the upgrade or the offer, so nothing is sent to them."""

    @web.middleware
    async def check_origin(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not _guarded(request):
            return await handler(request)
        origin = request.headers.get("Origin")
        own = f"{request.scheme}://{request.host}"
        if not policy.allows(origin, own):
            log.info("rfb: refused %s %s from origin %s", request.method, request.path, origin)
            on_refused()
            return web.Response(
                status=403,
                text=f"origin {origin} is not allowed (serve(origins=[...]) allows others)\n",
            )
        resp = await handler(request)
        cors = not resp.prepared and "Access-Control-Allow-Origin" in resp.headers
        if origin is not None and cors:
            # Name the page's origin rather than "*": only allowed origins reach here.
            resp.headers["Access-Control-Allow-Origin"] = policy.cors_origin(origin)
            resp.headers.add("Vary", "Origin")
        return resp

    return check_origin


_WEBRTC_META = '<meta name="rfb-webrtc" content="">'


def demo_page(webrtc: bool) -> str | None:
    """The demo page, told whether this server serves WHEP (so "auto" need not probe)."""
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        return None
    html = index.read_text(encoding="utf-8")
    return html.replace(_WEBRTC_META, _WEBRTC_META.replace('""', '"/whep"')) if webrtc else html


def make_app(display: Display) -> web.Application:
    def origin_refused() -> None:
        display.refused["origin"] += 1

    policy = OriginPolicy(display.config.origins)
    app = web.Application(middlewares=[origin_middleware(policy, origin_refused)])

    async def root(request: web.Request) -> web.StreamResponse:
        if _is_upgrade(request):
            return await websocket.handle(request, display)
        page = demo_page(display.webrtc is not None)
        if page is None:
            return web.Response(text=_NOTE, content_type="text/html")
        return web.Response(text=page, content_type="text/html",
                            headers={"Cache-Control": "no-cache"})  # fmt: skip

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics(request: web.Request) -> web.Response:
        accept = request.headers.get("Accept", "")
        if exposition.wants_prometheus(accept, request.query.get("format")):
            try:
                body, content_type = exposition.render(display, accept)
            except RuntimeError as exc:  # prometheus_client missing: say which package
                raise web.HTTPNotImplemented(text=str(exc)) from None
            resp = web.Response(body=body)
            resp.headers["Content-Type"] = content_type
            return resp
        return web.json_response(display.metrics(), dumps=lambda o: json.dumps(o, indent=1))

    async def recorded(request: web.Request) -> web.Response:
        if not display.config.record_events:
            raise web.HTTPNotFound(text="start the server with record_events=True")
        return web.json_response(list(display.recorded))

    async def recorded_reset(request: web.Request) -> web.Response:
        if not display.config.record_events:
            raise web.HTTPNotFound(text="start the server with record_events=True")
        display.recorded.clear()
        return web.json_response({"ok": True})

    async def unknown(request: web.Request) -> web.StreamResponse:
        if _is_upgrade(request):
            return await websocket.reject(
                request, protocol.CLOSE_UNKNOWN_PATH, f"unknown stream path {request.path}"
            )
        raise web.HTTPNotFound()

    if display.config.transport == "webrtc":
        from . import signaling
        from .transports.webrtc import WebRtcSessions

        display.webrtc = WebRtcSessions(
            display, display.config.ice, max_sessions=display.config.max_webrtc_sessions
        )
        async def admit(request: web.Request) -> Access | None:
            token = bearer_token(request.headers.get("Authorization"))
            access = await display.access.admit(
                auth_context(request, token=token, transport="webrtc")
            )
            if access is None:
                display.refused["unauthorized"] += 1
            return access

        signaling.add_routes(app, display.webrtc, display.config.ice, admit=admit)
    else:

        async def no_webrtc(request: web.Request) -> web.Response:
            raise web.HTTPNotFound(text="this server does not serve WebRTC (transport='websocket')")

        app.router.add_route("*", "/whep", no_webrtc)
        app.router.add_route("*", "/whep/{id}", no_webrtc)

    app.router.add_get("/", root)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/recorded-events", recorded)
    app.router.add_route("*", "/recorded-events/reset", recorded_reset)
    if STATIC_DIR.is_dir():
        app.router.add_static("/static/", STATIC_DIR, append_version=False)
    app.router.add_get("/{tail:.*}", unknown)
    return app


if __name__ == "__main__":
    from .cli import main

    main()
