"""Which web origins may open a viewer connection. Sans I/O: the server asks per request.

A page on any site can open a WebSocket to ``ws://localhost:8765`` or POST a WHEP offer
to it; the browser sends that page's ``Origin`` and leaves the decision to the server
(cross-site WebSocket hijacking). So by default only the server's own origin (the scheme
and ``Host`` of the request itself: the demo page) is let in. ``origins=[...]`` adds
others and ``["*"]`` lets every origin in. A request without ``Origin`` does not come
from a web page (the Python client, curl), so it is let in, as in pdum.rfb.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

log = logging.getLogger("rfb")

ANY = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, the scheme's default port left out.

    Raises ``ValueError`` for anything that is not an origin (a path, no host)."""
    parts = urlsplit(origin.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an origin (want scheme://host[:port]): {origin!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"an origin has no path, query or user: {origin!r}")
    host = parts.hostname
    if ":" in host:  # IPv6
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class OriginPolicy:
    """The origins a server lets in besides its own."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        allowed = list(allowed)
        self.any = ANY in allowed
        self.allowed = frozenset(normalise(o) for o in allowed if o != ANY)
        self._keys: set[str] = set()
        if self.any:
            log.warning(
                "rfb: origins=['*']: any web page the viewer's browser opens may watch "
                "this stream and send it input"
            )

    def issue_key(self) -> str:
        """A new key that lets a page in from any origin (see the module's note)."""
        key = secrets.token_urlsafe(18)
        self._keys.add(key)
        return key

    def _known_key(self, key: str) -> bool:
        given = key.encode("utf-8", "surrogatepass")
        return any(hmac.compare_digest(given, k.encode()) for k in self._keys)

    def allows(self, origin: str | None, own: str, key: str | None = None) -> bool:
        """``origin``: the request's ``Origin`` header (None: none). ``own``: the
        server's origin as this request reached it (scheme://Host). ``key``: the
        request's ``rfb_key``, if any."""
        if origin is None or self.any:
            return True
        if key and self._known_key(key):
            return True
        try:
            theirs = normalise(origin)
        except ValueError:
            return False  # "null" (a sandboxed frame, a file:// page) or garbage
        return theirs in self.allowed or theirs == _own(own)

    def cors_origin(self, origin: str) -> str:
        """The ``Access-Control-Allow-Origin`` value for a request ``allows`` let in."""
        return ANY if self.any else origin


def _own(own: str) -> str:
    try:
        return normalise(own)
    except ValueError:
        return own
