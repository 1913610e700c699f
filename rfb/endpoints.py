"""rfb's HTTP endpoints, written once for every front-end (routes.py: aiohttp; asgi.py).

``answer(directory, request)`` routes one request and returns an ``HttpReply``, or, for
a WebSocket upgrade, what to do with the socket: ``OpenViewer`` (serve that stream) or
``RefuseViewer`` (accept, then close with an application code such as 4404).

Paths, relative to where the routes are mounted (``/`` on rfb's own port, or a prefix
such as ``/rfb`` inside someone else's app):

- ``/`` and ``/<name>`` (also ``/<name>/``): the WebSocket of the ``default`` stream or of
  stream ``name`` (an upgrade), else its demo page; an unknown name closes 4404 (404).
  The bare prefix (``/rfb``) is the default stream's WebSocket, or a redirect to ``/rfb/``;
- ``/whep`` and ``/<name>/whep`` (sessions at ``.../whep/<id>``): WHEP, where the stream
  serves WebRTC;
- ``/streams``: the streams, as JSON; ``/streams/<name>/metrics`` and ``/<name>/metrics``:
  one stream's figures;
- ``/health``; ``/metrics`` (JSON, or Prometheus text for a scraper); ``/recorded-events``
  and ``/<name>/recorded-events`` (with ``record_events``); ``/static/...``: the client.

The figures (``/streams``, ``/metrics``, ``/<name>/metrics``) and recorded events of a
stream with a token or an ``authenticate`` hook need a credential (metrics_access.py says
which); ``/health`` is always open.

Viewer connections (upgrades and WHEP) from web pages on origins the server does not
allow get 403 before anything is sent (see origins.py).
"""

from __future__ import annotations

import hashlib
import html
import logging
import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import metrics_access, prometheus, protocol
from .access import Access, bearer_token
from .http_messages import HttpReply, HttpRequest, json_reply, not_found, redirect, text
from .origins import OriginPolicy
from .signaling import IceConfig, WhepEndpoint
from .signaling import respond as whep_respond
from .stream import DEFAULT_STREAM, Stream
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
    """Where the endpoints find streams (a Server)."""

    ice: IceConfig
    origins: OriginPolicy
    metrics_token: str | None  # a scraper's credential for every stream's figures

    def get(self, name: str) -> Stream | None: ...

    def all(self) -> Iterable[Stream]: ...

    def origin_refused(self, stream: Stream | None) -> None: ...


@dataclass(frozen=True)
class OpenViewer:
    """Accept the upgrade and serve ``stream``; its WHEP (told in config) at ``whep_path``."""

    stream: Stream
    whep_path: str | None


@dataclass(frozen=True)
class RefuseViewer:
    """Accept the upgrade only to close it with ``code`` (a browser sees no HTTP status)."""

    code: int
    reason: str


Answer = HttpReply | OpenViewer | RefuseViewer


def guarded(request: HttpRequest) -> bool:
    """Requests that open a viewer: WebSocket upgrades on any path, and WHEP offers. A
    WHEP session's resource (``.../whep/<id>``) is not: its unguessable URL is its own
    credential, known only to the page that made the session."""
    return request.upgrade or request.path.endswith("/whep")


def _stream_named_in(path: str) -> str:
    """The stream a path is about, before routing (for counting a refused origin)."""
    first = path.strip("/").split("/")[0]
    return DEFAULT_STREAM if first in ("", "whep") else first


def _refused_origin(directory: Directory, request: HttpRequest, name: str) -> HttpReply | None:
    """403 for a viewer connection from a web page on an origin not allowed, else None."""
    origin = request.origin
    if directory.origins.allows(origin, request.own_origin, request.query.get("rfb_key")):
        return None
    log.info("rfb: refused %s %s from origin %s", request.method, request.full_path, origin)
    directory.origin_refused(directory.get(name))
    return text(f"origin {origin} is not allowed (serve(origins=[...]) allows others)\n", 403)


def viewer_for(directory: Directory, request: HttpRequest, name: str) -> Answer:
    """A WebSocket upgrade for stream ``name`` on a path of the app's choosing (ASGI
    endpoints a user routes themselves): origin-checked; no WHEP is told."""
    refused = _refused_origin(directory, request, name)
    if refused is not None:
        return refused
    stream = directory.get(name)
    if stream is None:
        return RefuseViewer(protocol.CLOSE_UNKNOWN_PATH, f"unknown stream {name!r}")
    return OpenViewer(stream, None)


