"""The WebSocket transport: a thin pump between one viewer's socket and one Viewer.

The socket is anything with ``ViewerSocket``'s few methods: an aiohttp WebSocket on rfb's
own port, or an ASGI connection under uvicorn (transports/frontend_sockets.py adapts
both), so one pump serves every front-end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .. import protocol
from ..encoders import convert
from ..http_messages import HttpRequest
from ..protocol import ProtocolError
from ..session import EncodedUnit, Viewer
from ..session.audio import AudioOut
from ..session.links import LinkKind
from . import tcp_info
from .common import StatsTicker, auth_context, config_message, dispatch
from .tcp_info import delivery_rate

if TYPE_CHECKING:
    from ..stream import Stream, ViewerSession

log = logging.getLogger("rfb")

HELLO_TIMEOUT_S = protocol.HELLO_TIMEOUT_S
SEND_TIMEOUT_S = 20.0  # a socket that takes longer than this to drain one message is dropped
HEARTBEAT_S = 20.0
PENDING_GRACE_S = 1.0  # a connection this young is mid-handshake: never evicted for another
YIELD_EVERY = 32  # messages handled before letting other viewers run (an input storm)
# The ack tap takes at most YIELD_EVERY acks within this span (a viewer acks each frame:
# tens a second; more within a millisecond is a storm, left to the pump, which yields).
TAP_SPAN_S = 0.001
PATH_SAMPLE_GAP_S = 0.1  # TCP delivery-rate samples: at most this often per viewer


def per_viewer_fields(viewer: Viewer, seq: int, unit: EncodedUnit) -> dict[str, int]:
    """The frame header's fields that differ between the viewers of one unit: ``seq``, each
    viewer's own count. The rest of the message is the unit's, built once (UnitMessage):
    a field added here must be an int and go through ``header_for``'s ``fields``."""
    return {"seq": seq}


_SEQ_ONLY = ("seq",)  # per_viewer_fields' names where seq is the only one


def unit_header(viewer: Viewer, seq: int, unit: EncodedUnit, fps: float) -> protocol.FrameHeader:
    return header_for(viewer.is_video, unit, fps, per_viewer_fields(viewer, seq, unit))


def header_for(
    is_video: bool, unit: EncodedUnit, fps: float, fields: Mapping[str, int]
) -> protocol.FrameHeader:
    """The header of ``unit`` for a viewer of video (or images) with these per-viewer
    ``fields`` (per_viewer_fields)."""
    seq = fields["seq"]
    input_seq = fields.get("input_seq")  # click-to-photon (session/photon.py), where set
    frame_size = (unit.frame_width, unit.frame_height) if unit.scaled else None
    if unit.exact:  # the resting frame as a lossless picture, to video viewers too
        return protocol.ImageFrameHeader(seq=seq, timestamp_us=unit.timestamp_us,
                                         width=unit.width, height=unit.height, mime=unit.codec,
                                         frame_size=frame_size, exact=True,
                                         input_seq=input_seq)  # fmt: skip
    if is_video:
        return protocol.VideoChunkHeader(
            seq=seq,
            timestamp_us=unit.timestamp_us,
            width=unit.width,
            height=unit.height,
            codec=unit.codec,
            keyframe=unit.keyframe,
            duration_us=round(1e6 / fps),
            color=convert.WEBCODECS_COLOR if unit.keyframe else None,
            frame_size=frame_size,
            input_seq=input_seq,
        )
    return protocol.ImageFrameHeader(
        seq=seq,
        timestamp_us=unit.timestamp_us,
        width=unit.width,
        height=unit.height,
        mime=unit.codec,
        frame_size=frame_size,
        input_seq=input_seq,
    )


# Stand-ins for the per-viewer values while a unit's header is serialised once: far above
# any seq, time or size a header carries, so they cannot occur in it by chance.
_MARK = 7_777_777_777_777_777_777_700
_WS_LEN1, _WS_LEN2, _WS_LEN3 = struct.Struct("!BB"), struct.Struct("!BBH"), struct.Struct("!BBQ")
_ENVELOPE_LEN = struct.Struct("<I")


