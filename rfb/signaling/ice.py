"""ICE server configuration: STUN/TURN URLs and TURN credentials.

Nothing is baked in: with no configuration a peer gathers host candidates only (the
machine may be offline). TURN credentials are either static or time-limited, minted with
the TURN REST scheme that coturn's ``use-auth-secret`` checks:
username ``"<expiry unix time>:<user>"``, password ``base64(HMAC-SHA1(secret, username))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def turn_rest_credentials(
    secret: str, user: str = "rfb", ttl_s: int = 86400, now: float | None = None
) -> tuple[str, str]:
    """(username, password) valid for ``ttl_s`` seconds, for coturn's use-auth-secret."""
    expiry = int((time.time() if now is None else now) + ttl_s)
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class IceServer:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            d["username"] = self.username
        if self.credential is not None:
            d["credential"] = self.credential
        return d


@dataclass(frozen=True, slots=True)
class IceConfig:
    """Where peers look for candidates, and which addresses they may use.

    ``stun_urls``/``turn_urls``: e.g. ``stun:stun.example.org:3478``,
    ``turn:turn.example.org:3478?transport=udp``. TURN authenticates with
    ``turn_secret`` (time-limited REST credentials, preferred) or a static
    ``turn_username``/``turn_password``.
    ``host_addresses``: the local addresses the server gathers host candidates on (None:
    every non-loopback interface, aioice's default). ``allowed_remote_networks``: when set,
    remote candidates and connectivity checks from any other address are ignored (CIDRs,
    e.g. ``127.0.0.0/8`` in tests).
    """

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_username: str | None = None
    turn_password: str | None = None
    turn_user: str = "rfb"
    turn_ttl_s: int = 86400
    host_addresses: tuple[str, ...] | None = None
    allowed_remote_networks: tuple[str, ...] | None = None
    # Drop the browser's mDNS (*.local) host candidates instead of resolving them (aiortc
    # waits about a second per resolution); its checks reveal its address anyway.
    strip_mdns_candidates: bool = True
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def servers(self) -> list[IceServer]:
        """ICE servers with fresh credentials (call per session: TURN REST ones expire)."""
        out: list[IceServer] = []
        if self.stun_urls:
            out.append(IceServer(tuple(self.stun_urls)))
        if self.turn_urls:
            user: str | None
            password: str | None
            if self.turn_secret:
                user, password = turn_rest_credentials(
                    self.turn_secret, self.turn_user, self.turn_ttl_s, self.clock()
                )
            else:
                user, password = self.turn_username, self.turn_password
            out.append(IceServer(tuple(self.turn_urls), user, password))
        return out

    def link_headers(self) -> list[str]:
        """WHEP ``Link: <url>; rel="ice-server"`` headers (RFC 8840 style attributes)."""
        out = []
        for server in self.servers():
            for url in server.urls:
                value = f'<{url}>; rel="ice-server"'
                if server.username is not None:
                    value += f'; username="{server.username}"; credential="{server.credential}"'
                    value += '; credential-type="password"'
                out.append(value)
        return out


def parse_csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())