async def answer(directory: Directory, request: HttpRequest) -> Answer:
    """Route and answer one request (origin check first, for viewer connections)."""
    if not guarded(request):
        return await _route(directory, request)
    refused = _refused_origin(directory, request, _stream_named_in(request.path))
    if refused is not None:
        return refused
    origin, policy = request.origin, directory.origins
    result = await _route(directory, request)
    if origin is not None and isinstance(result, HttpReply) and result.header(
        "Access-Control-Allow-Origin"
    ):
        # Name the page's origin rather than "*": only allowed origins reach here.
        result.set_header("Access-Control-Allow-Origin", policy.cors_origin(origin))
        result.headers.append(("Vary", "Origin"))
    return result


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


_GET = ("GET", "HEAD")


def _method_not_allowed(allow: str) -> HttpReply:
    return text("method not allowed\n", 405, headers={"Allow": allow})


async def _route(d: Directory, request: HttpRequest) -> Answer:
    path = request.path
    if path == "":  # the bare prefix: /rfb, not /rfb/
        if request.upgrade:
            return _viewer(d, DEFAULT_STREAM, request.root)
        return redirect(request.with_query(request.root + "/"))
    parts = path[1:].split("/")
    # WHEP first: any method, and a session resource below it.
    if len(parts) >= 1 and "whep" in parts[:2]:
        at = parts.index("whep")
        name = DEFAULT_STREAM if at == 0 else parts[0]
        rest = parts[at + 1 :]
        if (at == 0 or (at == 1 and parts[0])) and len(rest) <= 1:
            session = rest[0] if rest else None
            if session != "":
                endpoint = _whep_endpoint(d, name)
                return await whep_respond(endpoint, request, session)
    if parts[0] == "recorded-events" or (len(parts) > 1 and parts[1] == "recorded-events"):
        return await _recorded(d, request, parts)
    if request.method.upper() not in _GET:
        if request.upgrade:
            return RefuseViewer(protocol.CLOSE_UNKNOWN_PATH, f"unknown stream path {path}")
        return _method_not_allowed("GET, HEAD")
    if parts == [""]:
        return _viewer_or_page(d, request, DEFAULT_STREAM, "")
    head = parts[0]
    if len(parts) == 1 and not request.upgrade:
        if head == "health":
            return text("ok")
        if head == "metrics":
            return await _all_metrics(d, request)
        if head == "streams":
            # A listing for pages (the demo's stream switcher) too: it leaves out what
            # the request may not read, and never refuses.
            shown = await _readable(d, request, list(d.all()), refuse=False)
            assert not isinstance(shown, HttpReply)
            return json_reply([s.info() for s in shown])
    if head == "static" and len(parts) > 1 and not request.upgrade:
        return _static(request, "/".join(parts[1:]))
    if head == "streams" and len(parts) == 3 and parts[2] == "metrics":
        return await _one_metrics(d, request, parts[1])
    if len(parts) == 2 and parts[1] == "metrics" and not request.upgrade:
        return await _one_metrics(d, request, head)
    if head and (len(parts) == 1 or parts[1:] == [""]):
        return _viewer_or_page(d, request, head, head + ("/" if len(parts) == 2 else ""))
    if request.upgrade:
        return RefuseViewer(protocol.CLOSE_UNKNOWN_PATH, f"unknown stream path {path}")
    return not_found()


def _viewer(d: Directory, name: str, ws_path: str) -> OpenViewer | RefuseViewer:
    """``ws_path``: the WebSocket's full path, whose ``/whep`` is the stream's WHEP."""
    stream = d.get(name)
    if stream is None:
        return RefuseViewer(protocol.CLOSE_UNKNOWN_PATH, f"unknown stream {name!r}")
    whep = ws_path.rstrip("/") + "/whep" if stream.webrtc is not None else None
    return OpenViewer(stream, whep)


def _viewer_or_page(d: Directory, request: HttpRequest, name: str, rel: str) -> Answer:
    """``rel``: the part of the path after the routes' root (``cam/`` of ``/rfb/cam/``)."""
    if request.upgrade:
        return _viewer(d, name, request.full_path)
    stream = d.get(name)
    base = request.root + "/"
    if stream is None and name != DEFAULT_STREAM:
        return not_found(f"unknown stream {name!r}")
    if stream is None and (first := next(iter(d.all()), None)) is not None:
        # No default stream: the root's page is the first stream's (it lists the rest).
        return redirect(request.with_query(f"{base}{first.name}/"))
    stream_path = "" if name == DEFAULT_STREAM else name
    served = stream is not None and stream.webrtc is not None
    whep = (stream_path + "/whep").lstrip("/") if served else None
    page = demo_page(base, stream_path, whep)
    if page is None:
        return text(_NOTE, content_type="text/html")
    return text(page, content_type="text/html", headers={"Cache-Control": "no-cache"})


