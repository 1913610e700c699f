"""The aiohttp routes of a server: viewers, the demo page, streams, health and metrics.

Paths, relative to where the routes are mounted (``/`` on rfb's own port, or a prefix
such as ``/rfb`` inside someone else's aiohttp app):

- ``/`` and ``/<name>`` (also ``/<name>/``): the WebSocket of the ``default`` stream or of
  stream ``name`` (an upgrade), else its demo page; an unknown name closes 4404 (404);
- ``/whep`` and ``/<name>/whep`` (sessions at ``.../whep/<id>``): WHEP, where the stream
  serves WebRTC;
- ``/streams``: the streams, as JSON; ``/streams/<name>/metrics`` and ``/<name>/metrics``:
  one stream's figures;
- ``/health``; ``/metrics`` (JSON, or Prometheus text for a scraper); ``/recorded-events``
  (the default stream's, with ``record_events``); ``/static/...``: the browser client.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from . import exposition, protocol
from .access import Access, bearer_token
from .origins import OriginPolicy
from .signaling import IceConfig, WhepEndpoint
from .signaling import add_routes as add_whep_routes
from .stream import DEFAULT_STREAM, Stream
from .transports import websocket
from .transports.common import auth_context

log = logging.getLogger("rfb")

STATIC_DIR = Path(__file__).parent / "static"

_NOTE = """<!doctype html>
<html><head><meta charset="utf-8"><title>rfb</title><link rel="icon" href="data:,"></head>
<body style="font-family: sans-serif">
<h1>rfb</h1>
<p>This server streams frames over the WebSocket at <code id="u"></code>.</p>
<p>The browser client is not bundled in this build.</p>
<script>document.getElementById("u").textContent =
  (location.protocol === "https:" ? "wss://" : "ws://") + location.host + location.pathname;
