"""Display: the user's handle on one stream. publish() frames, poll_events() input, aclose().

``rfb.serve()`` starts a server with one stream (named ``default``, at ``/``) and returns
its Display; ``server.add_stream()`` returns the Display of each stream it adds.
Transports never see a Display: they work on the stream (rfb/stream.py). A Display knows
its server only through ``Host``, the little it needs of one.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from . import protocol
from .files import UploadInfo
from .inputs import InputEvent
from .options import StreamOptions
from .origins import OriginPolicy
from .session.audio_in import AudioInChunk
from .stream import DEFAULT_STREAM, SHUTDOWN_TIMEOUT_S, Stream

if TYPE_CHECKING:
    from .recording import Recording
    from .relay import RtpRelay

__all__ = ["Display", "Host", "InputEvent"]
_T = TypeVar("_T")


class Host(Protocol):
    """What a Display (and its notebook widget) needs of the server its stream is on;
    rfb.Server is one."""

    host: str
    ssl_context: ssl.SSLContext | None
    origins: OriginPolicy

    @property
    def url(self) -> str: ...

    @property
    def mounted_at(self) -> str | None: ...

    def stop_listening(self) -> None: ...

    @property
    def ws_url(self) -> str: ...

    @property
    def port(self) -> int: ...

    def get(self, name: str) -> Stream | None: ...

    def remove_stream(self, name: str) -> asyncio.Task[None] | None: ...

    async def aclose(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> None: ...

    async def wait_closed(self) -> None: ...

    def close(self, timeout: float = 10.0) -> None: ...

    def block_on(
        self, make: Callable[[], Coroutine[Any, Any, _T]], timeout: float, instead: str
    ) -> _T | None: ...


class Display:
    """One stream, as its user sees it. Get one from ``await rfb.serve(...)`` or
    ``server.add_stream(...)``."""

    def __init__(self, stream: Stream, server: Host, *, owns_server: bool = False) -> None:
        self.stream = stream
        self.server = server
        self._owns_server = owns_server  # serve(): closing the display stops the server

    @property
    def name(self) -> str:
        return self.stream.name

    @property
    def options(self) -> StreamOptions:
        """The stream's options (rfb.StreamOptions)."""
        return self.stream.options

    @property
    def config(self) -> StreamOptions:
        """``options``, by its older name."""
        return self.stream.options

    @property
    def owns_server(self) -> bool:
        """Closing this display stops its server (it came from serve())."""
        return self._owns_server

    @property
    def width(self) -> int:
        return self.stream.width

    @property
    def height(self) -> int:
        return self.stream.height

    # -- frames and input ---------------------------------------------------------------

    def publish(self, frame: Any, *, copy: bool = True, changed: bool | None = None) -> None:
        """Hand the newest frame to every viewer. Never blocks and never encodes.

        ``frame``: C-contiguous uint8 array (H, W, 3) RGB or (H, W, 4) RGBA: NumPy, or on
        the GPU a CuPy array or any CUDA array (``__cuda_array_interface__``/DLPack; needs
        ``pip install 'rfb[gpu]'``), encoded where it lives. A new shape resizes the
        stream. The array is copied (on its device) unless ``copy=False`` (then do not
        modify it afterwards). Safe to call from any thread.

        A frame with the same pixels as the one before is not encoded or sent again (and
        the still comes after ``still_after`` as if publishing had stopped); it is counted
        in ``metrics()["display"]["frames_unchanged"]``. ``changed``: None (default)
        compares host frames with the frame before, off the caller's thread; GPU frames
        count as changed. ``changed=False`` drops the frame without comparing (unless its
        shape differs); ``changed=True`` always sends it.
        """
        self.stream.publish(frame, copy=copy, changed=changed)

    def publish_audio(self, samples: Any, sample_rate: int = 48000) -> None:
        """Hand sound to every viewer that plays it. Never blocks and never encodes.

        ``samples``: a NumPy array, ``(n,)`` mono or ``(n, channels)`` with 1 or 2
        channels, int16 or float32 (-1..1); copied. ``sample_rate``: Hz, 8000..192000;
        other rates than 48000 are resampled (PyAV). The first sample plays at the
        instant of the call, on the clock frames are stamped with, so a sound published
        with a frame plays with it; chunks that follow on without a gap continue it
        sample for sample (publish a steady producer's chunks as they are made). rfb cuts
        the sound into 20 ms blocks and encodes each once with Opus (PyAV, the ``audio``
        extra) for every viewer that announced ``audio`` in hello (the browser view does
        where it has WebCodecs' AudioDecoder, and a WebRTC page that asks for an audio
        track), recordings and RTP relays alike. With no listener nothing is encoded. Safe
        to call from any thread.

        TypeError / ValueError name what is expected for a wrong dtype, shape or rate.
        See docs/guides/audio.md.
        """
        self.stream.publish_audio(samples, sample_rate)

    def poll_events(self) -> list[InputEvent]:
        """Every input event received since the last call, oldest first. Thread-safe."""
        return self.stream.inputs.poll()

    def events(self) -> AsyncIterator[InputEvent]:
        """``async for ev in display.events()``: input events as they arrive, until aclose()."""
        return self.stream.inputs.stream()

    def audio_in(self, dtype: Any = "float32") -> AsyncIterator[AudioInChunk]:
        """``async for chunk in display.audio_in()``: the viewers' microphones, decoded, as
        they arrive, until aclose(). Streams with ``microphone=True`` only (RuntimeError
        otherwise); only viewers that may drive are heard (on an exclusive stream, the
        floor's holder). Each AudioInChunk has ``pcm`` ((n, channels), float32 in -1..1,
        or int16 with ``dtype="int16"``), ``sample_rate``, ``client_id``, ``principal``,
        ``timestamp_us`` (the sender's capture clock) and ``received_us`` (the display's
        clock). At most 10 s wait unread (the oldest dropped, counted in
        ``metrics()["display"]["audio_in"]``). Decoding needs PyAV: ``rfb[audio]``.
        See docs/guides/audio.md#microphone."""
        self._check_microphone()
        return self.stream.audio_in.stream(dtype)

    def poll_audio_in(self, dtype: Any = "float32") -> list[AudioInChunk]:
        """Every microphone chunk decoded since the last call, oldest first (see
        ``audio_in``). Thread-safe."""
        self._check_microphone()
        return self.stream.audio_in.poll(dtype)

    def _check_microphone(self) -> None:
        if not self.stream.audio_in.enabled:
            raise RuntimeError(
                f"stream {self.stream.name!r} takes no microphone: serve it with microphone=True"
            )
        from .encoders.opus import unavailable_reason

        if (reason := unavailable_reason()) is not None:
            raise RuntimeError(f"the microphone needs PyAV's Opus decoder: {reason}")

    @property
    def recorded(self) -> deque[dict[str, Any]]:
        """With ``record_events``: every delivered event, as served at /recorded-events."""
        return self.stream.inputs.recorded

    def record(
        self,
        path: str | Path,
        *,
        fps: float | None = None,
        bitrate: int | None = None,
        crf: int | None = None,
        preset: str | None = None,
        audio: bool | None = None,
    ) -> Recording:
        """Start writing an MP4 of what is published to ``path``; returns the Recording.

        With no options it takes the H.264 the stream's viewers get (the top rung): where
        an H.264 viewer is watching, the file gets the same access units and nothing is
        encoded twice; otherwise the stream encodes for the recording alone. ``bitrate``
        or ``crf`` (constant quality, 0..51), ``preset`` or ``fps`` give the recording an
        encoder of its own. Frames keep their real publish times. Works headless, with
        no viewer; from any thread. A path that cannot be written, a missing PyAV (the
        ``h264`` extra) or a bad option raise here, before anything starts.

        Sound published with ``publish_audio`` goes in too, as an Opus track (the same
        packets the viewers get) on the pictures' clock, from when the sound starts:
        ``audio=None`` (the default) gives the file a sound track where sound comes by
        the first picture (or within half a second of it), ``True`` always one (for sound
        that starts later), ``False`` none. See docs/guides/audio.md.

        ``await rec.stop()`` (or ``async with display.record(...)``) finishes the file;
        ``rec.close()`` from another thread; closing the display finishes it too.
        """
        from .recording import Recording

        return Recording(self.stream, path, fps=fps, bitrate=bitrate, crf=crf, preset=preset,
                         audio=audio)  # fmt: skip

    @property
    def recordings(self) -> list[Recording]:
        """The recordings being written of this stream."""
        return list(self.stream.recordings)

    def relay_rtp(
        self,
        url: str,
        *,
        rung: int = 0,
        rungs: Sequence[int] | None = None,
        simulcast: bool = False,
        ports: Sequence[int] | None = None,
        pt: int = 96,
        mtu: int = 1200,
        rtcp_port: int | None = None,
        ssrc: int | None = None,
        audio_port: int | None = None,
        audio_pt: int = 111,
        audio_rtcp_port: int | None = None,
        audio_ssrc: int | None = None,
    ) -> RtpRelay:
        """Send the stream's H.264 as RTP (RFC 6184) to ``url`` (``rtp://host:port``):
        to a media server that fans it out to many watchers (Janus: docs/guides/deployment.md) or
        any RTP consumer (ffmpeg, GStreamer; ``relay.sdp()`` describes it for them).

        The relay takes the access units the viewers get, with no second encode: the
        top rung, or ``rung`` of the adaptive ladder (1 = the next lower, ...). RTCP
        goes to ``rtcp_port`` (default ``port + 1``): sender reports out, PLI/FIR
        back, which ask the group for a keyframe. A receiver that is not there, or
        restarts, is logged and gets the next keyframe when it is back; the viewers
        never wait for the relay. From any thread; ``await relay.stop()`` or
        ``relay.close()`` ends it, as does closing the display. Watchers through a relay
        are view-only: input comes only over rfb's own transports.

        ``audio_port`` (opt-in) sends the sound published with ``publish_audio`` too: the
        viewers' Opus packets (no second encode) as RTP (RFC 7587, payload type
        ``audio_pt``, a 48 kHz clock, an SSRC of its own) to that port on the same host,
        RTCP to ``audio_rtcp_port`` (default ``audio_port + 1``), timed on the pictures'
        clock. See docs/guides/audio.md.

        Simulcast: ``rungs=(0, 2, 4)`` sends those rungs at once, or ``simulcast=True``
        three of them (the top, the lowest at the full frame rate, one between): each a
        substream with its own SSRC (``ssrc``, ``ssrc + 1``, ...) to its own port, the
        lowest quality first: ``ports``, which starts with the URL's (default: ``port``,
        ``port + 2``, ``port + 4``: Janus's ``videoport``, ``videoport2``, ``videoport3``;
        repeat a port for a receiver that tells SSRCs apart). A rung that
        viewers are on costs no encode; one nobody else uses is encoded for the relay.
        See docs/guides/deployment.md (Janus simulcast, mediasoup, LiveKit).
        """
        from .relay import RtpRelay

        return RtpRelay(self.stream, url, rung=rung, rungs=rungs, simulcast=simulcast,
                        ports=ports, pt=pt, mtu=mtu, rtcp_port=rtcp_port,
                        ssrc=ssrc, audio_port=audio_port, audio_pt=audio_pt,
                        audio_rtcp_port=audio_rtcp_port, audio_ssrc=audio_ssrc)  # fmt: skip

    @property
    def relays(self) -> list[RtpRelay]:
        """The RTP relays of this stream."""
        return list(self.stream.relays)

    # -- telling viewers things --------------------------------------------------------

    def send(self, obj: Any, client_id: str | None = None) -> int:
        """Send a JSON-serialisable ``obj`` to one viewer (``client_id``, as in its
        InputEvents) or to all; the browser view hands it to ``view.onMessage``
        callbacks. Returns how many viewers it went to (clients that did not announce
        ``messages`` in hello, such as pdum.rfb 0.x's, are skipped). Raises TypeError for
        what is not JSON, ValueError over 64 KiB, KeyError for an unknown viewer. From
        any thread, once the stream is served."""
        return self._tell(protocol.AppMessage(obj), client_id)

    def set_cursor(
        self,
        name: str = "default",
        *,
        image: str | bytes | None = None,
        hotspot: tuple[int, int] = (0, 0),
        client_id: str | None = None,
    ) -> int:
        """The mouse cursor over the view: a CSS cursor name (``"crosshair"``,
        ``"grab"``, ...), or ``image`` (PNG bytes or a base64 ``data:`` URL, with its
        ``hotspot``) and ``name`` as the fallback. For every viewer, or one; viewers
        joining later get the current cursor. Returns how many viewers it went to."""
        from .notices import cursor_message

        return self._tell(cursor_message(name, image, hotspot), client_id)

    def set_clipboard(self, text: str, client_id: str | None = None) -> int:
        """Put ``text`` on the viewers' clipboard, where the browser allows it: a secure
        context (HTTPS or localhost) and a page with focus (docs/internals/protocol.md)."""
        if not isinstance(text, str):
            raise TypeError(f"clipboard text must be a str, got {type(text).__name__}")
        return self._tell(protocol.Clipboard(text), client_id)

    def request_pointer_lock(self, lock: bool = True, client_id: str | None = None) -> int:
        """Ask viewers to lock the pointer to the view (the browser view does it at the
        user's next click, as browsers require a gesture); while locked, ``pointer_move``
        events carry relative motion (``dx``, ``dy``, ``locked: True``). ``lock=False``
        releases it."""
        return self._tell(protocol.PointerLock(bool(lock)), client_id)

    # -- files both ways (rfb/files.py) ------------------------------------------------

    def send_file(
        self,
        name: str,
        data: bytes | bytearray | memoryview | Path,
        client_id: str | None = None,
        mime: str | None = None,
    ) -> int:
        """Offer a file to one viewer (``client_id``) or to all; the browser view saves it
        (or hands it to its ``onFile`` callback). ``data``: bytes (copied if mutable) or a
        ``Path`` to read; ``mime``: guessed from ``name`` when None. It goes in chunks
        under the video (a chunk only when the viewer's link has little queued) and is
        acknowledged as it arrives. Returns how many viewers it was queued for (clients
        that did not announce ``files`` in hello, such as pdum.rfb 0.x's, are skipped).
        ValueError for a name with a path or control characters, KeyError for an unknown
        viewer. From any thread, once the stream is served."""
        if isinstance(data, Path):
            data = data.read_bytes()
        return self.stream.call_on_loop(
            lambda: self.stream.files.send_file(name, data, client_id, mime)
        )

    def on_upload(self, handler: Callable[[UploadInfo], Any] | None) -> None:
        """Decide about each upload (``uploads=True`` streams) as it is offered, on the
        server's event loop: ``handler(info)`` (an ``rfb.UploadInfo``: ``client_id``,
        ``principal``, ``id``, ``name``, ``mime``, ``size``) returns ``None`` to take it
        as usual (a ``file`` event with the bytes in ``poll_events()`` once complete),
        ``False`` to refuse it (the viewer is told), or an object with ``write(bytes)``
        (and optionally ``close()`` and ``abort()``) that receives the chunks in order as
        they arrive; the ``file`` event then carries ``data: None`` and ``streamed:
        True`` (``complete: False`` and ``error`` if it ended short). Keep both quick: they
        run on the loop. ``None`` removes the handler."""
        self.stream.files.handler = handler

    # -- who drives, who is watching ----------------------------------------------------

    def give_control(self, client_id: str | None) -> None:
        """Give the control floor (``control="exclusive"``) to the viewer ``client_id``
        (as in its InputEvents and ``viewers``), or to nobody (None: the first viewer
        waiting for it then gets it). A ``control`` event in ``poll_events()`` and a
        message to every viewer follow. Raises KeyError for an unknown viewer, ValueError
        for a view-only one or on a stream whose control is shared. From any thread."""
        self.stream.call_on_loop(lambda: self.stream.inputs.give_control(client_id))

    def take_control(self) -> None:
        """The application holds the floor: no viewer's input is delivered (their releases
        of what they pressed excepted) and no request is granted until ``give_control()``.
        ValueError on a stream whose control is shared. From any thread."""
        self.stream.call_on_loop(self.stream.inputs.take_control)

    @property
    def control(self) -> str | None:
        """The client id of the viewer holding the floor; None when nobody or the
        application does (``control_by_app``) or the stream's control is shared."""
        return self.stream.floor.holder

    @property
    def control_by_app(self) -> bool:
        """Whether the application holds the floor (``take_control()``)."""
        return self.stream.floor.by_app

    @property
    def viewers(self) -> list[dict[str, Any]]:
        """Who is watching, in the order they joined: for each, ``client_id``, ``name``
        (the principal's display name, or None), ``principal`` (what the authenticate
        hook returned), ``transport`` ("websocket" / "webrtc"), ``role`` ("drive" /
        "view") and ``control`` (holds the floor; on a shared stream, every driver)."""

        def listing() -> list[dict[str, Any]]:
            principals = self.stream.inputs.principals()
            return [{**v.as_dict(), "principal": principals.get(v.client_id)}
                    for v in self.stream.presence.viewers()]  # fmt: skip

        if self.stream.loop is None:
            return []
        return self.stream.call_on_loop(listing)

    def _tell(self, msg: protocol.Notice, client_id: str | None) -> int:
        # call_on_loop raises Notices.send's TypeError/ValueError/KeyError in this thread.
        return self.stream.call_on_loop(lambda: self.stream.notices.send(msg, client_id))

    # -- figures ------------------------------------------------------------------------

    @property
    def client_count(self) -> int:
        return self.stream.client_count

    @property
    def frames_published(self) -> int:
        return self.stream.frames_published

    def clock(self) -> float:
        """The stream's clock (seconds): what frame and event timestamps count on."""
        return self.stream.clock()

    def now_us(self) -> int:
        return self.stream.now_us()

    def metrics(self) -> dict[str, Any]:
        """This stream's figures, as served at /metrics (or /<name>/metrics)."""
        return self.stream.metrics()

    # -- addresses ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        """The stream's demo page; relative to it, ``whep`` and ``metrics`` are its own."""
        root = self.server.url
        return root if self.name == DEFAULT_STREAM else f"{root}{self.name}/"

    @property
    def ws_url(self) -> str:
        """What a viewer connects to: ``ws://host:port/`` or ``ws://host:port/<name>``."""
        root = self.server.ws_url
        return root if self.name == DEFAULT_STREAM else f"{root}{self.name}"

    # -- in a notebook ------------------------------------------------------------------

    def widget(
        self,
        *,
        batteries: bool = True,
        base_path: str | None = None,
        host: str | None = None,
        url: str | None = None,
        **traits: Any,
    ) -> Any:
        """This stream in a notebook cell (the ``notebook`` extra: anywidget): JupyterLab,
        Notebook 7, VS Code, marimo (``mo.ui.anywidget(display.widget())``).

        The page connects to the stream's own port at ``host`` (default: the server's;
        "auto" on every interface means the notebook page's own hostname), or through a
        proxy on the notebook's origin at ``base_path`` (``"proxy"``: jupyter-server-proxy's
        ``/proxy/<port>``, JupyterHub's prefix included), or to ``url``.
        ``batteries=False``: the canvas alone, without the toolbar and figures.
        ``traits``: ``height``, ``fit``, ``background``, ``image_only``, ``transport``,
        ``token``. Re-running the cell that showed it
        closes this display. Returns an ``rfb.notebook.RfbViewer`` (or ``RfbCanvas``).
        """
        from .notebook import widget_for

        return widget_for(self, batteries=batteries, base_path=base_path, host=host, url=url,
                          **traits)  # fmt: skip

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.stream.closed

    async def aclose(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> None:
        """Close every viewer (WebSocket: code 1001 and a reason; WebRTC: a ``close``
        message on its data channel, then the peer connection) and the encoders. From
        ``serve()``, the server stops too; from ``add_stream()``, the stream is removed
        and the server goes on serving the others. Ends within about ``timeout`` s."""
        if self._owns_server:
            await self.server.aclose(timeout)
            return
        if self.server.get(self.name) is self.stream:
            task = self.server.remove_stream(self.name)
            if task is not None:
                await task
        await self.stream.wait_closed()

    async def wait_closed(self) -> None:
        """Return once aclose() (or close()) has finished."""
        if self._owns_server:
            await self.server.wait_closed()
        else:
            await self.stream.wait_closed()

    def close(self, timeout: float = 10.0) -> None:
        """aclose() for code outside the event loop (e.g. after serve_in_thread()).

        Blocks until viewers are closed and the server has stopped, and ends the
        server thread serve_in_thread() started.
        """
        if self._owns_server:
            self.server.close(timeout)
        else:
            self.server.block_on(self.aclose, timeout, "display.aclose()")

    async def __aenter__(self) -> Display:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<rfb.Display {self.name!r} {self.width}x{self.height} at {self.ws_url}>"
