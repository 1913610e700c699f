"""rfb's HTTP endpoints (rfb/endpoints.py), written once for every front-end, answered
here without sockets: HttpRequest values in, HttpReply / OpenViewer / RefuseViewer out, on
a small Directory of real streams. Unknown streams are 404 (4404 for a WebSocket), a
viewer connection from a refused origin is 403 and counted, GET /streams lists the
streams, /health says ok."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rfb import protocol
from rfb.endpoints import OpenViewer, RefuseViewer, answer, viewer_for
from rfb.http_messages import HttpReply, HttpRequest, headers_from
from rfb.options import StreamOptions
from rfb.origins import OriginPolicy
from rfb.signaling import IceConfig
from rfb.stream import Stream

HOST = "127.0.0.1:8765"
EVIL = "http://evil.example"


class Directory:
    """A Server's side of the endpoints: its streams, its origins, refusals counted."""

    def __init__(self, *streams: Stream, origins: Iterable[str] = ()) -> None:
        self.streams = {s.name: s for s in streams}
        self.ice = IceConfig()
        self.origins = OriginPolicy(origins)
        self.metrics_token: str | None = None
        self.refused_for: list[Stream | None] = []

    def get(self, name: str) -> Stream | None:
        return self.streams.get(name)

    def all(self) -> Iterable[Stream]:
        return list(self.streams.values())

    def origin_refused(self, stream: Stream | None) -> None:
        self.refused_for.append(stream)


def stream(name: str, w: int = 64, h: int = 48, **options: object) -> Stream:
    return Stream(name, StreamOptions(width=w, height=h, **options))  # type: ignore[arg-type]


def request(path: str, method: str = "GET", *, upgrade: bool = False, origin: str | None = None,
            root: str = "", query: str = "") -> HttpRequest:  # fmt: skip
    headers = [("Host", HOST)]
    if upgrade:
        headers += [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    if origin is not None:
        headers.append(("Origin", origin))
    return HttpRequest(method, root, path, query, headers_from(headers), "http", HOST)


async def reply(d: Directory, req: HttpRequest) -> HttpReply:
    got = await answer(d, req)
    assert isinstance(got, HttpReply), got
    return got


async def test_an_unknown_stream_is_404_over_http_and_4404_for_a_websocket() -> None:
    d = Directory(stream("cam"))
    for path in ("/nope", "/nope/", "/nope/metrics", "/streams/nope/metrics", "/nope/whep"):
        r = await reply(d, request(path, "POST" if path.endswith("whep") else "GET"))
        assert r.status == 404, path
    assert b"unknown stream 'nope'" in (await reply(d, request("/nope"))).body
    refused = await answer(d, request("/nope", upgrade=True))
    assert refused == RefuseViewer(protocol.CLOSE_UNKNOWN_PATH, "unknown stream 'nope'")
    assert refused.code == 4404
    assert viewer_for(d, request("/anything", upgrade=True), "nope") == RefuseViewer(
        protocol.CLOSE_UNKNOWN_PATH, "unknown stream 'nope'")  # fmt: skip
    deep = await answer(d, request("/cam/x/y", upgrade=True))  # no stream lives there
    assert isinstance(deep, RefuseViewer) and deep.code == protocol.CLOSE_UNKNOWN_PATH
    assert d.refused_for == []  # nothing was refused for its origin


async def test_a_websocket_upgrade_opens_the_stream_its_path_names() -> None:
    default, cam = stream("default"), stream("cam")
    d = Directory(default, cam)
    assert await answer(d, request("/", upgrade=True)) == OpenViewer(default, None)
    assert await answer(d, request("/cam", upgrade=True)) == OpenViewer(cam, None)
    assert await answer(d, request("/cam/", upgrade=True)) == OpenViewer(cam, None)
    mounted = request("", upgrade=True, root="/rfb")  # the bare prefix: the default stream
    assert await answer(d, mounted) == OpenViewer(default, None)
    assert viewer_for(d, request("/my/route", upgrade=True), "cam") == OpenViewer(cam, None)


async def test_a_viewer_connection_from_a_refused_origin_is_403_and_counted() -> None:
    default, cam = stream("default"), stream("cam")
    d = Directory(default, cam, origins=["https://app.example"])
    r = await reply(d, request("/cam", upgrade=True, origin=EVIL))
    assert r.status == 403 and b"origin http://evil.example is not allowed" in r.body
    r = await reply(d, request("/whep", "POST", origin=EVIL))  # WHEP offers are guarded too
    assert r.status == 403
    assert viewer_for(d, request("/x", upgrade=True, origin=EVIL), "cam").status == 403  # type: ignore[union-attr]
    assert d.refused_for == [cam, default, cam]
    # The server's own origin, a listed one and none (not a web page) are let in.
    for origin in (f"http://{HOST}", "https://app.example", None):
        assert await answer(d, request("/cam", upgrade=True, origin=origin)) == OpenViewer(cam, None)
    # Plain GETs are not viewer connections: another origin's page may read them.
    assert (await reply(d, request("/streams", origin=EVIL))).status == 200
    assert len(d.refused_for) == 3


async def test_get_streams_lists_every_stream() -> None:
    d = Directory(stream("cam", 320, 240, fps=25), stream("depth", 160, 96))
    r = await reply(d, request("/streams"))
    assert r.status == 200 and r.content_type == "application/json"
    assert json.loads(r.body) == [
        {"name": "cam", "width": 320, "height": 240, "fps": 25, "clients": 0, "webrtc": False},
        {"name": "depth", "width": 160, "height": 96, "fps": 30, "clients": 0, "webrtc": False},
    ]
    assert json.loads((await reply(Directory(), request("/streams"))).body) == []


async def test_health_is_ok_and_takes_get_only() -> None:
    d = Directory()
    r = await reply(d, request("/health"))
    assert (r.status, r.body, r.content_type) == (200, b"ok", "text/plain")
    assert ("Content-Type", "text/plain; charset=utf-8") in r.all_headers()
    r = await reply(d, request("/health", "POST"))
    assert r.status == 405 and r.header("Allow") == "GET, HEAD"


async def test_the_bare_prefix_redirects_to_its_slash_keeping_the_query() -> None:
    r = await reply(Directory(stream("default")), request("", root="/rfb", query="token=t"))
    assert r.status == 302 and r.header("Location") == "/rfb/?token=t"


async def test_static_files_stay_inside_the_static_folder() -> None:
    d = Directory()
    assert (await reply(d, request("/static/../endpoints.py"))).status == 404
    assert (await reply(d, request("/static/no-such-file.js"))).status == 404
