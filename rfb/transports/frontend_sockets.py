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


def _reason(reason: str) -> str:
    return reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


class AiohttpSocket:
    """An aiohttp WebSocketResponse, not yet prepared: ``accept`` prepares it."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.ws = web.WebSocketResponse(
            compress=False,  # frames are already compressed; deflating them only burns CPU
            max_msg_size=protocol.MAX_TEXT_MESSAGE_BYTES + 1,  # aiohttp refuses size >= max
            heartbeat=HEARTBEAT_S,
        )

    async def accept(self) -> None:
        await self.ws.prepare(self.request)

    @property
    def closed(self) -> bool:
        return self.ws.closed

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
        await self.ws.close(code=code, message=_reason(reason).encode())

    def _transport(self) -> asyncio.Transport | None:
        return self.request.transport  # type: ignore[return-value]

    def abort(self) -> None:
        transport = self._transport()
        if transport is not None:
            transport.abort()

    def write_buffer_size(self) -> int:
        transport = self._transport()
        return transport.get_write_buffer_size() if transport is not None else 0

    def raw_socket(self) -> socket.socket | None:
        transport = self._transport()
        return transport.get_extra_info("socket") if transport is not None else None


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
