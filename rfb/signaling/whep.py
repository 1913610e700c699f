"""WHEP (WebRTC-HTTP Egress Protocol) resources on an aiohttp application.

No media code: the routes validate requests and hand offers to a ``SessionFactory``
(rfb.transports.webrtc provides one), then shape the HTTP answers the draft asks for:
``POST .../whep`` (application/sdp offer) -> 201 with the SDP answer and a ``Location`` for
the session resource, ``DELETE`` on that resource ends the session, ``PATCH`` (trickle
ICE) answers 405, ``OPTIONS`` and CORS for cross-origin players, ICE servers as
``Link: <...>; rel="ice-server"`` headers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from .ice import IceConfig

MAX_OFFER_BYTES = 64 * 1024
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, PATCH, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Patch",
}


class WhepError(Exception):
    """A request the server refuses: ``status`` (4xx) and a human reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class SessionFactory(Protocol):
    async def create(self, offer_sdp: str, grant: Any = None) -> tuple[str, str]:
        """Answer an offer from a player ``admit`` let in (``grant``: what it returned):
        returns (session id, SDP answer). Raises WhepError."""
        ...

    async def delete(self, session_id: str) -> bool:
        """End a session; False when there is no such session."""
        ...


def check_offer(content_type: str, body: bytes) -> str:
    """Validate a WHEP offer and return it as text, or raise WhepError."""
    if content_type.split(";")[0].strip().lower() != "application/sdp":
        raise WhepError(415, "the offer must be sent with Content-Type: application/sdp")
    if len(body) > MAX_OFFER_BYTES:
        raise WhepError(413, f"offer larger than {MAX_OFFER_BYTES} bytes")
    try:
        sdp = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WhepError(400, "the offer is not UTF-8 text") from None
    if not sdp.startswith("v=0"):
        raise WhepError(400, "the body is not an SDP offer (it must start with v=0)")
    sections = re.split(r"\r?\n(?=m=)", sdp)
    video = [s for s in sections if s.startswith("m=video")]
    if not video:
        raise WhepError(400, "the offer has no video media section")
    directions = set(re.findall(r"^a=(sendrecv|recvonly|sendonly|inactive)\s*$", video[0], re.M))
    if directions & {"sendonly", "inactive"}:
        raise WhepError(400, "the offer's video section must be recvonly (a player receives)")
    if not re.search(r"^a=rtpmap:\d+ H264/90000", video[0], re.M | re.I):
        raise WhepError(400, "the offer does not accept H.264 video, the only codec served")
    return sdp


def _headers(ice: IceConfig, extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
    headers = list(_CORS.items()) + [("Link", link) for link in ice.link_headers()]
    if extra:
        headers += list(extra.items())
    return headers


@dataclass(frozen=True)
class WhepEndpoint:
    """What one WHEP URL serves: its sessions, its ICE servers, and who may play."""

    sessions: SessionFactory
    ice: IceConfig
    admit: Callable[[web.Request], Awaitable[Any]] | None = None


def add_routes(
    app: web.Application,
    resolve: Callable[[web.Request], WhepEndpoint | None],
    *,
    path: str = "/whep",
) -> None:
    """Serve WHEP at ``path`` (sessions at ``path/<id>``); ``path`` may hold route
    variables (``/{name}/whep``) that ``resolve`` reads to find the endpoint (None: 404).

    An endpoint's ``admit(request)`` decides who may play (e.g. from its ``Authorization:
    Bearer`` header): it returns a grant, handed to ``sessions.create``, or None for 401.
    A session's resource URL is unguessable and is its own credential for DELETE, as
    WHEP servers commonly do: only the player that made the session learns it.
    """

    def error(exc: WhepError, ice: IceConfig) -> web.Response:
        resp = web.Response(status=exc.status, text=exc.reason + "\n")
        for k, v in _headers(ice if exc.status != 401 else IceConfig()):
            resp.headers.add(k, v)
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="rfb"'
        return resp

    def endpoint(request: web.Request) -> WhepEndpoint:
        found = resolve(request)
        if found is None:
            raise web.HTTPNotFound(text="no WHEP here: no such stream, or it serves no WebRTC\n")
        return found

    async def post(request: web.Request) -> web.Response:
        ep = endpoint(request)
        try:
            grant = await ep.admit(request) if ep.admit is not None else None
            if ep.admit is not None and grant is None:
                raise WhepError(401, "missing or wrong bearer token")
            offer = check_offer(request.headers.get("Content-Type", ""), await request.read())
            session_id, answer = await ep.sessions.create(offer, grant)
        except WhepError as exc:
            return error(exc, ep.ice)
        resp = web.Response(status=201, text=answer, content_type="application/sdp")
        # request.path is the whole path, with any prefix the app is mounted under.
        location = {"Location": f"{request.path}/{session_id}", "ETag": f'"{session_id}"'}
        for k, v in _headers(ep.ice, location):
            resp.headers.add(k, v)
        return resp

    async def options(request: web.Request) -> web.Response:
        ep = endpoint(request)
        resp = web.Response(status=204)
        for k, v in _headers(ep.ice, {"Accept-Post": "application/sdp"}):
            resp.headers.add(k, v)
        return resp

    async def delete(request: web.Request) -> web.Response:
        ep = endpoint(request)
        if not await ep.sessions.delete(request.match_info["id"]):
            return error(WhepError(404, "no such session"), ep.ice)
        resp = web.Response(status=200)
        for k, v in _CORS.items():
            resp.headers[k] = v
        return resp

    async def patch(request: web.Request) -> web.Response:
        endpoint(request)
        resp = web.Response(
            status=405, text="trickle ICE is not supported: send a complete offer\n"
        )
        resp.headers["Allow"] = "DELETE, OPTIONS"
        for k, v in _CORS.items():
            resp.headers[k] = v
        return resp

    async def session_options(request: web.Request) -> web.Response:
        endpoint(request)
        resp = web.Response(status=204)
        resp.headers["Allow"] = "DELETE, OPTIONS"
        for k, v in _CORS.items():
            resp.headers[k] = v
        return resp

    app.router.add_post(path, post)
    app.router.add_route("OPTIONS", path, options)
    app.router.add_delete(path + "/{id}", delete)
    app.router.add_route("PATCH", path + "/{id}", patch)
    app.router.add_route("OPTIONS", path + "/{id}", session_options)
