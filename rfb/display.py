"""Display: the user's handle. publish() frames, poll_events() input, aclose() to stop."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from signaling import IceConfig

from . import protocol
from .encoders.base import EncoderSettings
from .frames import Frame, as_pixels
from .hub import Hub, HubConfig
from .origins import normalise as normalise_origin
from .session import ladder

Transport = Literal["websocket", "webrtc"]
MAX_QUEUED_EVENTS = 10_000
MAX_RECORDED_EVENTS = 100_000


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One input event from one viewer, in the renderview vocabulary."""

    client_id: str
    event: dict[str, Any]
    received_us: int  # on the display's clock, like frame timestamps

    @property
    def type(self) -> str:
        return str(self.event.get("type", ""))

    def as_dict(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "event": self.event, "received_us": self.received_us}


@dataclass(frozen=True, slots=True)
class DisplayConfig:
    width: int
    height: int
    host: str = "127.0.0.1"
    port: int = 8765
    transport: Transport = "websocket"
    fps: float = 30.0
    bitrate: int = 0  # 0: chosen from size and fps; with adaptive, the ceiling
    quality: int = 80
    adaptive: bool = True  # a quality ladder: each viewer gets the rung its path carries
    min_bitrate: int = ladder.DEFAULT_MIN_BITRATE
    max_rungs: int = ladder.DEFAULT_MAX_RUNGS
    still_after: float | None = 0.3  # seconds at rest before a high-quality still (None: never)
    max_inflight: int = 2
    keyframe_interval_s: float = 1.0
    keyframe_min_interval_s: float = 0.5
    force_image: bool = False
    preferred_image: str = protocol.CAP_JPEG
    token: str | None = None
    origins: tuple[str, ...] = ()  # web origins let in besides the server's own; "*": all
    record_events: bool = False
    ice: IceConfig = field(default_factory=IceConfig)
    max_webrtc_sessions: int = 32
    max_viewers: int = 64  # viewers on all transports; the next is refused (1013 / 429)
    max_pending: int = 32  # WebSocket connections that have not sent hello yet
    ssl_context: ssl.SSLContext | None = None  # serve https:// and wss://

    def __post_init__(self) -> None:
        if not (1 <= self.width <= 16384 and 1 <= self.height <= 16384):
            raise ValueError(f"width and height must be 1..16384, got {self.width}x{self.height}")
        if self.transport not in ("websocket", "webrtc"):
            raise ValueError(f"transport must be 'websocket' or 'webrtc', got {self.transport!r}")
        if self.fps <= 0:
            raise ValueError("fps must be positive")
        if not 1 <= self.quality <= 100:
            raise ValueError("quality must be 1..100")
        if self.max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        if self.preferred_image not in protocol.IMAGE_CAPS:
            raise ValueError(f"preferred_image must be one of {protocol.IMAGE_CAPS}")
        if self.bitrate < 0 or self.min_bitrate < 1:
            raise ValueError("bitrate must be >= 0 (0: auto) and min_bitrate >= 1")
        if self.max_rungs < 1:
            raise ValueError("max_rungs must be at least 1")
        if self.still_after is not None and not 0 < self.still_after <= 3600:
            raise ValueError("still_after must be positive seconds, or None for no stills")
        if self.max_viewers < 1 or self.max_pending < 1:
            raise ValueError("max_viewers and max_pending must be at least 1")
        for origin in self.origins:
            if origin != "*":
                normalise_origin(origin)  # raises ValueError naming a malformed one


