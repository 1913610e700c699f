"""Who may watch and who may drive: the authentication hook, tokens and view-only access.

``serve(authenticate=hook)`` calls ``hook(ctx: AuthContext)`` once per viewer, before any
frame, on both transports. It returns a principal (any object; it rides on every
``InputEvent`` of that viewer), ``ViewOnly(principal)`` to let the viewer watch but not
drive, ``Access(principal, can_take_control=True)`` to let it take a stream's control
floor from other viewers (a teacher, an operator), or ``None`` to refuse (close 4401 on
the WebSocket, 401 on WHEP). A hook that raises refuses too, and the exception is
logged. The simple case needs no hook: ``token=`` (may drive) and ``view_token=`` (may
watch), compared in constant time.

No I/O here: transports build the context from what they received and act on the answer.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("rfb")


@dataclass(frozen=True, slots=True)
class AuthContext:
    """What the hook may look at (the names pdum.rfb's ``AuthContext`` uses).

    ``token``: from the WebSocket ``hello``, or WHEP's ``Authorization: Bearer`` header.
    ``headers``: the HTTP request's headers (the WebSocket upgrade, or the WHEP offer);
    ``cookies`` parsed from them. ``path`` with its query string, ``query`` parsed.
    ``remote``: the peer's (host, port) where known. ``hello``: the WebSocket hello as
    sent (None on WHEP). ``stream``: the stream's name (``"default"`` for ``serve()``).
    ``transport``: ``"websocket"`` or ``"webrtc"``; ``"metrics"`` for a request to read
    the stream's figures (``/metrics``, ``/streams``: admitted as a driver, it may; see
    metrics_access.py).
    """

    token: str | None = None
    headers: Mapping[str, str] | None = None
    cookies: Mapping[str, str] | None = None
    path: str | None = None
    query: Mapping[str, str] | None = None
    remote: tuple[str, int] | None = None
    hello: dict[str, Any] | None = None
    stream: str = "default"
    transport: str = "websocket"


@dataclass(frozen=True, slots=True)
class ViewOnly:
    """Returned by an ``authenticate`` hook: admit this principal to watch, not to drive."""

    principal: Any = None


@dataclass(frozen=True, slots=True)
class Access:
    """What one admitted viewer may do; an ``authenticate`` hook may return one.

    ``view_only``: it watches, its input is never delivered. ``can_take_control``: on a
    stream with ``control="exclusive"``, its request takes the floor at once from another
    viewer (not from the application); ignored for a view-only viewer. The principal's
    display name (what ``display.viewers`` and the other viewers are shown) is
    ``display_name(principal)``."""

    principal: Any = None
    view_only: bool = False
    can_take_control: bool = False

    @property
    def name(self) -> str | None:
        return display_name(self.principal)


MAX_DISPLAY_NAME = 64


def display_name(principal: Any) -> str | None:
    """A principal's display name: a str principal itself; else its ``display_name`` or
    ``name`` (attribute, or key of a mapping) where that is a str; cut to 64 characters."""
    if principal is None:
        return None
    name: Any = principal if isinstance(principal, str) else None
    for key in ("display_name", "name"):
        if name is not None:
            break
        if isinstance(principal, Mapping):
            name = principal.get(key)
        else:
            name = getattr(principal, key, None)
        if not isinstance(name, str):
            name = None
    if not isinstance(name, str):
        return None
    return name[:MAX_DISPLAY_NAME]


Authenticator = Callable[[AuthContext], Awaitable[Any] | Any]

REFUSED_REASON = "unauthorized"
AUTH_TIMEOUT_S = 10.0  # a hook that has not answered by then refuses


def token_matches(given: str | None, expected: str) -> bool:
    """Constant time: how long a wrong token takes to refuse says nothing of the right one."""
    if given is None:
        return False
    # surrogatepass: a lone surrogate in a token is a mismatch, not a crash.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The server's rule for admitting viewers: a hook, or tokens, or everyone."""

    authenticate: Authenticator | None = None
    token: str | None = None
    view_token: str | None = None

    def __post_init__(self) -> None:
        if self.authenticate is not None and (self.token or self.view_token):
            raise ValueError("pass authenticate= or token=/view_token=, not both")
        if self.view_token is not None and self.token is None:
            raise ValueError("view_token= needs token= as well (the token that may drive)")
        if self.token is not None and self.token == self.view_token:
            raise ValueError("token and view_token must differ")
        if self.authenticate is not None and not callable(self.authenticate):
            raise ValueError("authenticate must be a function taking an AuthContext")

    @property
    def open(self) -> bool:
        """True when anyone may connect and drive (no hook, no token)."""
        return self.authenticate is None and self.token is None

    async def admit(self, ctx: AuthContext) -> Access | None:
        """The viewer's access, or None to refuse it."""
        if self.authenticate is not None:
            try:
                answer = self.authenticate(ctx)
                if inspect.isawaitable(answer):
                    answer = await asyncio.wait_for(answer, AUTH_TIMEOUT_S)
            except TimeoutError:
                log.warning("rfb: the authenticate hook took over %g s; viewer refused",
                            AUTH_TIMEOUT_S)  # fmt: skip
                return None
            except Exception:
                log.exception("rfb: the authenticate hook raised; viewer refused")
                return None
            if answer is None:
                return None
            if isinstance(answer, ViewOnly):
                return Access(answer.principal, view_only=True)
            if isinstance(answer, Access):
                return answer
            return Access(answer)
        if self.token is None:
            return Access()
        if token_matches(ctx.token, self.token):
            return Access()
        if self.view_token is not None and token_matches(ctx.token, self.view_token):
            return Access(view_only=True)
        return None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
