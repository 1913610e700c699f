"""Who may read the figures, over real sockets: a protected stream's /metrics (JSON and
Prometheus) and /<name>/metrics refuse a stranger with 401 and leak nothing of it, and
/streams leaves it out; its token, or the server's metrics_token as Prometheus sends it
(``authorization: {type: Bearer}``), reads them; open streams are unchanged; /health
stays open. On rfb's own port, mounted in an aiohttp app, under an ASGI server, and from
serve_in_thread()."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import aiohttp
import pytest
from aiohttp import web

import rfb
from rfb import client, protocol

from support.servers import publishing, running_app

JPEG = [protocol.CAP_JPEG]
PROMETHEUS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
FIGURES = ("metrics", "metrics?format=prometheus", "secret/metrics", "streams/secret/metrics")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def fetch(http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
                ) -> tuple[int, str, aiohttp.ClientResponse]:  # fmt: skip
    async with http.get(url, headers=headers or {}) as r:
        return r.status, await r.text(), r


async def test_a_stranger_reads_the_open_stream_and_nothing_of_the_protected_one() -> None:
    async with rfb.serve_server(port=0) as server:
        public = server.add_stream("public", 64, 48)
        secret = server.add_stream("secret", 96, 64, token="drive", view_token="watch")
        url = server.url
        async with publishing(public, secret), \
                client.connect(secret.ws_url, JPEG, token="watch") as v:  # fmt: skip
            await v.next_frame()
            viewer_id = v.config["client_id"]
            async with aiohttp.ClientSession() as http:
                # Anonymous: the open stream as before, the protected one left out.
                status, body, _ = await fetch(http, url + "streams")
                assert status == 200 and "public" in body and "secret" not in body
                status, body, _ = await fetch(http, url + "metrics")
                assert status == 200 and '"public"' in body
                assert "secret" not in body and f'"{viewer_id}"' not in body
                status, body, _ = await fetch(http, url + "metrics", {"Accept": PROMETHEUS})
                assert status == 200 and 'stream="public"' in body
                assert "secret" not in body and f'viewer="{viewer_id}"' not in body
                status, body, _ = await fetch(http, url + "public/metrics")
                assert status == 200 and '"public"' in body
                # The protected stream's own figures: 401, a challenge, nothing else.
                for path in ("secret/metrics", "streams/secret/metrics",
                             "secret/metrics?format=prometheus"):  # fmt: skip
                    for headers in ({}, bearer("watch"), bearer("wrong")):
                        status, body, r = await fetch(http, url + path, headers)
                        assert (status, body) == (401, "unauthorized\n"), path
                        assert r.headers["WWW-Authenticate"].startswith('Bearer realm="rfb"')
                # A wrong Bearer is refused by /metrics even where the open stream could be
                # shown (a scraper should notice); /streams, which pages list, shows it.
                status, body, r = await fetch(http, url + "metrics", bearer("watch"))
                assert status == 401 and "public" not in body
                assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
                status, body, _ = await fetch(http, url + "streams", bearer("watch"))
                assert [s["name"] for s in json.loads(body)] == ["public"]
                # The stream's token reads everything, in both formats.
                status, body, _ = await fetch(http, url + "streams", bearer("drive"))
                assert [s["name"] for s in json.loads(body)] == ["public", "secret"]
                status, body, _ = await fetch(http, url + "secret/metrics", bearer("drive"))
                assert status == 200 and f'"{viewer_id}"' in body
                headers = {**bearer("drive"), "Accept": PROMETHEUS}
                status, body, _ = await fetch(http, url + "metrics", headers)
                assert status == 200
                assert 'rfb_viewers{stream="secret",transport="websocket"} 1' in body
                assert f'viewer="{viewer_id}"' in body
                status, body, _ = await fetch(http, url + "health")
                assert (status, body) == (200, "ok")


async def test_a_scraper_with_the_metrics_token_reads_every_stream(serving) -> None:
    display, _ = await serving(80, 60, token="drive", metrics_token="scrape-secret")
    async with client.connect(display.ws_url, JPEG, token="drive") as v:
        await v.next_frame()
        viewer_id = v.config["client_id"]
        async with aiohttp.ClientSession() as http:
            for path in ("metrics", "default/metrics"):
                status, body, r = await fetch(http, display.url + path, {"Accept": PROMETHEUS})
                assert (status, body) == (401, "unauthorized\n")
                assert r.headers["WWW-Authenticate"] == 'Bearer realm="rfb"'
            assert (await fetch(http, display.url + "streams"))[:2] == (200, "[]")
            # What Prometheus sends with authorization: {type: Bearer, credentials: ...}.
            headers = {**bearer("scrape-secret"), "Accept": PROMETHEUS}
            status, body, r = await fetch(http, display.url + "metrics", headers)
            assert status == 200 and r.content_type.startswith("application/openmetrics-text")
            assert 'rfb_viewers{stream="default",transport="websocket"} 1' in body
            assert f'viewer="{viewer_id}"' in body
            for token in ("scrape-secret", "drive"):
                status, body, _ = await fetch(http, display.url + "metrics", bearer(token))
                assert status == 200 and f'"{viewer_id}"' in body
            status, _, r = await fetch(http, display.url + "metrics", bearer("scrape-secreT"))
            assert status == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
            assert (await fetch(http, display.url + "health"))[:2] == (200, "ok")


async def test_the_metrics_token_closes_an_open_servers_figures(serving) -> None:
    display, _ = await serving(64, 48, metrics_token="scrape")
    async with aiohttp.ClientSession() as http:
        for path in ("metrics", "default/metrics"):
            assert (await fetch(http, display.url + path))[0] == 401
            assert (await fetch(http, display.url + path, bearer("scrape")))[0] == 200
        assert (await fetch(http, display.url + "streams"))[1] == "[]"
        assert "default" in (await fetch(http, display.url + "streams", bearer("scrape")))[1]
        assert (await fetch(http, display.url + "health"))[0] == 200
        # The viewers themselves need no token: only the figures are closed.
        async with client.connect(display.ws_url, JPEG) as v:
            await v.next_frame()


async def test_mounted_in_an_aiohttp_app_the_figures_are_closed_too() -> None:
    app = web.Application()
    server = rfb.Server(metrics_token="scrape")
    server.add_stream("secret", 64, 48, token="drive")
    server.mount(app, "/rfb")
    async with running_app(app) as port, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{port}/rfb/"
        for path in FIGURES:
            status, body, _ = await fetch(http, base + path)
            assert status == 401 and "secret" not in body, path
            for token in ("scrape", "drive"):
                assert (await fetch(http, base + path, bearer(token)))[0] == 200, path
        assert (await fetch(http, base + "streams"))[1] == "[]"
        assert "secret" in (await fetch(http, base + "streams", bearer("drive")))[1]
        assert (await fetch(http, base + "health"))[0] == 200


async def test_under_an_asgi_server_the_figures_are_closed_too() -> None:
    pytest.importorskip("fastapi", reason="needs the dev extra: pip install -e '.[dev]'")
    from support.apps import fastapi_app
    from support.servers import running_uvicorn

    server = rfb.Server(metrics_token="scrape")
    server.add_stream("secret", 64, 48, token="drive", view_token="watch")
    server.add_stream("public", 32, 32)
    async with running_uvicorn(fastapi_app(server)) as port, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{port}/rfb/"
        for path in FIGURES:
            for headers in ({}, bearer("watch")):
                status, body, r = await fetch(http, base + path, headers)
                assert (status, body) == (401, "unauthorized\n"), path
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
            for token in ("scrape", "drive"):
                status, body, _ = await fetch(http, base + path, bearer(token))
                assert status == 200 and "secret" in body, path
        # public is closed too (the server has a metrics_token): an empty list.
        for headers in ({}, bearer("watch")):
            assert (await fetch(http, base + "streams", headers))[1] == "[]"
        status, body, _ = await fetch(http, base + "streams", bearer("drive"))
        assert [s["name"] for s in json.loads(body)] == ["secret"]
        # Prometheus text as a scraper asks for it, with its Bearer.
        status, body, _ = await fetch(http, base + "metrics",
                                      {**bearer("scrape"), "Accept": PROMETHEUS})  # fmt: skip
        assert status == 200 and 'stream="secret"' in body and 'stream="public"' in body
        assert (await fetch(http, base + "health"))[:2] == (200, "ok")


def test_serve_in_thread_takes_the_metrics_token() -> None:
    display = rfb.serve_in_thread(32, 32, port=0, token="drive", metrics_token="scrape")
    try:
        url = display.url + "metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 401
        assert refused.value.headers["WWW-Authenticate"] == 'Bearer realm="rfb"'
        request = urllib.request.Request(url, headers=bearer("scrape"))
        with urllib.request.urlopen(request, timeout=5) as r:
            assert r.status == 200 and b'"display"' in r.read()
        with urllib.request.urlopen(display.url + "health", timeout=5) as r:
            assert r.read() == b"ok"
    finally:
        display.close()