class Display:
    """A running stream. Create it with ``await rfb.serve(...)``."""

    def __init__(self, config: DisplayConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._t0 = clock()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.hub = Hub(
            HubConfig(
                settings=EncoderSettings(
                    quality=config.quality,
                    bitrate=config.bitrate,
                    fps=config.fps,
                    keyframe_interval_s=config.keyframe_interval_s,
                ),
                max_inflight=config.max_inflight,
                max_fps=config.fps,
                keyframe_min_interval_s=config.keyframe_min_interval_s,
                adaptive=config.adaptive,
                min_bitrate=config.min_bitrate,
                max_rungs=config.max_rungs,
                still_after_s=config.still_after,
                width=config.width,
                height=config.height,
            ),
            clock,
        )
        self.width, self.height = config.width, config.height
        self._lock = threading.Lock()
        self._frame_ids = 0
        self._pending: Frame | None = None
        self._flush_scheduled = False
        self._events: deque[InputEvent] = deque(maxlen=MAX_QUEUED_EVENTS)
        self._event_signal = asyncio.Event()
        self.events_dropped = 0
        self.refused: Counter[str] = Counter()  # connections refused, by the limit that did
        self.recorded: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDED_EVENTS)
        self._closed = False
        self._closed_event = asyncio.Event()
        self._thread: threading.Thread | None = None  # set by serve_in_thread()
        self._runner: Any = None
        self.connections: set[Any] = set()  # live transport connections, closed by aclose()
        self.webrtc: Any = None  # WebRtcSessions when transport="webrtc"
        self.port = config.port

    # -- lifecycle ----------------------------------------------------------------------

    async def _start(self) -> None:
        from aiohttp import web

        from .server import make_app

        self._runner = web.AppRunner(make_app(self), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.config.host, self.config.port, ssl_context=self.config.ssl_context
        )
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        """Close every viewer cleanly (code 1001), stop the server, free the encoders."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(
            *(c.close(protocol.CLOSE_GOING_AWAY, "server shutting down") for c in self.connections)
        )
        if self.webrtc is not None:
            await self.webrtc.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.hub.aclose()
        self._event_signal.set()
        self._closed_event.set()

    async def wait_closed(self) -> None:
        """Return once aclose() (or close()) has finished."""
        await self._closed_event.wait()

    def close(self, timeout: float = 10.0) -> None:
        """aclose() for code outside the event loop (e.g. after serve_in_thread()).

        Blocks until viewers are closed and the server has stopped, and ends the
        server thread serve_in_thread() started.
        """
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("close() on the event loop's own thread: use await display.aclose()")
        if not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                asyncio.run_coroutine_threadsafe(self.aclose(), self._loop).result(timeout)
        if self._thread is not None:
            self._thread.join(timeout)

    async def __aenter__(self) -> Display:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.config.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}/"

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    @property
    def client_count(self) -> int:
        return self.hub.viewer_count

    def full(self) -> str | None:
        """Why one more viewer may not join (counted as a refusal), or None."""
        if self.client_count < self.config.max_viewers:
            return None
        self.refused["max_viewers"] += 1
        return f"server full (max_viewers={self.config.max_viewers})"

    def clock(self) -> float:
        """The display's clock (seconds): what frame and event timestamps count on."""
        return self._clock()

    def now_us(self) -> int:
        return int((self._clock() - self._t0) * 1e6)

    # -- frames -------------------------------------------------------------------------

    def publish(self, frame: Any, *, copy: bool = True) -> None:
        """Hand the newest frame to every viewer. Never blocks and never encodes.

        ``frame``: C-contiguous uint8 array (H, W, 3) RGB or (H, W, 4) RGBA: NumPy, or on
        the GPU a CuPy array or any CUDA array (``__cuda_array_interface__``/DLPack; needs
        ``pip install 'rfb[gpu]'``), encoded where it lives. A new shape resizes the
        stream. The array is copied (on its device) unless ``copy=False`` (then do not
        modify it afterwards). Safe to call from any thread.
        """
        if self._closed:
            raise RuntimeError("publish() on a closed Display")
        pixels = as_pixels(frame, copy=copy)
        now = self._clock()
        with self._lock:
            self._frame_ids += 1
            self._pending = Frame(pixels, self._frame_ids, int((now - self._t0) * 1e6), now)
            if threading.get_ident() == self._loop_thread:
                self._flush_pending()
            elif not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon_threadsafe(self._flush_locked)

    def _flush_locked(self) -> None:
        with self._lock:
            self._flush_pending()

    def _flush_pending(self) -> None:
        self._flush_scheduled = False
        frame, self._pending = self._pending, None
        if frame is not None and not self._closed:
            self.width, self.height = frame.width, frame.height
            self.hub.publish(frame)

    # -- input --------------------------------------------------------------------------

    def push_event(self, client_id: str, event: dict[str, Any]) -> None:
        """Called by transports (on the loop thread) for each validated input event."""
        ev = InputEvent(client_id, event, self.now_us())
        with self._lock:
            if len(self._events) == self._events.maxlen:
                self.events_dropped += 1  # nobody is polling: keep the newest
            self._events.append(ev)
        if self.config.record_events:
            self.recorded.append(ev.as_dict())
        self._event_signal.set()

    def poll_events(self) -> list[InputEvent]:
        """Every input event received since the last call, oldest first. Thread-safe."""
        with self._lock:
            out = list(self._events)
            self._events.clear()
        return out

    async def events(self) -> AsyncIterator[InputEvent]:
        """``async for ev in display.events()``: input events as they arrive, until aclose()."""
        while not self._closed:
            for ev in self.poll_events():
                yield ev
            self._event_signal.clear()
            if not self._events:
                await self._event_signal.wait()

    def metrics(self) -> dict[str, Any]:
        m = self.hub.metrics()
        m["display"] = {
            "width": self.width,
            "height": self.height,
            "fps": self.config.fps,
            "frames_published": self._frame_ids,
            "events_dropped": self.events_dropped,
            "refused": dict(self.refused),
            "uptime_s": round(self._clock() - self._t0, 3),
            # time.monotonic() at timestamp_us == 0: same-host tools turn frame
            # timestamps into their own clock with it (benchmarks measure latency so).
            "monotonic_origin_s": self._t0,
        }
        return m