def _metrics_reply(streams: list[Stream], request: HttpRequest, body: Any) -> HttpReply:
    accept = request.headers.get("Accept", "")
    if prometheus.wants_prometheus(accept, request.query.get("format")):
        try:
            data, content_type = prometheus.render(streams, accept)
        except RuntimeError as exc:  # prometheus_client missing: say which package
            return text(f"{exc}\n", 501)
        return HttpReply(200, data, None, [("Content-Type", content_type)])
    return json_reply(body() if callable(body) else body, indent=1)


async def _readable(d: Directory, request: HttpRequest, streams: list[Stream], *,
                    refuse: bool = True) -> list[Stream] | HttpReply:  # fmt: skip
    """The streams whose figures ``request`` may read, or the 401 that refuses it (only
    with ``refuse``)."""
    bearer = bearer_token(request.headers.get("Authorization"))
    verdicts: list[metrics_access.Verdict] = []
    for stream in streams:
        v = metrics_access.verdict(stream.access, d.metrics_token, bearer)
        if v == "ask_hook":
            ctx = auth_context(request, token=bearer, transport="metrics", stream=stream.name)
            access = await stream.access.admit(ctx)
            v = "granted" if access is not None and not access.view_only else "refused"
        verdicts.append(v)
    if refuse and metrics_access.refuse_listing(verdicts, bearer is not None):
        # Nothing about the streams: not their names, not how many are closed.
        challenge = metrics_access.challenge(bearer is not None)
        return text("unauthorized\n", 401, headers={"WWW-Authenticate": challenge,
                                                    "Cache-Control": "no-store"})  # fmt: skip
    return [s for s, v in zip(streams, verdicts, strict=True) if v != "refused"]


async def _one_metrics(d: Directory, request: HttpRequest, name: str) -> HttpReply:
    stream = d.get(name)
    if stream is None:
        return not_found(f"unknown stream {name!r}")
    shown = await _readable(d, request, [stream])
    if isinstance(shown, HttpReply):
        return shown
    return _metrics_reply([stream], request, stream.metrics)


async def _all_metrics(d: Directory, request: HttpRequest) -> HttpReply:
    shown = await _readable(d, request, list(d.all()))
    if isinstance(shown, HttpReply):
        return shown
    every = shown

    def body() -> dict[str, Any]:
        # The default stream's figures at the top (what one-stream tools read), and every
        # stream's under "streams" (those this request may read).
        default = next((s for s in every if s.name == DEFAULT_STREAM), None)
        out: dict[str, Any] = default.metrics() if default is not None else {}
        out["streams"] = {s.name: (s.metrics() if s is not default else "(above)")
                          for s in every}  # fmt: skip
        return out

    return _metrics_reply(every, request, body)


async def _recorded(d: Directory, request: HttpRequest, parts: list[str]) -> HttpReply:
    at = parts.index("recorded-events")
    name = DEFAULT_STREAM if at == 0 else parts[0]
    rest = parts[at + 1 :]
    if rest not in ([], ["reset"]):
        return not_found()
    stream = d.get(name)
    if stream is None or not stream.options.record_events:
        return not_found("start the stream with record_events=True")
    # What the drivers typed: the same credential as the stream's figures.
    shown = await _readable(d, request, [stream])
    if isinstance(shown, HttpReply):
        return shown
    if rest == ["reset"]:
        stream.inputs.recorded.clear()
        return json_reply({"ok": True})
    if request.method.upper() not in _GET:
        return _method_not_allowed("GET, HEAD")
    return json_reply(list(stream.inputs.recorded))


def _static(request: HttpRequest, rel: str) -> HttpReply:
    root = STATIC_DIR.resolve()
    try:
        path = (root / rel).resolve()
    except (OSError, ValueError):
        return not_found()
    if root not in path.parents or not path.is_file():
        return not_found()
    data = path.read_bytes()
    etag = '"' + hashlib.sha1(data, usedforsecurity=False).hexdigest()[:16] + '"'
    headers = [("ETag", etag), ("Cache-Control", "no-cache")]
    if request.headers.get("If-None-Match") == etag:
        return HttpReply(304, b"", None, headers)
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type in ("application/javascript", "text/javascript"):
        content_type = "text/javascript"
    return HttpReply(200, data, content_type, headers)


def _whep_endpoint(d: Directory, name: str) -> WhepEndpoint | None:
    stream = d.get(name)
    if stream is None or stream.webrtc is None:
        return None
    chosen = stream

    async def admit(request: HttpRequest) -> Access | None:
        token = bearer_token(request.headers.get("Authorization"))
        access = await chosen.access.admit(
            auth_context(request, token=token, transport="webrtc", stream=chosen.name)
        )
        if access is None:
            chosen.refused["unauthorized"] += 1
        return access

    return WhepEndpoint(stream.webrtc, d.ice, admit)  # type: ignore[arg-type]