def ws_frame_head(n: int, first: int = 0x82) -> bytes:
    """The head of a final, unmasked, uncompressed WebSocket binary frame of ``n`` bytes
    (``first=0x81``: a text frame)."""
    if n < 126:
        return _WS_LEN1.pack(first, n)
    if n < 65536:
        return _WS_LEN2.pack(first, 126, n)
    return _WS_LEN3.pack(first, 127, n)


class UnitMessage:
    """One unit's binary message, built once for every viewer of its group.

    The header's compact JSON is split around the per-viewer values (per_viewer_fields),
    so ``message(fields)`` is byte for byte ``header_for(..., fields).pack(unit.data)``
    while only the digits of those values are made per viewer. ``ws_frame(fields)`` is the
    same message as a WebSocket frame: server -> client frames are unmasked, so without
    compression a viewer's frame differs from another's only in those digits and the
    lengths."""

    __slots__ = ("_frame_starts", "_literals", "_names", "_payload")

    def __init__(self, is_video: bool, unit: EncodedUnit, fps: float, names: tuple[str, ...]):
        marks = {name: _MARK + i for i, name in enumerate(names)}
        header = header_for(is_video, unit, fps, marks)
        head = protocol.pack_envelope(header.as_dict(), b"")[_ENVELOPE_LEN.size :]
        pieces = re.split(b"(" + b"|".join(b"%d" % m for m in marks.values()) + b")", head)
        found = tuple(names[int(m) - _MARK] for m in pieces[1::2])
        if sorted(found) != sorted(names):
            raise ValueError(f"per-viewer fields {names} not each once in the header: {found}")
        self._names = found  # in the order they appear
        self._literals = pieces[0::2]
        self._payload = unit.data
        self._frame_starts: dict[int, bytes] = {}  # header length -> what comes before it

    def _head(self, fields: Mapping[str, int]) -> bytes:
        lit = self._literals
        if len(lit) == 2:  # seq alone: the usual case, without a loop
            return b"%b%d%b" % (lit[0], fields[self._names[0]], lit[1])
        out = [lit[0]]
        for name, after in zip(self._names, lit[1:], strict=True):
            out += (b"%d" % fields[name], after)
        return b"".join(out)

    def message(self, fields: Mapping[str, int]) -> bytes:
        """The envelope: length-prefixed header JSON, then the unit's bytes."""
        head = self._head(fields)
        return b"".join((_ENVELOPE_LEN.pack(len(head)), head, self._payload))

    def ws_frame(self, fields: Mapping[str, int]) -> tuple[bytes, bytes]:
        """``message(fields)`` as an unmasked, uncompressed WebSocket binary frame, in two
        parts for ``writelines``: what differs between viewers, then the unit's bytes,
        shared (uvloop, and asyncio from Python 3.12, write them with one writev/sendmsg
        without joining them)."""
        head = self._head(fields)
        # The frame's head and the envelope's length prefix depend only on the header's
        # length: the viewers of a unit share a few (the digits of their seqs).
        start = self._frame_starts.get(len(head))
        if start is None:
            n = _ENVELOPE_LEN.size + len(head) + len(self._payload)
            start = ws_frame_head(n) + _ENVELOPE_LEN.pack(len(head))
            self._frame_starts[len(head)] = start
        return start + head, self._payload


class UnitMessages:
    """The UnitMessage of the last few units: the hub hands one unit to every viewer of its
    group in a row, so a handful covers the groups of a loop. One per thread (each event
    loop has its own units)."""

    SIZE = 8

    def __init__(self) -> None:
        self._local = threading.local()

    def get(
        self, is_video: bool, unit: EncodedUnit, fps: float, names: tuple[str, ...]
    ) -> UnitMessage | None:
        """None where the header cannot be split (the caller builds it per viewer)."""
        local = self._local
        last = getattr(local, "last", None)  # the viewers of one unit come in a row
        if last is not None and last[0] is unit and last[1] == (is_video, fps, names):
            return last[2]  # type: ignore[no-any-return]
        cache: dict[tuple[Any, ...], tuple[EncodedUnit, UnitMessage | None]] | None
        cache = getattr(local, "cache", None)
        if cache is None:
            cache = local.cache = {}
        key = (id(unit), is_video, fps, names)
        hit = cache.get(key)
        if hit is not None and hit[0] is unit:  # is: an id may be reused once a unit is gone
            local.last = (unit, (is_video, fps, names), hit[1])
            return hit[1]
        try:
            made: UnitMessage | None = UnitMessage(is_video, unit, fps, names)
        except ValueError:
            made = None
        cache[key] = (unit, made)
        while len(cache) > self.SIZE:
            del cache[next(iter(cache))]
        local.last = (unit, (is_video, fps, names), made)
        return made


