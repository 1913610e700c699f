"""Stream: what transports, routes and integrations see of one stream.

A stream is a hub (encoder groups and viewers), its settings, its input sink and its
frame size, plus the registry of the transport connections it serves. ``Display`` is the
user's handle over one stream; a ``Server`` hosts many streams on one port. Transports
depend on this module, never on ``Display``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, Unpack

from . import encoders, protocol
from .access import REFUSED_REASON, Access, AuthContext
from .audio import StreamAudio
from .audio_in import MicrophoneIn
from .files import FileTransfers
from .frames import Frame, as_pixels, same_pixels
from .hub import Hub, ViewerLink
from .inputs import InputSink
from .notices import Notices
from .options import StreamOptions
from .presence import Presence
from .protocol import ProtocolError
from .session import Viewer
from .session import chroma as chroma_policy
from .session.control import Floor
from .session.links import LinkKind
from .session.routing import AttachOptions
from .session.unchanged import FrameGate, Verdict
from .signaling import IceConfig
from .stats_timer import StatsTimer

_T = TypeVar("_T")
SHUTDOWN_TIMEOUT_S = 5.0  # closing a server or a stream: viewers that do not answer are cut off
DEFAULT_STREAM = "default"  # the stream at "/" (pdum.rfb's name for it too)
# Paths the server answers itself: a stream may not take them as its name.
RESERVED_NAMES = frozenset({"health", "metrics", "streams", "static", "whep", "recorded-events"})
# Frames up to this size are compared on the loop: a memcmp of 720p RGB (2.8 MB) takes
# ~0.07 ms, as long as a trip to a worker thread and back; larger ones (1080p: ~0.15 ms,
# 4K: ~1.3 ms) on the loop's default executor. See docs/internals/encoders.md.
INLINE_COMPARE_BYTES = 4 << 20
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

log = logging.getLogger("rfb")


def check_name(name: str) -> str:
    """A stream name, or ValueError saying what a name may be."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise ValueError(
            f"stream name {name!r} is not allowed: 1-64 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit, and not one of {sorted(RESERVED_NAMES)}"
        )
    return name


class Connection(Protocol):
    """A transport connection the stream closes when it ends (a WebSocket viewer)."""

    opened_at: float

    @property
    def pending(self) -> bool: ...

    async def close(self, code: int, reason: str) -> None: ...

    def abort(self) -> None: ...

    def evict(self, reason: str) -> None: ...


class Sessions(Protocol):
    """The stream's WebRTC sessions (transports/webrtc.py's WebRtcSessions)."""

    sessions: dict[str, Any]
    ice: IceConfig

    async def aclose(self, reason: str) -> None: ...


class ViewerSession:
    """One viewer (or consumer) opened on a stream by ``Stream.open_viewer``: its place in
    the hub, its input (with its access) and what the app may tell it. ``close()`` undoes
    all of it, once."""

    def __init__(self, stream: Stream, kind: LinkKind, viewer: Viewer,
                 access: Access | None, first: list[str]) -> None:  # fmt: skip
        self.stream = stream
        self.kind = kind
        self.viewer = viewer
        self.access = access  # None: a consumer, which sends no input
        self.first = first  # notices to send right after the config (the current cursor)
        self._closed = False

    @property
    def id(self) -> str:
        return self.viewer.id

    @property
    def closed(self) -> bool:
        return self._closed

    def listen(self, send: Callable[[str], None], features: frozenset[str]) -> list[str]:
        """The viewer said (later) which notices it understands (WebRTC's hello on its data
        channel): what it must be sent first."""
        self.stream.files.listen(self.viewer.id, send, features)
        self.stream.audio_in.listen(self.viewer.id, send)
        return self.stream.notices.open(self.viewer.id, send, features)

    def close(self) -> list[asyncio.Task[None]]:
        """Out of the hub, the input sink and the notices; returns the closing of groups it
        was the last one in (await them to know their encoders are closed)."""
        if self._closed:
            return []
        self._closed = True
        closing = self.stream.hub.detach(self.viewer.id)
        self.stream.inputs.close(self.viewer.id)
        self.stream.presence.leave(self.viewer.id)
        self.stream.notices.close(self.viewer.id)
        self.stream.files.close(self.viewer.id)  # uploads freed, downloads dropped
        self.stream.audio.close(self.viewer.id)
        self.stream.audio_in.close(self.viewer.id)
        return closing


