"""The WebSocket transport: a thin pump between one viewer's socket and one Viewer.

The socket is anything with ``ViewerSocket``'s few methods: an aiohttp WebSocket on rfb's
own port, or an ASGI connection under uvicorn (transports/frontend_sockets.py adapts
both), so one pump serves every front-end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from typing import TYPE_CHECKING, Protocol

from .. import protocol
from ..encoders import convert
from ..http_messages import HttpRequest
from ..protocol import ProtocolError
from ..session import EncodedUnit, Viewer
from ..session.audio import AudioOut
from ..session.links import LinkKind
from .common import StatsTicker, auth_context, config_message, dispatch
from .tcp_info import delivery_rate

if TYPE_CHECKING:
    from ..stream import Stream, ViewerSession

log = logging.getLogger("rfb")

HELLO_TIMEOUT_S = protocol.HELLO_TIMEOUT_S
SEND_TIMEOUT_S = 20.0  # a socket that takes longer than this to drain one message is dropped
STATS_INTERVAL_S = 1.0
HEARTBEAT_S = 20.0
PENDING_GRACE_S = 1.0  # a connection this young is mid-handshake: never evicted for another
YIELD_EVERY = 32  # messages handled before letting other viewers run (an input storm)


def unit_header(viewer: Viewer, seq: int, unit: EncodedUnit, fps: float) -> protocol.FrameHeader:
    frame_size = (unit.frame_width, unit.frame_height) if unit.scaled else None
    if unit.exact:  # the resting frame as a lossless picture, to video viewers too
        return protocol.ImageFrameHeader(seq=seq, timestamp_us=unit.timestamp_us,
                                         width=unit.width, height=unit.height, mime=unit.codec,
                                         frame_size=frame_size, exact=True)  # fmt: skip
    if viewer.is_video:
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
        )
    return protocol.ImageFrameHeader(
        seq=seq,
        timestamp_us=unit.timestamp_us,
        width=unit.width,
        height=unit.height,
        mime=unit.codec,
        frame_size=frame_size,
    )


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
        self._closing = False
        self.opened_at = stream.clock()
        self._evicted: asyncio.Task[None] | None = None
        self._audio = AudioOut()  # audio_chunk messages: sent ahead of frames, late ones dropped
        # hello first, once, in time (greeted: the hook may still be deciding)
        self.hello_state = protocol.ConnectionState(self.opened_at, HELLO_TIMEOUT_S)

    # -- outgoing -----------------------------------------------------------------------

    def send_unit(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
        """ViewerLink: queue one frame; the viewer's credit bounds how many wait here."""
        header = unit_header(viewer, seq, unit, self.stream.options.fps)
        message = header.pack(unit.data)
        self._out.append(message)
        self._out_bytes += len(message)
        self._out_signal.set()

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
        self._out.append(text)
        self._out_signal.set()

    async def _sender(self) -> None:
        ws = self.ws
        while not ws.closed:
            if len(self._audio):  # sound first: it is small, and late is useless
                if not await self._send_audio():
                    return
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
                if isinstance(item, bytes) and self.viewer is not None:
                    self.stream.hub.written(self.viewer.id)

    async def _stats(self) -> None:
        assert self.viewer is not None
        ticker = StatsTicker(self.stream, self.viewer)
        while not self.ws.closed:
            await asyncio.sleep(STATS_INTERVAL_S)
            self.send_text(ticker.message())

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

    def _sample_path_rate(self, viewer: Viewer) -> None:
        """An ack came: TCP has just had the ACKs for that frame; its latest delivery-rate
        sample says how fast the network carried it."""
        sample = delivery_rate(self.ws.raw_socket())
        if sample is not None:
            viewer.estimator.on_path_rate(self.stream.clock(), *sample)

    # -- incoming -----------------------------------------------------------------------

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
            tasks = [
                asyncio.create_task(self._sender(), name=f"rfb-send-{viewer.id}"),
                asyncio.create_task(self._stats(), name=f"rfb-stats-{viewer.id}"),
            ]
            handled = 0
            while (message := await self.ws.receive()) is not None:
                if isinstance(message, str):
                    msg = protocol.parse_client_message(message)
                    self.hello_state.receive(msg, self.stream.clock())  # a second hello: 1002
                    dispatch(self.stream, viewer, msg)
                    if isinstance(msg, protocol.Ack):
                        self._sample_path_rate(viewer)
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
