"""WHEP (WebRTC-HTTP Egress Protocol) resources, answered as plain HTTP values.

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

from ..http_messages import HttpReply, HttpRequest
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
    """What one WHEP URL serves: its sessions, its ICE servers, and who may play.

    ``admit(request)`` decides who may play (e.g. from its ``Authorization: Bearer``
    header): it returns a grant, handed to ``sessions.create``, or None for 401.
    """

    sessions: SessionFactory
    ice: IceConfig
    admit: Callable[[HttpRequest], Awaitable[Any]] | None = None


def _error(exc: WhepError, ice: IceConfig) -> HttpReply:
    reply = HttpReply(exc.status, (exc.reason + "\n").encode(), "text/plain",
                      _headers(ice if exc.status != 401 else IceConfig()))  # fmt: skip
    if exc.status == 401:
        reply.headers.append(("WWW-Authenticate", 'Bearer realm="rfb"'))
    return reply


def _cors_only(status: int, body: str = "", allow: str | None = None) -> HttpReply:
    reply = HttpReply(status, body.encode(), "text/plain" if body else None, list(_CORS.items()))
    if allow is not None:
        reply.headers.append(("Allow", allow))
    return reply


async def respond(
    endpoint: WhepEndpoint | None, request: HttpRequest, session_id: str | None
) -> HttpReply:
    """Answer one WHEP request: on the endpoint's URL (``session_id`` None) or on one
    session's resource. ``endpoint`` None: nothing is served there (404).

    A session's resource URL is unguessable and is its own credential for DELETE, as
    WHEP servers commonly do: only the player that made the session learns it.
    """
    if endpoint is None:
        return HttpReply(404, b"no WHEP here: no such stream, or it serves no WebRTC\n",
                         "text/plain")  # fmt: skip
    method = request.method.upper()
    if session_id is None:
        if method == "POST":
            return await _post(endpoint, request)
        if method == "OPTIONS":
            accept = {"Accept-Post": "application/sdp"}
            return HttpReply(204, b"", None, _headers(endpoint.ice, accept))
        return _cors_only(405, "a WHEP endpoint takes POST (an SDP offer)\n", "POST, OPTIONS")
    if method == "DELETE":
        if not await endpoint.sessions.delete(session_id):
            return _error(WhepError(404, "no such session"), endpoint.ice)
        return _cors_only(200)
    if method == "PATCH":
        return _cors_only(405, "trickle ICE is not supported: send a complete offer\n",
                          "DELETE, OPTIONS")  # fmt: skip
    if method == "OPTIONS":
        return _cors_only(204, allow="DELETE, OPTIONS")
    return _cors_only(405, "a WHEP session takes DELETE\n", "DELETE, OPTIONS")


async def _post(ep: WhepEndpoint, request: HttpRequest) -> HttpReply:
    try:
        grant = await ep.admit(request) if ep.admit is not None else None
        if ep.admit is not None and grant is None:
            raise WhepError(401, "missing or wrong bearer token")
        body = await request.read_body()
        offer = check_offer(request.headers.get("Content-Type", ""), body)
        session_id, answer = await ep.sessions.create(offer, grant)
    except WhepError as exc:
        return _error(exc, ep.ice)
    # full_path: with any prefix the routes are mounted under.
    location = {"Location": f"{request.full_path}/{session_id}", "ETag": f'"{session_id}"'}
    return HttpReply(201, answer.encode(), "application/sdp", _headers(ep.ice, location))
