"""HTTP requests and replies as plain values, so that rfb's endpoints are written once and
served by every front-end: rfb's own aiohttp server (routes.py) and ASGI apps (asgi.py).

No I/O here beyond reading a request's body through the callable its front-end gives.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy

MAX_BODY_BYTES = 64 * 1024  # the largest body any endpoint reads (a WHEP offer)


async def _no_body() -> bytes:
    return b""


@dataclass(frozen=True)
class HttpRequest:
    """One request, as the endpoints see it, whatever server received it.

    ``root``: where rfb's routes are mounted ("" on rfb's own port, "/rfb" under a
    prefix); ``path``: the rest ("" for the bare prefix, else starting with "/").
    ``scheme`` is "http" or "https", ``host`` the Host header: with them a request
    knows the origin it reached (the WebSocket's own page).
    """

    method: str
    root: str
    path: str
    query_string: str = ""
    headers: CIMultiDictProxy[str] = field(
        default_factory=lambda: CIMultiDictProxy(CIMultiDict())
    )
    scheme: str = "http"
    host: str = ""
    remote: tuple[str, int] | None = None
    read_body: Callable[[], Awaitable[bytes]] = _no_body
    websocket: bool | None = None  # known to be a WebSocket handshake (ASGI says so)

    @property
    def full_path(self) -> str:
        """The path as the client sent it, prefix included."""
        return self.root + self.path

    @property
    def path_qs(self) -> str:
        qs = self.query_string
        return f"{self.full_path}?{qs}" if qs else self.full_path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    @property
    def cookies(self) -> dict[str, str]:
        cookie = SimpleCookie()
        for header in self.headers.getall("Cookie", []):
            try:
                cookie.load(header)
            except CookieError:
                continue  # a malformed Cookie header hides its cookies, nothing more
        return {k: m.value for k, m in cookie.items()}

    @property
    def upgrade(self) -> bool:
        """A WebSocket upgrade (on ASGI: a ``websocket`` scope)."""
        if self.websocket is not None:
            return self.websocket
        return self.headers.get("Upgrade", "").lower() == "websocket"

    @property
    def origin(self) -> str | None:
        return self.headers.get("Origin")

    @property
    def own_origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    def with_query(self, url: str) -> str:
        """``url`` with this request's query string (a redirect that keeps ``?token=``)."""
        return f"{url}?{self.query_string}" if self.query_string else url


def headers_from(pairs: Iterable[tuple[str, str]]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


@dataclass
class HttpReply:
    """What an endpoint answers: a status, headers and the whole body."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)

    def set_header(self, name: str, value: str) -> None:
        lower = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lower]
        self.headers.append((name, value))

    def all_headers(self) -> list[tuple[str, str]]:
        """Headers to send, Content-Type included."""
        if self.content_type is None:
            return list(self.headers)
        ct = self.content_type
        if ct.startswith("text/") or ct == "application/json":
            ct += "; charset=utf-8"
        return [("Content-Type", ct), *self.headers]


def text(body: str, status: int = 200, content_type: str = "text/plain",
         headers: Mapping[str, str] | None = None) -> HttpReply:  # fmt: skip
    return HttpReply(status, body.encode(), content_type, list((headers or {}).items()))


def json_reply(value: Any, status: int = 200, indent: int | None = None) -> HttpReply:
    return HttpReply(status, json.dumps(value, indent=indent).encode(), "application/json")


def redirect(location: str) -> HttpReply:
    return HttpReply(302, b"", None, [("Location", location)])


def not_found(reason: str = "not found") -> HttpReply:
    return text(reason + "\n", 404)