</script>
</body></html>
"""


class Directory(Protocol):
    """Where the routes find streams (a Server)."""

    ice: IceConfig
    origins: OriginPolicy

    def get(self, name: str) -> Stream | None: ...

    def all(self) -> Iterable[Stream]: ...

    def origin_refused(self, stream: Stream | None) -> None: ...


def is_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _is_whep(path: str) -> bool:
    return path.endswith("/whep") or "/whep/" in path


def _guarded(request: web.Request) -> bool:
    """Requests that open a viewer: WebSocket upgrades on any path, and WHEP."""
    return is_upgrade(request) or _is_whep(request.path)


def origin_middleware(
    policy: OriginPolicy, on_refused: Callable[[web.Request], None] = lambda r: None
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
            on_refused(request)
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


_BASE = '<meta charset="utf-8">'
_STREAM_META = '<meta name="rfb-stream" content="">'
_WEBRTC_META = '<meta name="rfb-webrtc" content="">'


def demo_page(base: str, stream: str, whep: str | None) -> str | None:
    """The demo page for one stream. ``base``: the routes' root path (``/`` or the mount
    prefix with a slash); ``stream``: the stream's WebSocket path relative to it ("" for
    the default stream); ``whep``: its WHEP path relative to it, None when not served
    (so "auto" need not probe)."""
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        return None
    page = index.read_text(encoding="utf-8")
    attr = html.escape
    page = page.replace(_BASE, f'{_BASE}\n<base href="{attr(base)}">', 1)
    page = page.replace(_STREAM_META, _STREAM_META.replace('""', f'"{attr(stream)}"'))
    if whep is not None:
        page = page.replace(_WEBRTC_META, _WEBRTC_META.replace('""', f'"{attr(whep)}"'))
    return page


def _base(request: web.Request, tail: str) -> str:
    """The routes' root path, with its slash, from a request whose path ends with ``tail``
    (``/rfb/cam/`` less ``cam/``)."""
    path = request.path[: len(request.path) - len(tail)]
    return path if path.endswith("/") else path + "/"


def _with_query(url: str, request: web.Request) -> str:
    return f"{url}?{request.query_string}" if request.query_string else url


def add_routes(app: web.Application, directory: Directory) -> None:
    """rfb's routes on ``app`` (a fresh one, or a sub-application mounted at a prefix)."""

    def find(name: str) -> Stream:
        stream = directory.get(name)
        if stream is None:
            raise web.HTTPNotFound(text=f"unknown stream {name!r}\n")
        return stream

    async def viewer_or_page(request: web.Request, name: str, rel: str) -> web.StreamResponse:
        stream = directory.get(name)
        if is_upgrade(request):
            if stream is None:
                return await websocket.reject(
                    request, protocol.CLOSE_UNKNOWN_PATH, f"unknown stream {name!r}"
                )
            whep = request.path.rstrip("/") + "/whep" if stream.webrtc is not None else None
            return await websocket.handle(request, stream, whep_path=whep)
        base = _base(request, rel)
        if stream is None and name != DEFAULT_STREAM:
            raise web.HTTPNotFound(text=f"unknown stream {name!r}\n")
        if stream is None and (first := next(iter(directory.all()), None)) is not None:
            # No default stream: the root's page is the first stream's (it lists the rest).
            raise web.HTTPFound(_with_query(f"{base}{first.name}/", request))
        stream_path = "" if name == DEFAULT_STREAM else name
        served = stream is not None and stream.webrtc is not None
        whep = (stream_path + "/whep").lstrip("/") if served else None
        page = demo_page(base, stream_path, whep)
        if page is None:
            return web.Response(text=_NOTE, content_type="text/html")
        return web.Response(text=page, content_type="text/html",
                            headers={"Cache-Control": "no-cache"})  # fmt: skip

    async def root(request: web.Request) -> web.StreamResponse:
        return await viewer_or_page(request, DEFAULT_STREAM, "")

    async def named(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        rel = name + "/" if request.path.endswith("/") else name
        return await viewer_or_page(request, name, rel)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def streams(request: web.Request) -> web.Response:
        return web.json_response([s.info() for s in directory.all()])

    def stream_metrics(stream: Stream, request: web.Request) -> web.Response:
        accept = request.headers.get("Accept", "")
        if exposition.wants_prometheus(accept, request.query.get("format")):
            return _prometheus([stream], accept)
        return web.json_response(stream.metrics(), dumps=lambda o: json.dumps(o, indent=1))

    async def metrics(request: web.Request) -> web.Response:
        accept = request.headers.get("Accept", "")
        every = list(directory.all())
        if exposition.wants_prometheus(accept, request.query.get("format")):
            return _prometheus(every, accept)
        # The default stream's figures at the top (what one-stream tools read), and every
        # stream's under "streams".
        default = directory.get(DEFAULT_STREAM)
        body: dict[str, Any] = default.metrics() if default is not None else {}
        body["streams"] = {s.name: (s.metrics() if s is not default else "(above)")
                           for s in every}  # fmt: skip
        return web.json_response(body, dumps=lambda o: json.dumps(o, indent=1))

    async def one_stream_metrics(request: web.Request) -> web.Response:
        return stream_metrics(find(request.match_info["name"]), request)

    def recording(request: web.Request) -> Stream:
        stream = directory.get(request.match_info.get("name", DEFAULT_STREAM))
        if stream is None or not stream.config.record_events:
            raise web.HTTPNotFound(text="start the stream with record_events=True")
        return stream

    async def recorded(request: web.Request) -> web.Response:
        return web.json_response(list(recording(request).inputs.recorded))

    async def recorded_reset(request: web.Request) -> web.Response:
        recording(request).inputs.recorded.clear()
        return web.json_response({"ok": True})

    async def unknown(request: web.Request) -> web.StreamResponse:
        if is_upgrade(request):
            return await websocket.reject(
                request, protocol.CLOSE_UNKNOWN_PATH, f"unknown stream path {request.path}"
            )
        raise web.HTTPNotFound()

    def whep_endpoint(request: web.Request) -> WhepEndpoint | None:
        stream = directory.get(request.match_info.get("name", DEFAULT_STREAM))
        if stream is None or stream.webrtc is None:
            return None
        chosen = stream

        async def admit(request: web.Request) -> Access | None:
            token = bearer_token(request.headers.get("Authorization"))
            access = await chosen.access.admit(
                auth_context(request, token=token, transport="webrtc", stream=chosen.name)
            )
            if access is None:
                chosen.refused["unauthorized"] += 1
            return access

        return WhepEndpoint(stream.webrtc, directory.ice, admit)  # type: ignore[arg-type]

    r = app.router
    add_whep_routes(app, whep_endpoint, path="/whep")
    add_whep_routes(app, whep_endpoint, path="/{name}/whep")
    r.add_get("/", root)
    r.add_get("/health", health)
    r.add_get("/metrics", metrics)
    r.add_get("/streams", streams)
    r.add_get("/streams/{name}/metrics", one_stream_metrics)
    r.add_get("/recorded-events", recorded)
    r.add_route("*", "/recorded-events/reset", recorded_reset)
    if STATIC_DIR.is_dir():
        r.add_static("/static/", STATIC_DIR, append_version=False)
    r.add_get("/{name}/metrics", one_stream_metrics)
    r.add_get("/{name}/recorded-events", recorded)
    r.add_route("*", "/{name}/recorded-events/reset", recorded_reset)
    r.add_get("/{name}", named)
    r.add_get("/{name}/", named)
    r.add_get("/{tail:.*}", unknown)


def _prometheus(streams: list[Stream], accept: str) -> web.Response:
    try:
        body, content_type = exposition.render(streams, accept)
    except RuntimeError as exc:  # prometheus_client missing: say which package
        raise web.HTTPNotImplemented(text=str(exc)) from None
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = content_type
    return resp


def make_app(directory: Directory) -> web.Application:
    """An aiohttp application serving ``directory``'s streams: rfb's own port, or a
    sub-application to mount under a prefix."""

    def refused(request: web.Request) -> None:
        directory.origin_refused(_stream_of(directory, request))

    app = web.Application(middlewares=[origin_middleware(directory.origins, refused)])
    add_routes(app, directory)
    return app


def bare_prefix_handler(
    directory: Directory, prefix: str
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """For the parent app of a mount, the prefix itself (``/rfb``, no slash), which the
    sub-application does not match: the default stream's WebSocket (origin-checked like
    every upgrade), and for a page a redirect to ``/rfb/``."""

    def refused(request: web.Request) -> None:
        directory.origin_refused(directory.get(DEFAULT_STREAM))

    check = origin_middleware(directory.origins, refused)

    async def inner(request: web.Request) -> web.StreamResponse:
        if not is_upgrade(request):
            raise web.HTTPFound(_with_query(prefix + "/", request))
        stream = directory.get(DEFAULT_STREAM)
        if stream is None:
            return await websocket.reject(
                request, protocol.CLOSE_UNKNOWN_PATH, f"unknown stream {DEFAULT_STREAM!r}"
            )
        whep = prefix + "/whep" if stream.webrtc is not None else None
        return await websocket.handle(request, stream, whep_path=whep)

    async def handler(request: web.Request) -> web.StreamResponse:
        return await check(request, inner)

    return handler


def _stream_of(directory: Directory, request: web.Request) -> Stream | None:
    """The stream a guarded request is for, before routing (for counting a refusal)."""
    name = request.match_info.get("name") if request.match_info else None
    return directory.get(name or DEFAULT_STREAM)
