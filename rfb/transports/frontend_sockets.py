"""The WebSocket of each front-end, behind websocket.ViewerSocket: aiohttp's (rfb's own
port, or an aiohttp app it is mounted in) and ASGI's (Starlette, FastAPI, any ASGI server).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import WSMsgType, web

from .. import protocol
from ..protocol import ProtocolError

HEARTBEAT_S = 20.0
MAX_REASON_BYTES = 123  # what a close frame has room for

TextTap = Callable[[str], bool]
_TEXT = WSMsgType.TEXT


def _reason(reason: str) -> str:
    return reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


# Every viewer acks every frame. Through ``ws.receive()`` each ack costs a wake-up of the
# pump's task; a tap on aiohttp's message queue hands a text message to the pump's handler
# synchronously, from the parser, when nothing is queued ahead of it (so order holds).
# The queue is aiohttp's private WebSocketDataQueue (its Cython build's ``feed_data`` is a
# cpdef method, which a Python subclass overrides): ``_tap_queue_class`` checks once that a
# subclass's override is what the parser calls, and where it is not, rfb reads every message
# through ``receive()`` as before.
def _make_tap_queue_class() -> type[Any] | None:
    try:
        from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
    except ImportError:
        return None

    try:

        class TapQueue(WebSocketDataQueue):  # type: ignore[misc, valid-type]
            tap: TextTap | None = None
            heard = 0  # messages from the peer, pongs included (AiohttpSocket's heartbeat)

            def feed_data(self, data: Any, size: int) -> None:
                self.heard += 1
                tap = self.tap
                if tap is not None and not self._buffer and data[0] is _TEXT and tap(data[1]):
                    return
                super().feed_data(data, size)

    except TypeError:  # a final class
        return None

    class _Protocol:
        _reading_paused = False

    def self_test() -> bool:
        seen: list[str] = []

        def tap(text: str) -> bool:
            seen.append(text)
            return True

        protocol: Any = _Protocol()
        queue = TapQueue(protocol, 2**16, loop=asyncio.get_running_loop())
        queue.tap = tap
        parser = WebSocketReader(queue, 2**16, compress=False, decode_text=True)
        payload = b"{}"
        parser.feed_data(bytes([0x81, 0x80 | len(payload)]) + bytes(4) + payload)
        return seen == ["{}"] and not queue._buffer and isinstance(queue._limit, int)

    try:
        ok = self_test()
    except Exception:  # aiohttp's internals are not what this expects
        return None
    return TapQueue if ok else None


_TAP_QUEUE: type[Any] | bool | None = False  # not checked yet


def _tap_queue_class() -> type[Any] | None:
    """The TapQueue class, where aiohttp's parser calls its override; else None. Call it
    with a loop running."""
    global _TAP_QUEUE
    if _TAP_QUEUE is False:
        _TAP_QUEUE = _make_tap_queue_class()
    return _TAP_QUEUE if isinstance(_TAP_QUEUE, type) else None


class _TappableResponse(web.WebSocketResponse):
    """aiohttp's WebSocketResponse, whose message queue is a TapQueue: ``_post_start`` makes
    the queue and hands it to the parser; the setter swaps it for a TapQueue before that."""

    @property  # type: ignore[override]
    def _reader(self) -> Any:
        return self.__dict__.get("_rfb_reader")

    @_reader.setter
    def _reader(self, queue: Any) -> None:
        tap_queue = _tap_queue_class()
        aiohttp_queue: Any = tap_queue.__mro__[1] if tap_queue is not None else None
        if (
            tap_queue is not None
            and queue is not None
            and type(queue) is aiohttp_queue
            and not queue._buffer
        ):
            queue = tap_queue(queue._protocol, queue._limit // 2, loop=asyncio.get_running_loop())
        self.__dict__["_rfb_reader"] = queue


def _ignore_outcome(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # a ping on a closing socket: the pump sees the close itself


class AiohttpSocket:
    """An aiohttp WebSocketResponse, not yet prepared: ``accept`` prepares it."""

    def __init__(self, request: web.Request, *, tap: bool = True) -> None:
        self.request = request
        self._tappable = tap and _tap_queue_class() is not None
        response = _TappableResponse if self._tappable else web.WebSocketResponse
        self.ws = response(
            compress=False,  # frames are already compressed; deflating them only burns CPU
            max_msg_size=protocol.MAX_TEXT_MESSAGE_BYTES + 1,  # aiohttp refuses size >= max
            # aiohttp's heartbeat re-arms a timer once a loop turn per connection that
            # received data (a callback per ack): with the tap, _on_beat does that job.
            heartbeat=None if self._tappable else HEARTBEAT_S,
        )
        self._beat: asyncio.TimerHandle | None = None
        self._heard = 0
        self._pinged = False
        self._ping: asyncio.Future[None] | None = None

    async def accept(self) -> None:
        await self.ws.prepare(self.request)
        if self._tappable:
            self._beat = asyncio.get_running_loop().call_later(HEARTBEAT_S, self._on_beat)

    def _on_beat(self) -> None:
        """The heartbeat: a peer silent for HEARTBEAT_S gets a ping; still silent
        HEARTBEAT_S / 2 later (no pong), its connection is dropped, as aiohttp would."""
        self._beat = None
        queue: Any = self.ws.__dict__.get("_rfb_reader")
        if self.ws.closed or queue is None:
            return
        if queue.heard != self._heard:
            self._heard, self._pinged = queue.heard, False
        elif self._pinged:
            self.abort()
            return
        else:
            self._pinged = True
            self._ping = asyncio.ensure_future(self.ws.ping())
            self._ping.add_done_callback(_ignore_outcome)
        wait = HEARTBEAT_S / 2 if self._pinged else HEARTBEAT_S
        self._beat = asyncio.get_running_loop().call_later(wait, self._on_beat)

    @property
    def closed(self) -> bool:
        return self.ws.closed

    def tap_text(self, tap: TextTap | None) -> bool:
        """From now on, a text message with nothing queued ahead of it is offered to ``tap``
        as it arrives; ``tap`` returns True where it handled it, else it is queued for
        ``receive`` as usual. False where this socket cannot do that (then nothing changed)."""
        queue: Any = self.ws.__dict__.get("_rfb_reader")
        tap_queue = _tap_queue_class()
        if tap_queue is None or type(queue) is not tap_queue:
            return False
        queue.tap = tap
        return True

    async def receive_text(self, timeout: float | None = None) -> str | None:
        msg = await self.receive(timeout)
        if isinstance(msg, bytes):
            raise ProtocolError(protocol.CLOSE_UNSUPPORTED_DATA, "binary messages are not accepted")
        return msg

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type == WSMsgType.TEXT:
            return str(msg.data)
        if msg.type == WSMsgType.BINARY:
            return bytes(msg.data)
        if msg.type == WSMsgType.ERROR:
            exc = msg.data
            code = getattr(exc, "code", protocol.CLOSE_PROTOCOL_ERROR)
            if isinstance(code, int) and 1000 <= code < 5000:
                raise ProtocolError(code, str(exc) or "bad frame")
            raise ProtocolError(protocol.CLOSE_PROTOCOL_ERROR, "bad WebSocket frame")
        return None  # CLOSE, CLOSING, CLOSED

    async def send_bytes(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    async def send_text(self, text: str) -> None:
        await self.ws.send_str(text)

    async def close(self, code: int, reason: str) -> None:
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None
        await self.ws.close(code=code, message=_reason(reason).encode())

    def _transport(self) -> asyncio.Transport | None:
        return self.request.transport  # type: ignore[return-value]

    def abort(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None
        transport = self._transport()
        if transport is not None:
            transport.abort()

    def write_buffer_size(self) -> int:
        transport = self._transport()
        return transport.get_write_buffer_size() if transport is not None else 0

    def raw_socket(self) -> socket.socket | None:
        transport = self._transport()
        return transport.get_extra_info("socket") if transport is not None else None

    def frame_writer(self) -> asyncio.WriteTransport | None:
        # aiohttp writes an uncompressed frame to its transport in one synchronous call
        # (pings and the close frame too), so a whole frame written here between its
        # messages cannot interleave with one of them. Its writer is private: where it is
        # not as expected, frames go through send_bytes.
        writer: Any = getattr(self.ws, "_writer", None)
        if writer is None or self.ws.closed or getattr(writer, "compress", True):
            return None
        if getattr(writer, "_closing", True) or getattr(self.ws, "_closing", True):
            return None  # a close frame is out or on its way: nothing may follow it
        transport: asyncio.WriteTransport | None = getattr(writer, "transport", None)
        if transport is None or transport.is_closing() or transport.get_write_buffer_size():
            return None
        return transport


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class AsgiSocket:
    """An ASGI ``websocket`` connection whose ``websocket.connect`` has been received.

    The ASGI server owns the TCP socket, so its write buffer and delivery rate are not
    visible here: the viewer's backlog counts what rfb has queued, and its rate estimate
    rests on the acks alone."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._closed = False
        self._gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def accept(self) -> None:
        await self._emit({"type": "websocket.accept"})

    @property
    def closed(self) -> bool:
        return self._closed

    async def _next_event(self) -> Message | None:
        """The next ASGI event, or None once abort() gave up on the connection."""
        receiving: asyncio.Future[Message] = asyncio.ensure_future(self._receive())
        waits: list[asyncio.Future[Any]] = [receiving, self._gone]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not receiving.done():
                receiving.cancel()
        return receiving.result() if receiving.done() and not receiving.cancelled() else None

    async def receive_text(self, timeout: float | None = None) -> str | None:
        msg = await self.receive(timeout)
        if isinstance(msg, bytes):
            raise ProtocolError(protocol.CLOSE_UNSUPPORTED_DATA, "binary messages are not accepted")
        return msg

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        while not self._closed:
            async with asyncio.timeout(timeout):
                event = await self._next_event()
            if event is None:
                return None
            kind = event["type"]
            if kind == "websocket.disconnect":
                self._closed = True
                return None
            if kind != "websocket.receive":
                continue
            if event.get("text") is not None:
                return str(event["text"])
            return bytes(event.get("bytes") or b"")
        return None

    async def _emit(self, message: Message) -> None:
        if self._closed:
            raise ConnectionError("the WebSocket is closed")
        try:
            await self._send(message)
        except (asyncio.CancelledError, TimeoutError):
            raise
        except Exception as exc:  # each ASGI server raises its own kind for a gone peer
            self._closed = True
            raise ConnectionError(f"the WebSocket is gone: {exc!r}") from exc

    async def send_bytes(self, data: bytes) -> None:
        await self._emit({"type": "websocket.send", "bytes": data})

    async def send_text(self, text: str) -> None:
        await self._emit({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str) -> None:
        if self._closed:
            return
        try:
            await self._emit({"type": "websocket.close", "code": code, "reason": _reason(reason)})
        finally:
            self._closed = True

    def abort(self) -> None:
        # ASGI has no abort: stop reading, so that the app returns and the server drops
        # the connection.
        self._closed = True
        if not self._gone.done():
            self._gone.set_result(None)

    def write_buffer_size(self) -> int:
        return 0

    def raw_socket(self) -> socket.socket | None:
        return None

    def tap_text(self, tap: TextTap | None) -> bool:
        return False  # every message comes through the ASGI server's receive()

    def frame_writer(self) -> asyncio.WriteTransport | None:
        return None  # the ASGI server frames (and may compress) every message itself