class Stream:
    """One stream: frames in (``publish``), encoded units out to its viewers, input back."""

    def __init__(
        self,
        name: str,
        options: StreamOptions,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = check_name(name)
        self.options = options
        self._clock = clock
        self._t0 = clock()
        self.hub = Hub(options, clock)
        self.access = options.access_policy()
        # Who drives (session/control.py): every viewer, or one at a time.
        self.floor = Floor(options.control, idle_s=options.control_idle_s,
                           on_click=options.control_on_click)  # fmt: skip
        self.inputs = InputSink(
            clock, self.now_us, rate=options.max_input_rate, record=options.record_events,
            floor=self.floor, on_floor=self._floor_changed,
        )  # fmt: skip
        self.notices = Notices()  # what the app says to viewers (messages, cursor, ...)
        # Who is watching, who holds the floor, where their pointers are (presence.py).
        self.presence = Presence(self.notices, self.floor, clock, pointers=options.presence)
        # Every viewer's stats message, once a second, from one timer (stats_timer.py).
        self.stats_timer = StatsTimer(clock)
        # Files both ways (files.py): viewers' uploads, the application's send_file.
        self.files = FileTransfers(clock, self.inputs, self.floor, enabled=options.uploads,
                                   max_upload_bytes=options.max_upload_bytes,
                                   video_busy=self._video_busy)  # fmt: skip
        # The program's sound (audio.py): nothing runs until audio is published to a listener.
        self.audio = StreamAudio(self.now_us, name, hub=self.hub)  # tiers follow rungs
        # The viewers' microphones (audio_in.py): nothing runs until a packet is let in.
        self.audio_in = MicrophoneIn(clock, self.now_us, enabled=options.microphone,
                                     floor=self.floor)  # fmt: skip
        self.width, self.height = options.width, options.height
        self._lock = threading.Lock()
        self._frame_ids = 0
        self._gate = FrameGate()  # the pending frame; unchanged ones stop there
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self.refused: Counter[str] = Counter()  # connections refused, by the limit that did
        self.protocol_errors: Counter[int] = Counter()  # viewers closed for bad input, by code
        self.connections: set[Connection] = set()  # live WebSocket viewers
        self.webrtc: Sessions | None = None  # WHEP sessions, where this stream serves WebRTC
        self.recordings: set[Any] = set()  # rfb.recording.Recording files being written
        self.relays: set[Any] = set()  # rfb.relay.RtpRelay senders
        self._closed = False
        self._closed_event = asyncio.Event()

    def bind(self) -> None:
        """Called on the event loop the stream's server runs on: publish() hands it frames."""
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError(f"stream {self.name!r} already runs on another event loop")
        self._loop = loop
        self._loop_thread = threading.get_ident()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the stream is served on (None before its server starts)."""
        return self._loop

    @property
    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self._loop_thread

    def call_on_loop(self, fn: Callable[[], _T], timeout: float = 10.0) -> _T:
        """``fn()`` on the stream's event loop thread, from any thread; its result or error."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError(f"stream {self.name!r} is not being served")
        if self.on_loop_thread:
            return fn()
        done: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout)

    # -- state --------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait_closed(self) -> None:
        await self._closed_event.wait()

    @property
    def client_count(self) -> int:
        return self.hub.viewer_count

    @property
    def frames_published(self) -> int:
        return self._frame_ids

    @property
    def frames_unchanged(self) -> int:
        """Published frames dropped as the same as the frame before (session/unchanged.py)."""
        return self._gate.unchanged

    def clock(self) -> float:
        """The stream's clock (seconds): what frame and event timestamps count on."""
        return self._clock()

    def now_us(self) -> int:
        return int((self._clock() - self._t0) * 1e6)

    @property
    def monotonic_origin_s(self) -> float:
        return self._t0

    def full(self) -> str | None:
        """Why one more viewer may not join (counted as a refusal), or None."""
        if self.client_count < self.options.max_viewers:
            return None
        self.refused["max_viewers"] += 1
        return f"server full (max_viewers={self.options.max_viewers})"

    def closed_for(self, exc: protocol.ProtocolError) -> None:
        """Count a viewer closed for what it sent (refusals are counted where they happen)."""
        if exc.close_code not in (protocol.CLOSE_UNAUTHORIZED, protocol.CLOSE_TRY_AGAIN_LATER):
            self.protocol_errors[exc.close_code] += 1

    # -- viewers: every transport and consumer opens and closes one the same way ------------

    async def admit(self, ctx: AuthContext, *, view_only: bool = False) -> Access:
        """Who ``ctx`` is and what it may do (the tokens, or the ``authenticate`` hook); a
        viewer that asks to watch only is held to it. A refusal is counted and raises
        ProtocolError 4401."""
        access = await self.access.admit(ctx)
        if access is None:
            self.refused["unauthorized"] += 1
            raise ProtocolError(protocol.CLOSE_UNAUTHORIZED, REFUSED_REASON)
        if view_only and not access.view_only:
            access = Access(access.principal, view_only=True)
        return access

    def open_viewer(
        self,
        kind: LinkKind,
        link: ViewerLink,
        access: Access | None,
        *,
        supported: tuple[str, ...] | list[str] | None = None,
        capability: str = protocol.CAP_H264,
        notify: Callable[[str], None] | None = None,
        features: frozenset[str] = frozenset(),
        seat_checked: bool = False,
        **attach: Unpack[AttachOptions],
    ) -> ViewerSession:
        """Open one viewer in one call: negotiate its codec (from ``supported``, what it
        decodes; else ``capability``), take a seat (max_viewers; ``seat_checked``: taken
        already, as WHEP does when it answers), attach ``link`` to the hub (``attach``:
        session.routing.AttachOptions), open its input with ``access`` (None: a consumer, no
        input) and, with ``notify``, the notices of ``features``. Raises ProtocolError
        (1003 no shared codec, 1001 closing, 1013 full); the session's close() undoes it."""
        if supported is not None:
            chosen = protocol.negotiate(
                supported,
                h264_available=encoders.unavailable_reason(protocol.CAP_H264) is None,
                force_image=self.options.force_image,
                preferred_image=self.options.preferred_image,
            )
            if chosen is None:
                raise ProtocolError(protocol.CLOSE_UNSUPPORTED_DATA, "no supported transport")
            capability = chosen
            if capability == protocol.CAP_H264 and "chroma" not in attach:
                attach["chroma"] = self.chroma_for(protocol.CAP_H264_444 in supported)
            # Exact stills where asked for, or for an image viewer that decodes PNG.
            if capability != protocol.CAP_H264 and protocol.CAP_PNG in supported:
                attach.setdefault("exact_stills", True)
        if protocol.FEATURE_EXACT_STILL in features:
            attach.setdefault("exact_stills", True)
        if self._closed:
            raise ProtocolError(protocol.CLOSE_GOING_AWAY, "server shutting down")
        if not kind.consumer and not seat_checked and (full := self.full()) is not None:
            raise ProtocolError(protocol.CLOSE_TRY_AGAIN_LATER, full)
        if link.kind is not kind:
            raise ValueError(f"a {link.kind.value} link opened as {kind.value}")
        viewer = self.hub.attach(capability, link, **attach)
        if access is not None:
            self.inputs.open(viewer.id, access)
            self.presence.join(viewer.id, access, kind.value)
        first = self.notices.open(viewer.id, notify, features) if notify is not None else []
        if access is not None:
            self.files.open(viewer.id, access, link, notify, features)
        self.audio.open(viewer.id, link, features)
        if access is not None:
            self.audio_in.open(viewer.id, access, kind.value, notify)
        return ViewerSession(self, kind, viewer, access, first)

    # -- the control floor and presence ---------------------------------------------------

    def _video_busy(self) -> bool:
        """A viewer is short of credit (waiting on its acks): uploads hold theirs."""
        return any(not v.has_credit for v in self.hub.live_viewers())

    def _floor_changed(self) -> None:
        self.presence.announce()

    def control(self, client_id: str, msg: protocol.ClientMessage) -> None:
        """A viewer's request_control / release_control / give_control / presence."""
        if isinstance(msg, protocol.PresencePointer):
            self.presence.pointer(client_id, msg.x, msg.y, msg.inside)
            return
        if isinstance(msg, protocol.RequestControl):
            outcome = self.inputs.control(client_id, "request_control")
        elif isinstance(msg, protocol.ReleaseControl):
            outcome = self.inputs.control(client_id, "release_control")
        elif isinstance(msg, protocol.GiveControl):
            outcome = self.inputs.control(client_id, "give_control", msg.client_id)
        else:
            return
        if outcome.refused:  # told why (and counted in control_refused)
            self.presence.refused(client_id, outcome)

    def chroma_for(self, decodes_444: bool) -> str:
        """The H.264 chroma for a viewer that does (or does not) decode High 4:4:4."""
        policy = self.options.chroma
        nvenc = False
        if decodes_444 and policy == chroma_policy.AUTO:
            from .encoders import nvenc as nvenc_probe

            nvenc = nvenc_probe.nvenc_unavailable_reason() is None
        return chroma_policy.viewer_chroma(policy, decodes_444, nvenc=nvenc)

    def info(self) -> dict[str, Any]:
        """One line of ``GET /streams``."""
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "fps": self.options.fps,
            "clients": self.client_count,
            "webrtc": self.webrtc is not None,
        }

    # -- frames -------------------------------------------------------------------------

    def publish(self, frame: Any, *, copy: bool = True, changed: bool | None = None) -> None:
        """See Display.publish: thread-safe, never blocks, never encodes. The caller's
        thread only copies; whether the frame changed is decided on the loop (the gate),
        which compares frames up to INLINE_COMPARE_BYTES itself and larger ones on a
        worker thread."""
        if self._closed:
            raise RuntimeError(f"publish() on a closed stream ({self.name!r})")
        loop = self._loop
        if loop is None:
            raise RuntimeError(
                f"publish() before stream {self.name!r} is served: start its server first"
            )
        pixels = as_pixels(frame, copy=copy)
        now = self._clock()
        with self._lock:
            self._frame_ids += 1
            # inputs: what the program had taken by now (click-to-photon, session/photon.py)
            frame = Frame(pixels, self._frame_ids, int((now - self._t0) * 1e6), now,
                          self.inputs.photon.taken.taken)  # fmt: skip
            self._gate.offer(frame, changed)
            if threading.get_ident() == self._loop_thread:
                self._flush_pending()
            elif not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon_threadsafe(self._flush_locked)

    def binary_in(self, client_id: str, data: bytes | bytearray | memoryview) -> None:
        """One binary message from a viewer: a file chunk (files.py) or a microphone
        packet (audio_in.py). ProtocolError (closes that viewer) for anything else."""
        msg = protocol.parse_client_binary(data)
        if isinstance(msg, protocol.AudioIn):
            self.audio_in.push(client_id, msg)
        else:
            self.files.chunk(client_id, msg)

    def publish_audio(self, samples: Any, sample_rate: int = 48000) -> None:
        """See Display.publish_audio: checks and copies on the caller's thread; the audio
        thread (audio.py) frames, encodes and sends."""
        from .session.audio import check_samples

        pcm, rate = check_samples(samples, sample_rate)
        if self._closed:
            raise RuntimeError(f"publish_audio() on a closed stream ({self.name!r})")
        loop = self._loop
        if loop is None:
            raise RuntimeError(
                f"publish_audio() before stream {self.name!r} is served: start its server first"
            )
        self.audio.publish(pcm, rate, self.now_us(), loop)

    def _flush_locked(self) -> None:
        with self._lock:
            self._flush_pending()

    def _flush_pending(self) -> None:
        self._flush_scheduled = False
        if self._closed:
            self._gate.clear()
            return
        while (step := self._gate.next()) is not None:
            if step.verdict is Verdict.COMPARE:
                reference = self._gate.reference
                assert reference is not None
                if step.frame.pixels.nbytes > INLINE_COMPARE_BYTES:
                    self._compare(step.frame)  # the gate takes nothing more until it is back
                    continue
                equal = same_pixels(reference.pixels, step.frame.pixels)
                step = self._gate.compared(step.frame, equal)
            if step.verdict is Verdict.HAND:
                self._hand(step.frame)

    def _hand(self, frame: Frame) -> None:
        self.width, self.height = frame.width, frame.height
        self.hub.publish(frame)

    def _compare(self, frame: Frame) -> None:
        """Compare ``frame`` with the frame last handed on a worker thread of the loop's
        default executor (a memcmp that lets go of the GIL: 0.07 ms at 720p, 1.3 ms at
        4K); the verdict comes back to the loop in ``_compared``."""
        reference, loop = self._gate.reference, self._loop
        assert reference is not None and loop is not None
        done = loop.run_in_executor(None, same_pixels, reference.pixels, frame.pixels)
        done.add_done_callback(lambda fut: self._compared(frame, fut))

    def _compared(self, frame: Frame, fut: asyncio.Future[bool]) -> None:
        with self._lock:
            if self._gate.comparing is not frame:  # closed meanwhile
                return
            equal = not fut.cancelled() and fut.exception() is None and fut.result()
            step = self._gate.compared(frame, equal)
            if self._closed:
                self._gate.clear()
                return
            if step.verdict is Verdict.HAND:
                self._hand(frame)
            self._flush_pending()  # what came while comparing

    # -- lifecycle ----------------------------------------------------------------------

    async def aclose(self, timeout: float, reason: str = "server shutting down") -> None:
        """Close every viewer (WebSocket: 1001 and ``reason``; WebRTC: a ``close`` message,
        then the peer connection), cutting off those that do not answer within ``timeout``,
        then the encoders."""
        if self._closed:
            await self._closed_event.wait()
            return
        self._closed = True
        if self.recordings:  # finish their files first: they must not lose the end
            results = await asyncio.gather(*(r.stop() for r in list(self.recordings)),
                                           return_exceptions=True)  # fmt: skip
            for r in results:
                if isinstance(r, BaseException):
                    log.error("rfb: a recording of %r ended with an error: %s", self.name, r)
        await asyncio.gather(*(r.stop() for r in list(self.relays)), return_exceptions=True)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(
                    *(c.close(protocol.CLOSE_GOING_AWAY, reason) for c in list(self.connections)),
                    *([self.webrtc.aclose(reason)] if self.webrtc is not None else []),
                    return_exceptions=True,
                )
        except TimeoutError:
            log.warning("rfb: viewers of %r did not close within %.1f s; cut off",
                        self.name, timeout)  # fmt: skip
            for c in list(self.connections):
                c.abort()

    def close_unserved(self) -> None:
        """Removed before its server ever started: nothing to close but the flags."""
        self._closed = True
        self._gate.clear()
        self.inputs.shut()
        self.presence.close()
        self.stats_timer.close()
        self.files.shut()
        self.audio.shut()
        self.audio_in.shut()
        self._closed_event.set()

    async def finish(self) -> None:
        """After the server stopped: the encoder threads, and anyone waiting on input."""
        await self.hub.aclose()
        with self._lock:
            self._gate.clear()
        self.inputs.shut()
        self.presence.close()
        self.stats_timer.close()
        self.files.shut()
        self.audio.shut()
        self.audio_in.shut()
        self._closed_event.set()

    def metrics(self) -> dict[str, Any]:
        m = self.hub.metrics()
        samples = self.inputs.photon.samples  # click-to-photon, as each viewer reported it
        for v in m["viewers"]:
            v["input_to_photon"] = samples.viewer(v["id"])
        m["display"] = {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "fps": self.options.fps,
            "frames_published": self._frame_ids,
            "frames_unchanged": self._gate.unchanged,
            "events_dropped": self.inputs.events_dropped,
            "input_dropped": dict(self.inputs.dropped),
            "control": {
                "mode": self.floor.mode,
                "holder": self.floor.holder,
                "by_app": self.floor.by_app,
                "waiting": len(self.floor.state.waiting),
                "changes": self.inputs.control_changes,
                "refused": dict(self.inputs.control_refused),
            },
            "presence": self.presence.metrics(),
            "files": self.files.metrics(),
            "audio": self.audio.metrics(),
            "audio_in": self.audio_in.metrics(),
            "refused": dict(self.refused),
            "protocol_errors": {str(k): v for k, v in self.protocol_errors.items()},
            "uptime_s": round(self._clock() - self._t0, 3),
            # time.monotonic() at timestamp_us == 0: same-host tools turn frame
            # timestamps into their own clock with it (benchmarks measure latency so).
            "monotonic_origin_s": self._t0,
        }
        m["relays"] = [r.metrics() for r in self.relays]
        return m
