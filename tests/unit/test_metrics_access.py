"""Who may read the figures (rfb/metrics_access.py), decided without sockets: the stream's
token (not its view token), a hook that admits a driver, or the server's metrics_token;
open streams stay open; a refusal is 401 with a Bearer challenge and names no stream."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

import rfb
from rfb.access import AccessPolicy, AuthContext, ViewOnly
from rfb.endpoints import answer
from rfb.http_messages import HttpReply, HttpRequest, headers_from
from rfb.metrics_access import challenge, refuse_listing, verdict
from rfb.options import StreamOptions
from rfb.origins import OriginPolicy
from rfb.signaling import IceConfig
from rfb.stream import Stream

HOST = "127.0.0.1:8765"
OPEN = AccessPolicy()
LOCKED = AccessPolicy(token="drive", view_token="watch")


def hook(ctx: AuthContext) -> object:
    return None


HOOKED = AccessPolicy(authenticate=hook)


# -- the pure decision ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "metrics_token", "bearer", "expected"),
    [
        (OPEN, None, None, "open"),
        (OPEN, None, "anything", "open"),
        (OPEN, "scrape", None, "refused"),  # a metrics_token closes open streams' figures
        (OPEN, "scrape", "scrape", "granted"),
        (OPEN, "scrape", "wrong", "refused"),
        (LOCKED, None, None, "refused"),
        (LOCKED, None, "drive", "granted"),
        (LOCKED, None, "watch", "refused"),  # the audience's token reads no figures
        (LOCKED, None, "drive ", "refused"),
        (LOCKED, "scrape", "scrape", "granted"),
        (LOCKED, "scrape", "drive", "granted"),
        (HOOKED, None, None, "ask_hook"),
        (HOOKED, None, "whatever", "ask_hook"),
        (HOOKED, "scrape", "scrape", "granted"),  # the scraper's token needs no hook
        (HOOKED, "scrape", "nope", "ask_hook"),
    ],
)
def test_verdict(policy: AccessPolicy, metrics_token: str | None, bearer: str | None,
                 expected: str) -> None:  # fmt: skip
    assert verdict(policy, metrics_token, bearer) == expected


def test_a_listing_leaves_out_what_it_may_not_read_and_refuses_a_wrong_credential() -> None:
    # Nothing closed: always answered.
    assert not refuse_listing([], False)
    assert not refuse_listing(["open", "open"], True)
    # Anonymous: shown the open streams; refused only when there is nothing to show.
    assert not refuse_listing(["open", "refused"], False)
    assert refuse_listing(["refused", "refused"], False)
    # A credential that opens no closed stream is wrong, open streams or not.
    assert refuse_listing(["open", "refused"], True)
    assert refuse_listing(["refused"], True)
    # One that opens some closed stream is right, though others stay closed to it.
    assert not refuse_listing(["granted", "refused", "open"], True)
    assert not refuse_listing(["granted", "refused"], False)  # e.g. a hook, by cookie


def test_the_challenge_says_when_the_token_was_wrong() -> None:
    assert challenge(False) == 'Bearer realm="rfb"'
    assert challenge(True) == 'Bearer realm="rfb", error="invalid_token"'


def test_metrics_token_is_a_server_option_with_a_flag_and_a_variable() -> None:
    assert rfb.ServerOptions(metrics_token="s").metrics_token == "s"
    for bad in ("", " s"):
        with pytest.raises(ValueError, match="metrics_token must be a non-empty string"):
            rfb.ServerOptions(metrics_token=bad)
    from rfb import cli

    args = cli.build_parser({"RFB_METRICS_TOKEN": "from-env"}).parse_args([])
    assert cli.options_from(args, rfb.ServerOptions, ice=None).metrics_token == "from-env"
    args = cli.build_parser({}).parse_args(["--metrics-token", "from-flag"])
    assert cli.options_from(args, rfb.ServerOptions, ice=None).metrics_token == "from-flag"


# -- through the endpoints, without sockets -------------------------------------------


class Directory:
    def __init__(self, *streams: Stream, metrics_token: str | None = None) -> None:
        self.streams = {s.name: s for s in streams}
        self.ice = IceConfig()
        self.origins = OriginPolicy(())
        self.metrics_token = metrics_token

    def get(self, name: str) -> Stream | None:
        return self.streams.get(name)

    def all(self) -> Iterable[Stream]:
        return list(self.streams.values())

    def origin_refused(self, stream: Stream | None) -> None:
        pass


def stream(name: str, **options: object) -> Stream:
    return Stream(name, StreamOptions(width=64, height=48, **options))  # type: ignore[arg-type]


def get(path: str, bearer: str | None = None, **headers: str) -> HttpRequest:
    pairs = [("Host", HOST), *headers.items()]
    if bearer is not None:
        pairs.append(("Authorization", f"Bearer {bearer}"))
    return HttpRequest("GET", "", path, "", headers_from(pairs), "http", HOST)


async def reply(d: Directory, req: HttpRequest) -> HttpReply:
    got = await answer(d, req)
    assert isinstance(got, HttpReply), got
    return got


def names(r: HttpReply) -> list[str]:
    assert r.status == 200, r.body
    return [s["name"] for s in json.loads(r.body)]


async def test_an_anonymous_request_sees_open_streams_only_and_no_trace_of_others() -> None:
    d = Directory(stream("public"), stream("secret-cam", token="drive", view_token="watch"))
    assert names(await reply(d, get("/streams"))) == ["public"]
    m = json.loads((await reply(d, get("/metrics"))).body)
    assert list(m["streams"]) == ["public"]
    for path in ("/secret-cam/metrics", "/streams/secret-cam/metrics"):
        for bearer in (None, "watch", "wrong"):
            r = await reply(d, get(path, bearer))
            assert r.status == 401 and r.body == b"unauthorized\n"
            assert (r.header("WWW-Authenticate") or "").startswith('Bearer realm="rfb"')
    # The stream's token (and only it) opens it, everywhere.
    assert names(await reply(d, get("/streams", "drive"))) == ["public", "secret-cam"]
    r = await reply(d, get("/secret-cam/metrics", "drive"))
    assert json.loads(r.body)["display"]["name"] == "secret-cam"
    r = await reply(d, get("/metrics", "drive", Accept="text/plain;version=0.0.4"))
    assert 'stream="secret-cam"' in r.body.decode() and 'stream="public"' in r.body.decode()
    # A wrong Bearer is told so by /metrics, even where open streams could have been
    # shown; /streams (which web pages list) shows them.
    r = await reply(d, get("/metrics", "watch"))
    assert r.status == 401 and b"public" not in r.body and b"secret" not in r.body
    assert r.header("WWW-Authenticate") == 'Bearer realm="rfb", error="invalid_token"'
    assert names(await reply(d, get("/streams", "watch"))) == ["public"]
    assert (await reply(d, get("/health", "wrong"))).body == b"ok"


async def test_every_stream_closed_refuses_anonymous_metrics_and_lists_nothing() -> None:
    d = Directory(stream("a", token="ta"), stream("b", token="tb"))
    r = await reply(d, get("/metrics"))
    assert (r.status, r.header("WWW-Authenticate")) == (401, 'Bearer realm="rfb"')
    assert r.body == b"unauthorized\n"
    assert names(await reply(d, get("/streams"))) == []
    # One stream's token shows that stream, not the other.
    assert names(await reply(d, get("/streams", "ta"))) == ["a"]
    assert (await reply(d, get("/b/metrics", "ta"))).status == 401
    assert (await reply(d, get("/health"))).status == 200


async def test_the_metrics_token_reads_every_stream_and_closes_open_ones() -> None:
    seen: list[AuthContext] = []

    def admin_only(ctx: AuthContext) -> object:
        seen.append(ctx)
        return "root" if ctx.token == "admin" else ViewOnly("guest")

    d = Directory(stream("public"), stream("locked", token="t"),
                  stream("hooked", authenticate=admin_only), metrics_token="scrape")  # fmt: skip
    assert names(await reply(d, get("/streams", "scrape"))) == ["public", "locked", "hooked"]
    assert seen == []  # the scraper's token needs no hook
    assert (await reply(d, get("/metrics"))).status == 401
    assert names(await reply(d, get("/streams"))) == []
    assert (await reply(d, get("/public/metrics"))).status == 401
    # A hook decides with the request's credentials: a driver may, a watcher may not.
    assert names(await reply(d, get("/streams", "admin"))) == ["hooked"]
    assert (await reply(d, get("/hooked/metrics", "guest"))).status == 401
    ctx = seen[-1]
    assert (ctx.transport, ctx.stream, ctx.token, ctx.path) == (
        "metrics", "hooked", "guest", "/hooked/metrics"
    )


async def test_a_hook_sees_the_cookies_of_a_request_without_a_bearer() -> None:
    def by_cookie(ctx: AuthContext) -> object:
        return "ada" if ctx.cookies and ctx.cookies.get("session") == "s1" else None

    d = Directory(stream("cam", authenticate=by_cookie))
    assert (await reply(d, get("/cam/metrics"))).status == 401
    r = await reply(d, get("/cam/metrics", Cookie="session=s1"))
    assert json.loads(r.body)["display"]["name"] == "cam"


async def test_recorded_events_need_the_same_credential() -> None:
    d = Directory(stream("typed", token="drive", view_token="watch", record_events=True),
                  stream("open", record_events=True))  # fmt: skip
    for path in ("/typed/recorded-events", "/typed/recorded-events/reset"):
        for bearer in (None, "watch"):
            assert (await reply(d, get(path, bearer))).status == 401
        assert (await reply(d, get(path, "drive"))).status == 200
    assert json.loads((await reply(d, get("/open/recorded-events"))).body) == []
