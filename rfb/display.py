"""Display: the user's handle. publish() frames, poll_events() input, aclose() to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from . import protocol
from .access import Access, AccessPolicy, Authenticator
from .encoders.base import EncoderSettings
from .frames import Frame, as_pixels
from .hub import Hub, HubConfig
from .origins import normalise as normalise_origin
from .session import ladder
from .session.input_gate import DEFAULT_INPUT_RATE, InputGate, Verdict
from .signaling import IceConfig

Transport = Literal["websocket", "webrtc"]
MAX_QUEUED_EVENTS = 10_000
MAX_RECORDED_EVENTS = 100_000
SHUTDOWN_TIMEOUT_S = 5.0

log = logging.getLogger("rfb")


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One input event from one viewer, in the renderview vocabulary.

    ``principal``: what the ``authenticate`` hook returned for that viewer (None without
    a hook). Fields in pdum.rfb's order, so code written for it reads them unchanged.
    """

    client_id: str
    principal: Any
    event: dict[str, Any]
    received_us: int  # on the display's clock, like frame timestamps

    @property
    def type(self) -> str:
        return str(self.event.get("type", ""))

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "principal": _jsonable(self.principal),
            "event": self.event,
            "received_us": self.received_us,
        }


def _jsonable(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else repr(value)


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
    view_token: str | None = None  # lets a viewer watch but not drive
    authenticate: Authenticator | None = None  # see rfb.access; replaces the tokens
    origins: tuple[str, ...] = ()  # web origins let in besides the server's own; "*": all
    record_events: bool = False
    ice: IceConfig = field(default_factory=IceConfig)
    max_webrtc_sessions: int = 32
    max_viewers: int = 64  # viewers on all transports; the next is refused (1013 / 429)
    max_pending: int = 32  # WebSocket connections that have not sent hello yet
    max_input_rate: float | None = DEFAULT_INPUT_RATE  # events/s per viewer (None: no cap)
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
        if self.max_input_rate is not None and not self.max_input_rate > 0:
            raise ValueError("max_input_rate must be positive events per second, or None")
        for origin in self.origins:
            if origin != "*":
                normalise_origin(origin)  # raises ValueError naming a malformed one
        self.access_policy()  # raises ValueError for a contradictory combination

    def access_policy(self) -> AccessPolicy:
        return AccessPolicy(self.authenticate, self.token, self.view_token)


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
        self.access = config.access_policy()
        self._events: deque[InputEvent] = deque()
        self._events_base = 0  # how many events have left the queue's front, ever
        self._last_move: dict[str, int] = {}  # viewer -> its queued newest event, a move
        self._held_move: dict[str, InputEvent] = {}  # a move over budget, for the next poll
        self._inputs: dict[str, tuple[Access, InputGate]] = {}
        self._event_signal = asyncio.Event()
        self.events_dropped = 0  # queue full: nobody polls
        self.events_delivered = 0
        self.input_dropped: Counter[str] = Counter()  # input not delivered, by reason
        self.refused: Counter[str] = Counter()  # connections refused, by the limit that did
        self.protocol_errors: Counter[int] = Counter()  # viewers closed for bad input, by code
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

        self._runner = web.AppRunner(
            make_app(self),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S / 2,  # handlers still running after aclose()
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.config.host, self.config.port, ssl_context=self.config.ssl_context
        )
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def aclose(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> None:
        """Close every viewer (WebSocket: code 1001 and a reason; WebRTC: a ``close``
        message on its data channel, then the peer connection), stop the server and the
        encoder threads. Viewers that do not answer are cut off: it all ends within about
        ``timeout`` seconds, plus an encode already running."""
        if self._closed:
            await self._closed_event.wait()
            return
        self._closed = True
        reason = "server shutting down"
        try:
            async with asyncio.timeout(timeout / 2):
                await asyncio.gather(
                    *(c.close(protocol.CLOSE_GOING_AWAY, reason) for c in list(self.connections)),
                    *([self.webrtc.aclose(reason)] if self.webrtc is not None else []),
                    return_exceptions=True,
                )
        except TimeoutError:
            log.warning("rfb: viewers did not close within %.1f s; cut off", timeout / 2)
            for c in list(self.connections):
                c.abort()
        if self._runner is not None:
            await self._runner.cleanup()  # bounded by the runner's shutdown_timeout
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

    @property
    def frames_published(self) -> int:
        return self._frame_ids

    def closed_for(self, exc: protocol.ProtocolError) -> None:
        """Count a viewer closed for what it sent (refusals are counted where they happen)."""
        if exc.close_code not in (protocol.CLOSE_UNAUTHORIZED, protocol.CLOSE_TRY_AGAIN_LATER):
            self.protocol_errors[exc.close_code] += 1

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

    def open_input(self, client_id: str, access: Access) -> None:
        """A transport admitted this viewer: its input carries ``access.principal`` and
        passes its gate (view-only: dropped; otherwise rate-limited)."""
        gate = InputGate(self._clock(), rate=self.config.max_input_rate,
                         view_only=access.view_only)  # fmt: skip
        self._inputs[client_id] = (access, gate)

    def close_input(self, client_id: str) -> None:
        self._inputs.pop(client_id, None)

    def push_event(self, client_id: str, event: dict[str, Any]) -> None:
        """Called by transports (on the loop thread) for each validated input event."""
        entry = self._inputs.get(client_id)
        if entry is None:  # not admitted (or gone): nothing it sends reaches the app
            self.input_dropped["unknown_viewer"] += 1
            return
        access, gate = entry
        verdict = gate.admit(event, self._clock())
        if verdict in (Verdict.DROP_RATE, Verdict.DROP_VIEW_ONLY):
            self.input_dropped[verdict.value] += 1
            return
        ev = InputEvent(client_id, access.principal, event, self.now_us())
        with self._lock:
            if verdict is Verdict.COALESCE:
                # Over the budget, a move merges into this viewer's newest queued event if
                # that is a move, else waits for the next poll (the latest position, once)
                # unless something newer from the viewer comes first.
                merged = self._coalesce(ev)
                if not merged:
                    merged = self._held_move.get(client_id) is not None
                    self._held_move[client_id] = ev
                    self._event_signal.set()
                if merged:
                    self.input_dropped["coalesced"] += 1  # a move replaced, never delivered
                return
            if self._held_move.pop(client_id, None) is not None:
                self.input_dropped["coalesced"] += 1
            if len(self._events) >= MAX_QUEUED_EVENTS:
                self.events_dropped += 1  # nobody is polling: keep the newest
                self._events.popleft()
                self._events_base += 1
            if ev.type == "pointer_move":
                self._last_move[client_id] = self._events_base + len(self._events)
            else:
                self._last_move.pop(client_id, None)
            self._events.append(ev)
            self.events_delivered += 1
        if self.config.record_events:
            self.recorded.append(ev.as_dict())
        self._event_signal.set()

    def _coalesce(self, ev: InputEvent) -> bool:
        """Replace the viewer's newest queued event with this move if that was a move."""
        at = self._last_move.get(ev.client_id)
        if at is None or at < self._events_base:
            return False
        self._events[at - self._events_base] = ev
        return True

    def poll_events(self) -> list[InputEvent]:
        """Every input event received since the last call, oldest first. Thread-safe."""
        with self._lock:
            out = list(self._events)
            self._events.clear()
            self._events_base += len(out)
            self._last_move.clear()
            if self._held_move:
                out += self._held_move.values()  # each its viewer's newest event
                self.events_delivered += len(self._held_move)
                self._held_move.clear()
        return out

    async def events(self) -> AsyncIterator[InputEvent]:
        """``async for ev in display.events()``: input events as they arrive, until aclose()."""
        while not self._closed:
            for ev in self.poll_events():
                yield ev
            self._event_signal.clear()
            if not self._events and not self._held_move:
                await self._event_signal.wait()

    def metrics(self) -> dict[str, Any]:
        m = self.hub.metrics()
        m["display"] = {
            "width": self.width,
            "height": self.height,
            "fps": self.config.fps,
            "frames_published": self._frame_ids,
            "events_dropped": self.events_dropped,
            "input_dropped": dict(self.input_dropped),
            "refused": dict(self.refused),
            "protocol_errors": {str(k): v for k, v in self.protocol_errors.items()},
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
    view_token: str | None = None,
    authenticate: Authenticator | None = None,
    origins: Sequence[str] = (),
    record_events: bool = False,
    ice: IceConfig | None = None,
    max_webrtc_sessions: int = 32,
    max_viewers: int = 64,
    max_pending: int = 32,
    max_input_rate: float | None = DEFAULT_INPUT_RATE,
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
    Who may connect: ``token`` (sent in ``hello``, or as WHEP's ``Authorization: Bearer``)
    lets a viewer watch and drive, ``view_token`` watch only. ``authenticate``, instead of
    tokens, is a hook (sync or async) called once per viewer with an ``rfb.AuthContext``
    (token, headers, cookies, path, query, ...): it returns a principal, which rides on
    every ``InputEvent`` of that viewer, ``rfb.ViewOnly(principal)`` to let it watch
    only, or None to refuse it (close 4401 / 401, before any frame). A viewer may also ask
    to watch only (``view_only`` in hello). View-only input is dropped and counted.
    ``max_input_rate``: input events per second one viewer may send on (past it, pointer
    moves merge into the queued one and other events are dropped, counted in
    ``/metrics`` ``display.input_dropped``); None: no cap.
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
            view_token=view_token,
            authenticate=authenticate,
            origins=_origins(origins),
            record_events=record_events,
            ice=ice or IceConfig(),
            max_webrtc_sessions=max_webrtc_sessions,
            max_viewers=max_viewers,
            max_pending=max_pending,
            max_input_rate=max_input_rate,
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