UNIT_MESSAGES = UnitMessages()


class _FileBytes:
    """A file chunk in the send queue (not a frame: no credit, not in the frame backlog)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class ViewerSocket(Protocol):
    """An accepted WebSocket, as the pump uses it."""

    @property
    def closed(self) -> bool: ...

    async def receive_text(self, timeout: float | None = None) -> str | None:
        """The next text message; None once the peer closed. A binary or malformed message
        raises ProtocolError; no message in ``timeout`` seconds, TimeoutError."""
        ...

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        """The next message, text or binary; None once the peer closed. A malformed one
        raises ProtocolError; no message in ``timeout`` seconds, TimeoutError."""
        ...

    async def send_bytes(self, data: bytes) -> None:
        """Raises ConnectionError when the connection is gone."""
        ...

    async def send_text(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None:
        """The close handshake (``reason`` at most 123 bytes of UTF-8)."""
        ...

    def abort(self) -> None:
        """Drop the connection without a handshake, where the server allows it."""
        ...

    def write_buffer_size(self) -> int:
        """Bytes written but not yet handed to the kernel (0 where not known)."""
        ...

    def raw_socket(self) -> socket.socket | None:
        """The TCP socket, for its delivery-rate samples (None where not reachable)."""
        ...

    def tap_text(self, tap: Callable[[str], bool] | None) -> bool:
        """Offer each text message that has nothing queued ahead of it to ``tap`` as it
        arrives (True: handled, not queued for ``receive``); False where this socket
        cannot, and every message comes through ``receive``."""
        ...

    def frame_writer(self) -> asyncio.WriteTransport | None:
        """Where a whole unmasked, uncompressed binary frame (UnitMessage.ws_frame) may be
        written right now, between messages, without waiting: the connection's transport
        while it is open, uncompressed and has nothing buffered; else None, and frames go
        through ``send_bytes``."""
        ...


class WebSocketViewer:
    """One viewer connection: hello, config, then frames out and control messages in."""

    kind = LinkKind.WEBSOCKET

    def __init__(
        self,
        ws: ViewerSocket,
        stream: Stream,
        request: HttpRequest | None = None,
        whep_path: str | None = None,
    ) -> None:
        self.ws = ws
        self.stream = stream
        self.request = request  # the upgrade request: what the authenticate hook is shown
        self.whep_path = whep_path  # where this stream's WHEP is, told in config
        self.viewer: Viewer | None = None
        self.session: ViewerSession | None = None  # from hello on
        self._out: deque[str | bytes | _FileBytes] = deque()
        self._out_bytes = 0  # frame bytes queued here, not yet handed to the socket
        self._file_bytes = 0  # file chunks queued here (rfb/files.py)
        self._out_signal = asyncio.Event()
        self._sending = False  # the sender is between taking an item and handing it over
        self._closing = False
        self.opened_at = stream.clock()
        self._evicted: asyncio.Task[None] | None = None
        self._audio = AudioOut()  # audio_chunk messages: sent ahead of frames, late ones dropped
        # hello first, once, in time (greeted: the hook may still be deciding)
        self.hello_state = protocol.ConnectionState(self.opened_at, HELLO_TIMEOUT_S)
        self._tapped = YIELD_EVERY  # acks the tap may still take in this span (TAP_SPAN_S)
        self._tap_span_at = float("-inf")  # when this span began
        self._raw_socket: Any = None  # the TCP socket, once asked for
        self._stamps = stream.inputs.photon.stamps
        self._fps = stream.options.fps
        self._path_sample_after = float("-inf")
        self._tap_error: ProtocolError | None = None

    # -- outgoing -----------------------------------------------------------------------

    def send_unit(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> bool:
        """ViewerLink: one frame. Written to the socket at once where nothing is queued
        before it and the socket takes it (True: written, no ``Hub.written`` follows);
        else queued for the sender, and the viewer's credit bounds how many wait here."""
        fields = per_viewer_fields(viewer, seq, unit)
        # Click-to-photon: on the first frame this viewer gets that reflects its newest input.
        if unit.inputs and (stamp := self._stamps.stamp(viewer.id, unit.inputs)) is not None:
            fields["input_seq"] = stamp
        names = _SEQ_ONLY if len(fields) == 1 else tuple(fields)
        fps = self._fps
        built = UNIT_MESSAGES.get(viewer.is_video, unit, fps, names)
        if built is not None and (transport := self._direct()) is not None:
            transport.writelines(built.ws_frame(fields))
            return True
        if built is not None:
            message = built.message(fields)
        else:
            message = header_for(viewer.is_video, unit, fps, fields).pack(unit.data)
        self._out.append(message)
        self._out_bytes += len(message)
        self._out_signal.set()
        return False

    def backlog_bytes(self) -> int:
        """Frame bytes not on the wire yet: queued here and in the socket's write buffer."""
        return self._out_bytes + self.ws.write_buffer_size()

    def send_audio(self, message: bytes) -> None:
        """AudioLink: one audio_chunk message; it goes ahead of queued frames, and is
        dropped if the socket is backlogged or it cannot go in time (session/audio.py)."""
        if self._audio.offer(message, self.stream.now_us(), self.ws.write_buffer_size()):
            self._out_signal.set()

    def audio_figures(self) -> tuple[int, int]:
        """AudioLink: audio messages sent, and dropped (late, crowded out, backlogged)."""
        return self._audio.sent, self._audio.dropped

    async def _send_audio(self) -> bool:
        """Send the next audio message that is still in time; False: the socket is done."""
        message = self._audio.take(self.stream.now_us())
        if message is None:
            return True
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await self.ws.send_bytes(message)
        except TimeoutError:
            await self.close(protocol.CLOSE_POLICY_VIOLATION, "viewer too slow: send timed out")
            return False
        except (ConnectionError, RuntimeError):
            return False
        return True

    def send_file_bytes(self, data: bytes) -> None:
        """FileLink: one binary file chunk, in order with frames and control messages."""
        self._out.append(_FileBytes(data))
        self._file_bytes += len(data)
        self._out_signal.set()

    def file_backlog(self) -> int:
        """FileLink: bytes a file chunk would wait behind (frames, chunks, the socket's)."""
        return self.backlog_bytes() + self._file_bytes

    def send_text(self, text: str) -> None:
        if len(self._out) > 64:  # control messages only pile up if the socket is stuck
            return
        transport = self._direct()
        if transport is not None:  # as send_unit: written at once where nothing waits
            data = text.encode()
            transport.write(ws_frame_head(len(data), 0x81) + data)
            return
        self._out.append(text)
        self._out_signal.set()

    def _direct(self) -> asyncio.WriteTransport | None:
        """The transport, where a frame may be written to it now: nothing queued or being
        sent before it, and the socket allows it (ViewerSocket.frame_writer)."""
        # self.viewer is set once open_viewer returns, just before the config is queued:
        # a frame sent from within open_viewer must queue behind that config.
        if (self.viewer is None or self._out or self._sending or len(self._audio)
                or self._closing):  # fmt: skip
            return None
        return self.ws.frame_writer()

    async def _sender(self) -> None:
        ws = self.ws
        while not ws.closed:
            if len(self._audio):  # sound first: it is small, and late is useless
                self._sending = True
                try:
                    if not await self._send_audio():
                        return
                finally:
                    self._sending = False
                continue
            if not self._out:
                self._out_signal.clear()
                await self._out_signal.wait()
                continue
            item = self._out.popleft()
            if isinstance(item, bytes):
                self._out_bytes -= len(item)
            elif isinstance(item, _FileBytes):
                self._file_bytes -= len(item.data)
            self._sending = True  # no frame may be written past this item meanwhile
            try:
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    if isinstance(item, _FileBytes):
                        await ws.send_bytes(item.data)
                    elif isinstance(item, bytes):
                        await ws.send_bytes(item)
                    else:
                        await ws.send_text(item)
            except TimeoutError:
                await self.close(protocol.CLOSE_POLICY_VIOLATION, "viewer too slow: send timed out")
                return
            except (ConnectionError, RuntimeError):
                return
            finally:
                self._sending = False
                if isinstance(item, bytes) and self.viewer is not None:
                    self.stream.hub.written(self.viewer.id)

    def _stats_sender(self, viewer: Viewer) -> Callable[[], None]:
        ticker = StatsTicker(self.stream, viewer)

        def send() -> None:
            if not self.ws.closed:
                self.send_text(ticker.message())

        return send

    def abort(self) -> None:
        """Cut the connection without a close handshake (a peer that does not answer)."""
        self.ws.abort()

    async def close(self, code: int, reason: str) -> None:
        if self._closing or self.ws.closed:
            return
        self._closing = True
        try:
            async with asyncio.timeout(2.0):
                await self.ws.close(code, reason)
        except (TimeoutError, ConnectionError, RuntimeError):
            self.abort()

    @property
    def pending(self) -> bool:
        """Connected, no hello yet, and not on its way out."""
        return not self.hello_state.greeted and self._evicted is None and not self._closing

    def evict(self, reason: str) -> None:
        self._evicted = asyncio.get_running_loop().create_task(
            self.close(protocol.CLOSE_TRY_AGAIN_LATER, reason)
        )

    def _sample_path_rate(self, viewer: Viewer, now: float) -> None:
        """An ack came (at ``now``): TCP has just had the ACKs for that frame; its latest
        delivery-rate sample says how fast the network carried it. At most one a
        PATH_SAMPLE_GAP_S (a syscall each: the estimate takes the median of a second's)."""
        if now < self._path_sample_after:
            return
        self._path_sample_after = now + PATH_SAMPLE_GAP_S
        if self.ws.closed:
            return  # its descriptor may be another connection's by now
        if self._raw_socket is None:
            self._raw_socket = tcp_info.borrow(self.ws.raw_socket())
        sample = delivery_rate(self._raw_socket)
        if sample is not None:
            viewer.estimator.on_path_rate(now, *sample)

    # -- incoming -----------------------------------------------------------------------

    def _on_text(self, text: str) -> bool:
        """The socket's tap (tap_text): an ack in the browser's exact shape, handled as it
        arrives, as the pump would (True); anything else is left to the pump (False). At
        most YIELD_EVERY acks within TAP_SPAN_S: the acks of a storm beyond that go to the
        pump, which yields, so a storm does not hold the loop. (A budget that only the
        pump renewed sent every viewer's ack through the pump's receive() each YIELD_EVERY
        frames: a coroutine chain and a future a viewer a second, which lived long enough
        to bring full garbage collections around every few seconds at 500 viewers.)"""
        viewer = self.viewer
        if viewer is None or self._tap_error is not None:
            return False
        now = self.stream.clock()
        if now - self._tap_span_at >= TAP_SPAN_S:
            self._tap_span_at = now
            self._tapped = YIELD_EVERY
        elif self._tapped <= 0:
            return False
        ack = protocol.fast_ack(text)
        if ack is None:
            return False  # not an ack in the browser's shape: the pump parses it in full
        self._tapped -= 1
        # What parse, hello_state.receive and dispatch do with an ack, without the detours:
        # the viewer is past hello (self.viewer is set after it), so an ack is in order.
        self.stream.hub.ack(viewer.id, ack[0], ack[1], ack[3], now)  # one clock reading
        self._sample_path_rate(viewer, now)
        return True

    async def _receive_text(self, timeout: float | None = None) -> str | None:
        """The next text message; None when the peer closed. Raises ProtocolError."""
        return await self.ws.receive_text(timeout)

    async def _handshake(self, text: str) -> ViewerSession:
        msg = self.hello_state.receive(protocol.parse_client_message(text), self.stream.clock())
        assert isinstance(msg, protocol.Hello)  # receive() lets only hello come first
        ctx = auth_context(self.request, token=msg.token, transport="websocket",
                           stream=self.stream.name, hello=msg.fields)  # fmt: skip
        access = await self.stream.admit(ctx, view_only=msg.view_only)
        return self.stream.open_viewer(
            LinkKind.WEBSOCKET, self, access, supported=msg.supported, notify=self.send_text,
            features=msg.features, scaled_frames=msg.scaled_frames,
        )  # fmt: skip

    async def run(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        close_code: int = protocol.CLOSE_NORMAL
        close_reason = ""
        try:
            try:
                wait = self.hello_state.hello_wait(self.stream.clock())
                text = await self._receive_text(timeout=wait)
            except TimeoutError:
                raise self.hello_state.expired() from None
            if text is None:
                return
            # The config goes out before any frame: the sender starts after it is queued.
            session = self.session = await self._handshake(text)
            viewer = self.viewer = session.viewer
            self._out.appendleft(
                config_message(
                    self.stream,
                    viewer,
                    "webcodecs" if viewer.is_video else "image",
                    view_only=session.access is not None and session.access.view_only,
                    whep_path=self.whep_path,
                )
            )
            # Right after config (before any frame): the current cursor.
            for i, text in enumerate(session.first, start=1):
                self._out.insert(i, text)
            tasks = [asyncio.create_task(self._sender(), name=f"rfb-send-{viewer.id}")]
            self.stream.stats_timer.add(viewer.id, self._stats_sender(viewer))
            handled = 0
            self.ws.tap_text(self._on_text)
            while (message := await self.ws.receive()) is not None:
                self._tapped = YIELD_EVERY
                if self._tap_error is not None:
                    raise self._tap_error
                if isinstance(message, str):
                    msg = protocol.parse_client_message(message)
                    self.hello_state.receive(msg, self.stream.clock())  # a second hello: 1002
                    dispatch(self.stream, viewer, msg)
                    if isinstance(msg, protocol.Ack):
                        self._sample_path_rate(viewer, self.stream.clock())
                else:  # binary: file chunks (rfb/files.py), microphone packets (audio_in.py)
                    self.stream.binary_in(viewer.id, message)
                handled += 1
                if handled % YIELD_EVERY == 0:
                    # Messages already buffered are read without a pause: a storm from
                    # one viewer would otherwise hold the loop from everyone else.
                    await asyncio.sleep(0)
        except ProtocolError as exc:
            log.info("rfb: closing viewer (%d): %s", exc.close_code, exc.reason)
            self.stream.closed_for(exc)
            close_code, close_reason = exc.close_code, exc.reason
        finally:
            self.ws.tap_text(None)
            tcp_info.release(self._raw_socket)
            if self.viewer is not None:
                self.stream.stats_timer.discard(self.viewer.id)
            # Stop serving this viewer first; the close handshake can take its time.
            if self.session is not None:
                self.session.close()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            await self.close(close_code, close_reason)


def refusal(stream: Stream) -> str | None:
    """Before accepting a connection: why it must be refused (close 1013), or None.

    Sockets that never say hello would each hold a slot until the hello timeout: the
    oldest makes room once it has had time to say it, so a flood of silent connections
    cannot keep a real viewer out; a young one is still handshaking."""
    pending = [c for c in stream.connections if c.pending]
    if len(pending) < stream.options.max_pending:
        return None
    oldest = min(pending, key=lambda c: c.opened_at)
    stream.refused["max_pending"] += 1
    if stream.clock() - oldest.opened_at >= PENDING_GRACE_S:
        oldest.evict("no hello in time: evicted for a newer connection")
        return None
    limit = stream.options.max_pending
    return f"too many connections waiting for hello (max_pending={limit})"


async def serve(
    ws: ViewerSocket, stream: Stream, request: HttpRequest, *, whep_path: str | None = None
) -> None:
    """Serve one viewer of ``stream`` on an accepted socket until it leaves."""
    conn = WebSocketViewer(ws, stream, request, whep_path)
    stream.connections.add(conn)
    try:
        await conn.run()
    finally:
        stream.connections.discard(conn)