class _Serving:
    """What ``serve()`` returns: ``await`` it, or use it as ``async with``."""

    def __init__(self, config: DisplayConfig) -> None:
        self._config = config
        self._display: Display | None = None

    async def _open(self) -> Display:
        display = Display(self._config)
        try:
            await display._start()
        except BaseException:
            await display.aclose()
            raise
        self._display = display
        return display

    def __await__(self) -> Generator[Any, None, Display]:
        return self._open().__await__()

    async def __aenter__(self) -> Display:
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        if self._display is not None:
            await self._display.aclose()


def serve(
    width: int,
    height: int,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    transport: Transport = "websocket",
    fps: float = 30.0,
    bitrate: int = 0,
    quality: int = 80,
    adaptive: bool = True,
    min_bitrate: int = ladder.DEFAULT_MIN_BITRATE,
    max_rungs: int = ladder.DEFAULT_MAX_RUNGS,
    still_after: float | None = 0.3,
    max_inflight: int = 2,
    keyframe_interval_s: float = 1.0,
    keyframe_min_interval_s: float = 0.5,
    force_image: bool = False,
    preferred_image: str = protocol.CAP_JPEG,
    token: str | None = None,
    origins: Sequence[str] = (),
    record_events: bool = False,
    ice: IceConfig | None = None,
    max_webrtc_sessions: int = 32,
    max_viewers: int = 64,
    max_pending: int = 32,
    ssl_context: ssl.SSLContext | None = None,
) -> _Serving:
    """Start serving a stream of ``width`` x ``height`` frames; returns a Display.

    ``port=0`` picks a free port (read it back from ``display.port``). ``bitrate=0``
    picks about 0.1 bit per pixel per frame for H.264.

    ``adaptive`` (default on): each viewer gets the rung of a quality ladder its path
    carries, measured from its acks (WebSocket) or frame reports (WebRTC). ``bitrate`` is
    the top rung, ``min_bitrate`` the lowest, ``max_rungs`` caps how many; lower rungs
    encode smaller pictures or fewer frames where bits per pixel run low. Viewers on one
    rung share one encode. ``still_after``: after this many seconds without a new frame,
    viewers get the resting frame once more at high quality (None: never).

    ``transport="webrtc"`` also serves WHEP at ``/whep`` (needs ``pip install
    'rfb[webrtc]'``); ``ice`` configures STUN/TURN and which addresses WebRTC may use.
    The WebSocket protocol is served either way.
    ``origins``: web pages on these origins (``"https://app.example:8443"``) may connect
    besides the server's own; ``["*"]`` lets any page in (a warning is logged). Requests
    without an ``Origin`` header (not from a browser) are let in.
    ``max_viewers`` caps viewers on all transports (the next is closed with 1013 on the
    WebSocket, 429 on WHEP); ``max_pending`` caps WebSocket connections that have not
    sent ``hello``. Refusals are counted in ``/metrics`` (``display.refused``).
    ``ssl_context`` (e.g. from ``tls_context(certfile, keyfile)``) serves HTTPS and WSS:
    browsers decode H.264 with WebCodecs only in a secure context (HTTPS, or a page
    from localhost), so viewers on other machines need it, or an SSH tunnel.
    """
    return _Serving(
        DisplayConfig(
            width=width,
            height=height,
            host=host,
            port=port,
            transport=transport,
            fps=fps,
            bitrate=bitrate,
            quality=quality,
            adaptive=adaptive,
            min_bitrate=min_bitrate,
            max_rungs=max_rungs,
            still_after=still_after,
            max_inflight=max_inflight,
            keyframe_interval_s=keyframe_interval_s,
            keyframe_min_interval_s=keyframe_min_interval_s,
            force_image=force_image,
            preferred_image=preferred_image,
            token=token,
            origins=_origins(origins),
            record_events=record_events,
            ice=ice or IceConfig(),
            max_webrtc_sessions=max_webrtc_sessions,
            max_viewers=max_viewers,
            max_pending=max_pending,
            ssl_context=ssl_context,
        )
    )


def _origins(origins: Sequence[str]) -> tuple[str, ...]:
    if isinstance(origins, str):  # tuple("https://a") would be its letters
        raise ValueError("origins is a list of origins, e.g. ['https://app.example']")
    return tuple(origins)


def tls_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A server-side TLS context from a PEM certificate (chain) and its key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx
