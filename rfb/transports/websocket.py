"""The WebSocket transport: a thin pump between one aiohttp socket and one Viewer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .. import encoders, protocol
from ..access import REFUSED_REASON, Access
from ..encoders import convert
from ..protocol import ProtocolError
from ..session import EncodedUnit, Viewer
from .common import StatsTicker, auth_context, config_message, dispatch
from .tcp_info import delivery_rate

if TYPE_CHECKING:
    from ..stream import Stream

log = logging.getLogger("rfb")

HELLO_TIMEOUT_S = 10.0
SEND_TIMEOUT_S = 20.0  # a socket that takes longer than this to drain one message is dropped
STATS_INTERVAL_S = 1.0
HEARTBEAT_S = 20.0
PENDING_GRACE_S = 1.0  # a connection this young is mid-handshake: never evicted for another
YIELD_EVERY = 32  # messages handled before letting other viewers run (an input storm)


def unit_header(viewer: Viewer, seq: int, unit: EncodedUnit, fps: float) -> dict[str, Any]:
    frame_size = (unit.frame_width, unit.frame_height) if unit.scaled else None
    if viewer.is_video:
        return protocol.video_chunk_header(
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
    return protocol.image_frame_header(
        seq=seq,
        timestamp_us=unit.timestamp_us,
        width=unit.width,
        height=unit.height,
        mime=unit.codec,
        frame_size=frame_size,
    )


class WebSocketViewer:
    """One viewer connection: hello, config, then frames out and control messages in."""

    transport = "websocket"

    def __init__(
        self,
        ws: web.WebSocketResponse,
        stream: Stream,
        request: web.Request | None = None,
        whep_path: str | None = None,
    ) -> None:
        self.ws = ws
        self.stream = stream
        self.request = request  # the upgrade request: what the authenticate hook is shown
        self.whep_path = whep_path  # where this stream's WHEP is, told in config
        self.viewer: Viewer | None = None
        self._out: deque[str | bytes] = deque()
        self._out_bytes = 0  # frame bytes queued here, not yet handed to the socket
        self._out_signal = asyncio.Event()
        self._closing = False
        self.opened_at = stream.clock()
        self._evicted: asyncio.Task[None] | None = None
        self.greeted = False  # its first message arrived (the hook may still be deciding)

    # -- outgoing -----------------------------------------------------------------------

    def send_unit(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
        """ViewerLink: queue one frame; the viewer's credit bounds how many wait here."""
        header = unit_header(viewer, seq, unit, self.stream.config.fps)
        message = protocol.pack_envelope(header, unit.data)
        self._out.append(message)
        self._out_bytes += len(message)
        self._out_signal.set()

    def _transport(self) -> Any:
        """The socket's asyncio transport (aiohttp keeps it on the request)."""
        return self.ws._req.transport if self.ws._req else None  # type: ignore[attr-defined]

    def backlog_bytes(self) -> int:
        """Frame bytes not on the wire yet: queued here and in the socket's write buffer."""
        transport = self._transport()
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        return self._out_bytes + buffered

    def send_text(self, text: str) -> None:
        if len(self._out) > 64:  # control messages only pile up if the socket is stuck
            return
        self._out.append(text)
        self._out_signal.set()

    async def _sender(self) -> None:
        ws = self.ws
        while not ws.closed:
            if not self._out:
                self._out_signal.clear()
                await self._out_signal.wait()
                continue
            item = self._out.popleft()
            if isinstance(item, bytes):
                self._out_bytes -= len(item)
            try:
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    if isinstance(item, bytes):
                        await ws.send_bytes(item)
                    else:
                        await ws.send_str(item)
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
        transport = self._transport()
        if transport is not None:
            transport.abort()

    async def close(self, code: int, reason: str) -> None:
        if self._closing or self.ws.closed:
            return
        self._closing = True
        try:
            async with asyncio.timeout(2.0):
                await self.ws.close(code=code, message=reason.encode()[:123])
        except (TimeoutError, ConnectionError, RuntimeError):
            self.abort()

    @property
    def pending(self) -> bool:
        """Connected, no hello yet, and not on its way out."""
        return not self.greeted and self._evicted is None and not self._closing

    def evict(self, reason: str) -> None:
        self._evicted = asyncio.get_running_loop().create_task(
            self.close(protocol.CLOSE_TRY_AGAIN_LATER, reason)
        )

    def _sample_path_rate(self, viewer: Viewer) -> None:
        """An ack came: TCP has just had the ACKs for that frame; its latest delivery-rate
        sample says how fast the network carried it."""
        transport = self._transport()
        sample = delivery_rate(transport.get_extra_info("socket") if transport else None)
        if sample is not None:
            viewer.estimator.on_path_rate(self.stream.clock(), *sample)

    # -- incoming -----------------------------------------------------------------------

    async def _receive_text(self, timeout: float | None = None) -> str | None:
        """The next text message; None when the peer closed. Raises ProtocolError."""
        msg = await self.ws.receive(timeout=timeout)
        if msg.type == WSMsgType.TEXT:
            return msg.data
        if msg.type == WSMsgType.BINARY:
            raise ProtocolError(protocol.CLOSE_UNSUPPORTED_DATA, "binary messages are not accepted")
        if msg.type == WSMsgType.ERROR:
            exc = msg.data
            code = getattr(exc, "code", protocol.CLOSE_PROTOCOL_ERROR)
            if isinstance(code, int) and 1000 <= code < 5000:
                raise ProtocolError(code, str(exc) or "bad frame")
            raise ProtocolError(protocol.CLOSE_PROTOCOL_ERROR, "bad WebSocket frame")
        return None  # CLOSE, CLOSING, CLOSED

    async def _handshake(self, text: str) -> tuple[Viewer, Access]:
        msg = protocol.parse_client_message(text)
        if not isinstance(msg, protocol.Hello):
            raise ProtocolError(protocol.CLOSE_PROTOCOL_ERROR, "the first message must be hello")
        cfg = self.stream.config
        ctx = auth_context(self.request, token=msg.token, transport="websocket",
                           stream=self.stream.name, hello=msg.fields)  # fmt: skip
        access = await self.stream.access.admit(ctx)
        if access is None:
            self.stream.refused["unauthorized"] += 1
            raise ProtocolError(protocol.CLOSE_UNAUTHORIZED, REFUSED_REASON)
        if msg.view_only and not access.view_only:
            access = Access(access.principal, view_only=True)
        cap = protocol.negotiate(
            msg.supported,
            h264_available=encoders.unavailable_reason(protocol.CAP_H264) is None,
            force_image=cfg.force_image,
            preferred_image=cfg.preferred_image,
        )
        if cap is None:
            raise ProtocolError(protocol.CLOSE_UNSUPPORTED_DATA, "no supported transport")
        if self.stream.closed:
            raise ProtocolError(protocol.CLOSE_GOING_AWAY, "server shutting down")
        if (full := self.stream.full()) is not None:
            raise ProtocolError(protocol.CLOSE_TRY_AGAIN_LATER, full)
        viewer = self.stream.hub.attach(cap, self, scaled_frames=msg.scaled_frames)
        self.stream.inputs.open(viewer.id, access)
        return viewer, access

    async def run(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        close_code: int = protocol.CLOSE_NORMAL
        close_reason = ""
        try:
            try:
                text = await self._receive_text(timeout=HELLO_TIMEOUT_S)
            except TimeoutError:
                raise ProtocolError(protocol.CLOSE_PROTOCOL_ERROR, "no hello received") from None
            if text is None:
                return
            self.greeted = True
            # The config goes out before any frame: the sender starts after it is queued.
            viewer, access = await self._handshake(text)
            self.viewer = viewer
            self._out.appendleft(
                config_message(
                    self.stream,
                    viewer,
                    "webcodecs" if viewer.is_video else "image",
                    view_only=access.view_only,
                    whep_path=self.whep_path,
                )
            )
            tasks = [
                asyncio.create_task(self._sender(), name=f"rfb-send-{viewer.id}"),
                asyncio.create_task(self._stats(), name=f"rfb-stats-{viewer.id}"),
            ]
            handled = 0
            while (text := await self._receive_text()) is not None:
                msg = protocol.parse_client_message(text)
                dispatch(self.stream, viewer, msg)
                if isinstance(msg, protocol.Ack):
                    self._sample_path_rate(viewer)
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
            if self.viewer is not None:
                self.stream.hub.detach(self.viewer.id)
                self.stream.inputs.close(self.viewer.id)
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            await self.close(close_code, close_reason)


async def handle(
    request: web.Request, stream: Stream, *, whep_path: str | None = None
) -> web.WebSocketResponse:
    """Serve one viewer of ``stream`` on this upgrade request until it leaves."""
    ws = web.WebSocketResponse(
        compress=False,  # frames are already compressed; deflating them only burns CPU
        max_msg_size=protocol.MAX_TEXT_MESSAGE_BYTES + 1,  # aiohttp refuses size >= max
        heartbeat=HEARTBEAT_S,
    )
    pending = [c for c in stream.connections if c.pending]
    if len(pending) >= stream.config.max_pending:
        # Sockets that never say hello would each hold a slot until the hello timeout:
        # the oldest makes room once it has had time to say it, so a flood of silent
        # connections cannot keep a real viewer out; a young one is still handshaking.
        oldest = min(pending, key=lambda c: c.opened_at)
        stream.refused["max_pending"] += 1
        if stream.clock() - oldest.opened_at >= PENDING_GRACE_S:
            oldest.evict("no hello in time: evicted for a newer connection")
        else:
            limit = stream.config.max_pending
            return await reject(
                request,
                protocol.CLOSE_TRY_AGAIN_LATER,
                f"too many connections waiting for hello (max_pending={limit})",
            )
    await ws.prepare(request)
    conn = WebSocketViewer(ws, stream, request, whep_path)
    stream.connections.add(conn)
    try:
        await conn.run()
    finally:
        stream.connections.discard(conn)
    return ws


async def reject(request: web.Request, code: int, reason: str) -> web.WebSocketResponse:
    """Accept the upgrade only to close it with an application close code (e.g. 4404)."""
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    await ws.close(code=code, message=reason.encode())
    return ws
