"""Who may read a stream's figures (``/metrics``, ``/streams``, ``/<name>/metrics``).

A stream's figures name its viewers and say what each one gets, so they are for whoever
may run the stream, not for anyone who reaches the port:

- an open stream (no ``token``, no ``authenticate``) on a server without a
  ``metrics_token``: anyone, as before;
- a stream with ``token``: a request whose ``Authorization: Bearer`` is that token. Not
  ``view_token``: that one is handed to an audience, and the figures list the other
  viewers and what the drivers do;
- a stream with ``authenticate``: a request the hook admits as a driver, called with
  ``ctx.transport == "metrics"`` (its Bearer token, headers and cookies, as for a
  viewer); ``ViewOnly`` or ``None`` refuses;
- any stream: the server's ``metrics_token`` as a Bearer (a scraper's). Setting one also
  closes the open streams' figures to requests without it.

A request that reads several streams at once (``/metrics``, ``/streams``) is shown the
ones it may read; the others are left out. ``/metrics`` is refused (401) where it would
learn nothing but that there is something it may not see: a Bearer that opens none of
the closed streams (a scraper with a wrong secret should notice), or no credential while
every stream is closed. ``/streams`` never refuses: web pages list it (the demo page's
stream switcher, with its ``?token=`` as the Bearer, a view token too), and a 401 there
would only be an error in their console.

No I/O here: endpoints.py reads the header, calls a hook where ``verdict`` says to ask
one, and builds the reply from ``refuse_listing`` and ``challenge``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from .access import AccessPolicy, token_matches

Verdict = Literal["open", "granted", "refused", "ask_hook"]

# The realm a refusal names (RFC 6750): one for every stream, so it names none.
REALM = "rfb"


def verdict(policy: AccessPolicy, metrics_token: str | None, bearer: str | None) -> Verdict:
    """May a request with ``bearer`` (its Bearer token, or None) read the figures of a
    stream with ``policy``, on a server with ``metrics_token``? ``"ask_hook"``: the
    stream's ``authenticate`` hook decides (granted where it admits a driver)."""
    if metrics_token is not None and token_matches(bearer, metrics_token):
        return "granted"
    if policy.open:
        return "open" if metrics_token is None else "refused"
    if policy.authenticate is not None:
        return "ask_hook"
    if policy.token is not None and token_matches(bearer, policy.token):
        return "granted"
    return "refused"


def refuse_listing(verdicts: Iterable[Verdict], bearer_given: bool) -> bool:
    """For ``/metrics``: refuse the whole request (401) rather than show the streams
    whose verdict is not refused? (No ``"ask_hook"`` left: ask the hooks first.)"""
    seen = list(verdicts)
    if "refused" not in seen:
        return False
    if bearer_given:  # a credential that opened no closed stream is a wrong one
        return "granted" not in seen
    return all(v == "refused" for v in seen)


def challenge(bearer_given: bool) -> str:
    """The ``WWW-Authenticate`` value of a refusal: a wrong token says so (RFC 6750)."""
    if bearer_given:
        return f'Bearer realm="{REALM}", error="invalid_token"'
    return f'Bearer realm="{REALM}"'
