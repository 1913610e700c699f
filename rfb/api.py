"""Starting rfb: ``serve()``, ``serve_server()``, ``serve_in_thread()`` and ``tls_context()``.

The top of the package: these build a Server (rfb/server) and its streams from the
option model (rfb/options.py) and start it. Nothing in rfb imports this module but
``rfb/__init__.py`` and the integrations above it (the CLI).
"""

from __future__ import annotations

import atexit
import inspect
import ssl
import weakref
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, Generic, Protocol, TypeVar, Unpack

from .display import Display
from .options import (
    POSITIONAL,
    ListenKeywords,
    ServeKeywords,
    ServerOptions,
    StreamOptions,
    split_keywords,
    with_signature,
)
from .server import Server
from .stream import DEFAULT_STREAM

__all__ = ["Starting", "serve", "serve_in_thread", "serve_options", "serve_server", "tls_context"]


class _Closable(Protocol):
    async def aclose(self) -> None: ...


_Opened = TypeVar("_Opened", bound=_Closable)


class Starting(Generic[_Opened]):
    """What ``serve()`` and ``serve_server()`` return: ``await`` it, or ``async with``."""

    def __init__(self, open_: Callable[[], Awaitable[_Opened]]) -> None:
        self._open_ = open_
        self._opened: _Opened | None = None

    async def _open(self) -> _Opened:
        self._opened = await self._open_()
        return self._opened

    def __await__(self) -> Generator[Any, None, _Opened]:
        return self._open().__await__()

    async def __aenter__(self) -> _Opened:
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        if self._opened is not None:
            await self._opened.aclose()


def serve_options(stream: StreamOptions, server: ServerOptions | None = None) -> Starting[Display]:
    """serve() with its options as objects: a server (``server``, default ones) with one
    stream, ``default``, at ``/``."""
    host = Server(server or ServerOptions())

    async def open_default() -> Display:
        display = host.add(DEFAULT_STREAM, stream, closes_server=True)
        await host.start()
        return display

    return Starting(open_default)


def serve(width: int, height: int, **options: Unpack[ServeKeywords]) -> Starting[Display]:
    """Start serving a stream of ``width`` x ``height`` frames; returns its Display
    (``await rfb.serve(...)``, or ``async with``). Closing the display stops the server.

    ``options``: every field of ``rfb.StreamOptions`` (fps, bitrate, transport, token,
    max_viewers, ...) and of ``rfb.ServerOptions`` (host, port, origins, ssl_context,
    ice), as keywords; docs/reference/options.md lists them with their defaults. ``port=0`` picks a
    free port (read it back from ``display.port``). A bad value raises ValueError naming
    the option, an unknown keyword TypeError.

    Browsers decode H.264 with WebCodecs only in a secure context (HTTPS, or a page from
    localhost): viewers on other machines need ``ssl_context`` (``tls_context(certfile,
    keyfile)``), an SSH tunnel, or ``transport="webrtc"``.
    """
    stream_kw, server_kw = split_keywords("serve()", options)
    return serve_options(
        StreamOptions(width=width, height=height, **stream_kw), ServerOptions(**server_kw)
    )


def serve_server(
    host: str | None = None,
    port: int | None = None,
    *,
    streams: Sequence[dict[str, Any]] = (),
    **options: Unpack[ListenKeywords],
) -> Starting[Server]:
    """Start a server for named streams and return it (``await``, or ``async with``).

    ``host`` and ``port``: where it listens (None: rfb.ServerOptions' defaults);
    ``options``: the other server options (origins, ssl_context, ice). ``streams``:
    ``add_stream`` keyword dicts to add before it listens, e.g. ``[{"name": "rgb",
    "width": 1280, "height": 720}]``; add more at any time with ``server.add_stream(name,
    w, h, **options)``, which returns that stream's Display. Viewers pick a stream by
    path (``ws://host:port/<name>``; ``/`` is the stream named ``default``, if there is
    one); ``GET /streams`` lists them.
    """
    defaults = ServerOptions()
    server = Server(ServerOptions(host=defaults.host if host is None else host,
                                  port=defaults.port if port is None else port,
                                  **options))  # fmt: skip
    specs = [dict(spec) for spec in streams]
    for spec in specs:  # bad keywords raise here, before anything listens
        given = {k: v for k, v in spec.items() if k not in ("name", *POSITIONAL)}
        split_keywords("serve_server() streams", given, server=False)

    async def open_server() -> Server:
        for spec in specs:
            server.add_stream(spec.pop("name"), spec.pop("width"), spec.pop("height"), **spec)
        return await server.start()

    return Starting(open_server)


def serve_in_thread(width: int, height: int, **options: Unpack[ServeKeywords]) -> Display:
    """serve() for programs without an asyncio event loop: the server runs on a daemon
    thread of its own, and this returns the Display once it listens.

    Takes serve()'s keywords. Errors while starting (a port in use, a missing extra) are
    raised here, in the caller's thread. publish() and poll_events() are thread-safe;
    ``display.close()`` stops the server and the thread, and at interpreter exit it is
    closed cleanly anyway.
    """
    stream_kw, server_kw = split_keywords("serve_in_thread()", options)
    server = Server(ServerOptions(**server_kw))
    display = server.add(
        DEFAULT_STREAM, StreamOptions(width=width, height=height, **stream_kw), closes_server=True
    )
    server.start_in_thread()
    atexit.register(_close_at_exit, weakref.ref(display))
    return display


def _close_at_exit(ref: weakref.ref[Display]) -> None:
    display = ref()
    if display is not None and not display.closed:
        display.close()


def tls_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A server-side TLS context from a PEM certificate (chain) and its key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


# help(), IPython and inspect show every option with its default.
_SIZE = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=int)
         for n in POSITIONAL]  # fmt: skip
with_signature(serve, _SIZE, StreamOptions, ServerOptions, skip=POSITIONAL)
with_signature(serve_in_thread, _SIZE, StreamOptions, ServerOptions, skip=POSITIONAL)
