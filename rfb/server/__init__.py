"""Server: named streams on one port (``ws://host:port/<name>``), or mounted in an app.

``server.add_stream(name, w, h, ...)`` returns the ``Display`` to publish into. The same
routes can be added under a prefix to an aiohttp application the user already runs
(``server.mount(app, "/rfb")``), or served from an ASGI app (rfb.asgi). Starting one
(``serve_server()``, ``serve()``, ``serve_in_thread()``) is rfb/api.py's job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import threading
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
)
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, Unpack

from ..display import Display
from ..event_loop import loop_factory
from ..options import (
    POSITIONAL,
    ServerKeywords,
    ServerOptions,
    StreamKeywords,
    StreamOptions,
    with_signature,
)
from ..origins import OriginPolicy
from ..signaling import IceConfig
from ..stream import DEFAULT_STREAM, SHUTDOWN_TIMEOUT_S, Stream, check_name

if TYPE_CHECKING:
    from aiohttp import web

    from ..asgi import AsgiApp

log = logging.getLogger("rfb")

_T = TypeVar("_T")


class _Closable(Protocol):
    async def aclose(self) -> None: ...


_Opened = TypeVar("_Opened", bound=_Closable)


class Server:
    """Streams by name on one port (or under a prefix of someone else's app).

    Every stream is independent (size, fps, codecs, limits, tokens or its own
    ``authenticate`` hook); the port, the TLS context, the allowed web origins and the
    ICE (STUN/TURN) configuration are the server's.
    """

    def __init__(
        self, options: ServerOptions | None = None, **keywords: Unpack[ServerKeywords]
    ) -> None:
        if options is None:
            options = ServerOptions(**keywords)
        elif keywords:
            raise TypeError("Server() takes a ServerOptions or keywords, not both")
        self.options = options
        self.host = options.host
        self._port = options.port
        self.ssl_context = options.ssl_context
        self.ice = options.ice or IceConfig()
        self.origins = OriginPolicy(options.origins)
        self.metrics_token = options.metrics_token  # endpoints.Directory: a scraper's
        self._streams: dict[str, Stream] = {}
        self._displays: dict[str, Display] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._runner: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._started = False
        self._mounted_at: str | None = None
        self._mounted_by: Literal["aiohttp", "asgi"] | None = None
        self._closed = False
        self._closed_event = asyncio.Event()
        self._thread: threading.Thread | None = None  # start_in_thread()'s
        self.refused_origin = 0  # refused for their origin, on no stream we know

    # -- streams ------------------------------------------------------------------------

    def add_stream(
        self, name: str, width: int, height: int, **options: Unpack[StreamKeywords]
    ) -> Display:
        """Add stream ``name`` and return its Display; viewers reach it at
        ``ws://host:port/<name>`` (and ``/<name>/whep`` with ``transport="webrtc"``).

        ``options``: rfb.StreamOptions' fields (fps, bitrate, transport, token,
        authenticate, max_viewers, ...; docs/reference/options.md). Before or after start(); a name
        may be used once at a time. Raises ValueError for a bad name or option.
        """
        return self.add(name, StreamOptions(width=width, height=height, **options))

    def add(self, name: str, options: StreamOptions, *, closes_server: bool = False) -> Display:
        """add_stream() with the options as one StreamOptions. ``closes_server``: the
        Display's aclose() stops the whole server (serve()'s one stream)."""
        if self._off_loop():  # e.g. the caller of serve_in_thread(): done on the loop
            return self._on_loop_thread(lambda: self.add(name, options,
                                                         closes_server=closes_server))
        check_name(name)
        if self._closed:
            raise RuntimeError("add_stream() on a closed Server")
        if name in self._streams:
            raise ValueError(f"stream {name!r} already exists")
        stream = Stream(name, options)
        if options.transport == "webrtc":
            from ..transports.webrtc import WebRtcSessions

            limit = options.max_webrtc_sessions
            stream.webrtc = WebRtcSessions(stream, self.ice, max_sessions=limit)
        if self._loop is not None:
            stream.bind()
        display = Display(stream, self, owns_server=closes_server)
        self._streams[name] = stream
        self._displays[name] = display
        return display

    def stream(self, name: str = DEFAULT_STREAM) -> Display:
        """The Display of stream ``name`` (KeyError if there is none)."""
        return self._displays[name]

    def remove_stream(self, name: str) -> asyncio.Task[None] | None:
        """Close stream ``name``'s viewers (1001) and its encoders; later connections to it
        close with 4404. Returns the closing task (await it to wait), None if absent.
        From another thread than the server's loop it returns once the stream is closed."""
        if self._off_loop():
            self.block_on(lambda: self._remove_and_wait(name), SHUTDOWN_TIMEOUT_S * 2, "it")
            return None
        stream = self._streams.pop(name, None)
        self._displays.pop(name, None)
        if stream is None:
            return None
        if self._loop is None:  # never served: no viewer, no encoder
            stream.close_unserved()
            return None
        task = asyncio.get_running_loop().create_task(self._close_stream(stream, "stream removed"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return task

    async def _remove_and_wait(self, name: str) -> None:
        task = self.remove_stream(name)
        if task is not None:
            await task

    async def _close_stream(self, stream: Stream, reason: str) -> None:
        await stream.aclose(SHUTDOWN_TIMEOUT_S / 2, reason)
        await stream.finish()

    def _off_loop(self) -> bool:
        """Running, and called from another thread than the server's loop."""
        return self._loop is not None and threading.get_ident() != self._loop_thread

    def _on_loop_thread(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn()`` on the server's loop and wait for it (thread-safe calls)."""

        async def call() -> _T:
            return fn()

        result = self.block_on(call, SHUTDOWN_TIMEOUT_S * 2, "it")
        if result is None:
            raise RuntimeError("the server's event loop has stopped")
        return result

    def block_on(
        self, make: Callable[[], Coroutine[Any, Any, _T]], timeout: float, instead: str
    ) -> _T | None:
        """Run the coroutine ``make()`` on the server's loop from another thread and wait
        for it (None if the loop has stopped). On the loop's own thread it would deadlock:
        RuntimeError, naming what to await ``instead``."""
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError(f"a blocking call on the event loop's own thread: await {instead}")
        loop = self._loop
        if loop is None or loop.is_closed():
            return None
        try:
            return asyncio.run_coroutine_threadsafe(make(), loop).result(timeout)
        except RuntimeError:  # the loop stopped meanwhile
            return None

    @property
    def streams(self) -> list[str]:
        """The names of the streams, in the order they were added."""
        return list(self._streams)

    # -- what the routes see (endpoints.Directory) -----------------------------------------

    def get(self, name: str) -> Stream | None:
        return self._streams.get(name)

    def all(self) -> Iterable[Stream]:
        return list(self._streams.values())

    def origin_refused(self, stream: Stream | None) -> None:
        if stream is not None:
            stream.refused["origin"] += 1
        else:
            self.refused_origin += 1

    # -- addresses ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on (the one picked, after start() with ``port=0``)."""
        return self._port

    @property
    def url(self) -> str:
        """Where the routes are: ``http(s)://host:port/`` (plus the mount prefix)."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self._port}{self._mounted_at or ''}/"

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    @property
    def mounted_at(self) -> str | None:
        """The prefix it is served under in someone else's app ("" for an ASGI app served
        alone), None when it listens on its own port."""
        return self._mounted_at

    # -- lifecycle ----------------------------------------------------------------------

    def _bind(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        for stream in self._streams.values():
            stream.bind()

    def app(self) -> web.Application:
        """A fresh aiohttp application serving this server's streams."""
        from ..routes import make_app

        return make_app(self)

    async def start(self) -> Server:
        """Listen on host:port; returns the server."""
        from aiohttp import web

        if self._started or self._mounted_at is not None:
            raise RuntimeError("this Server is already started or mounted")
        self._started = True
        self._bind()
        self._runner = web.AppRunner(
            self.app(),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S / 2,  # handlers still running after aclose()
        )
        try:
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self._port, ssl_context=self.ssl_context)
            await site.start()
        except BaseException:
            await self.aclose()
            raise
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self._port = server.sockets[0].getsockname()[1]
        return self

    def mount(self, app: web.Application, prefix: str = "/rfb", *, port: int | None = None) -> None:
        """Serve the streams from ``app`` under ``prefix`` (its TLS, its port, its
        middlewares first): ``ws://host/rfb/<name>``, WHEP at ``/rfb/<name>/whep``. The
        server starts and stops with ``app``. ``port``: the app's port, for ``url``."""
        if not prefix.startswith("/") or prefix.endswith("/") or len(prefix) < 2:
            raise ValueError(f"prefix must look like '/rfb' (no trailing slash), got {prefix!r}")
        if self._started or self._mounted_at is not None:
            raise RuntimeError("this Server is already started or mounted")
        self._mounted_at, self._mounted_by = prefix, "aiohttp"
        if port is not None:
            self._port = port

        async def on_startup(_app: web.Application) -> None:
            self._bind()

        async def on_cleanup(_app: web.Application) -> None:
            await self.aclose()

        from ..routes import mount

        app.on_startup.append(on_startup)
        app.on_cleanup.append(on_cleanup)
        mount(app, self, prefix)

    def stop_listening(self) -> None:
        """Stop accepting connections now (its port is free at once); aclose() still
        closes the viewers and the encoders. For callers that cannot await (a notebook
        re-running a cell)."""
        for site in self._runner.sites if self._runner is not None else ():
            listener = getattr(site, "_server", None)
            if listener is not None:
                listener.close()

    def attach_loop(self) -> None:
        """For front-ends that run the server's routes themselves (rfb.asgi): the
        current event loop is the server's."""
        if self._loop is None:
            self._bind()

    def asgi(self, *, prefix: str = "", port: int | None = None) -> AsgiApp:
        """The streams as an ASGI application, to mount in Starlette or FastAPI (e.g.
        ``app.mount("/rfb", server.asgi(prefix="/rfb"))``) or to serve alone. The app's
        server, TLS and middlewares apply. Pair it with ``lifespan`` so that the server
        runs on the app's loop from startup (publish() before that raises) and closes at
        shutdown. ``prefix`` and ``port``: where it is mounted, for ``url`` only."""
        from ..asgi import AsgiApp

        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"prefix must look like '/rfb' (no trailing slash), got {prefix!r}")
        if self._started or self._mounted_by not in (None, "asgi") or (
            self._mounted_at not in (None, prefix)
        ):
            raise RuntimeError("this Server is already started or mounted")
        self._mounted_at, self._mounted_by = prefix, "asgi"
        if port is not None:
            self._port = port
        return AsgiApp(self)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """An ASGI lifespan (``FastAPI(lifespan=server.lifespan)``; or, inside your own,
        ``async with server.lifespan(app): yield``): the server runs on the app's event
        loop while the app runs, and closes its viewers and encoders when it stops."""
        self.attach_loop()
        try:
            yield
        finally:
            await self.aclose()

    async def aclose(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> None:
        """Close every viewer of every stream, stop listening, stop the encoders. Viewers
        that do not answer are cut off: it ends within about ``timeout`` seconds."""
        if self._closed:
            await self._closed_event.wait()
            return
        self._closed = True
        streams = list(self._streams.values())
        await asyncio.gather(*(s.aclose(timeout / 2) for s in streams), *self._closing,
                             return_exceptions=True)  # fmt: skip
        if self._runner is not None:
            await self._runner.cleanup()  # bounded by the runner's shutdown_timeout
        for s in streams:
            await s.finish()
        self._closed_event.set()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    @property
    def closed(self) -> bool:
        return self._closed

    def start_in_thread(self) -> Server:
        """start() on an event loop of its own, on a daemon thread, for programs without
        one (rfb.serve_in_thread()). Returns once it listens; an error while starting (a
        port in use, a missing extra) is raised here. close() stops it and the thread."""
        if self._thread is not None:
            raise RuntimeError("this Server is already started")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        new_loop = loop_factory(self.options.event_loop)  # a missing uvloop: raised here

        def run() -> None:
            loop = new_loop()
            asyncio.set_event_loop(loop)
            try:
                try:
                    loop.run_until_complete(self.start())
                except BaseException as exc:
                    started.set_exception(exc)
                    return
                started.set_result(None)
                loop.run_until_complete(self.wait_closed())
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="rfb-server", daemon=True)
        self._thread.start()
        started.result()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """aclose() for code outside the event loop (e.g. after start_in_thread())."""
        self.block_on(self.aclose, timeout, "server.aclose()")
        if self._thread is not None:
            self._thread.join(timeout)

    async def __aenter__(self) -> Server:
        if not self._started:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# help(), IPython and inspect show every option with its default.
with_signature(Server.__init__, [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY),
               inspect.Parameter("options", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                 default=None)], ServerOptions)  # fmt: skip
with_signature(Server.add_stream, [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                   for n in ("self", "name", "width", "height")],
               StreamOptions, skip=POSITIONAL)  # fmt: skip
