"""Fuzzing a live server: fuzzed messages and raw WebSocket frames, first message or
after hello, against one server while a healthy viewer keeps receiving frames. Fuzzed
input never kills the server, never logs an error, and closes only its own connection
with the code and reason the parser gives.

Deterministic (``derandomize=True``, no example database) so CI sees the same examples.
The parsers alone are fuzzed in tests/unit/ (test_protocol.py, signaling/test_whep.py,
transports/test_ice_policy.py); the strategies are in support/fuzzing.py."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import struct
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import aiohttp
import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import rfb
from rfb import client, encoders, protocol
from rfb.protocol import ProtocolError

from support.fuzzing import (
    TOKEN,
    VIEW_TOKEN,
    T,
    audio_ins,
    dumps,
    file_chunks,
    fuzz,
    junk,
    message_texts,
    parse,
    parse_binary,
)


class LiveServer:
    """One server on its own event loop thread, a render loop publishing frames, and a
    healthy viewer counting what it receives; the tests' clients run on that loop too."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="fuzz-server", daemon=True
        )
        self.thread.start()
        self.frame_times: list[float] = []
        self.viewer_error: BaseException | None = None
        self.call(self._start())

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        # An exclusive floor and presence: fuzzed control messages reach their decisions.
        self.display = await rfb.serve(64, 64, port=0, token=TOKEN, view_token=VIEW_TOKEN,
                                       control="exclusive", presence=True)  # fmt: skip
        self.session = aiohttp.ClientSession()
        self._tasks = [asyncio.create_task(self._publish()), asyncio.create_task(self._watch())]
        deadline = time.monotonic() + 10
        while not self.frame_times and time.monotonic() < deadline and not self.viewer_error:
            await asyncio.sleep(0.02)
        assert self.frame_times, f"the healthy viewer got no frame: {self.viewer_error!r}"

    async def _publish(self) -> None:
        frame = np.zeros((64, 64, 3), np.uint8)
        n = 0
        while True:
            frame[:, :, 0] = n % 256
            frame[n % 64, :, 1] = 255
            self.display.publish(frame)
            n += 1
            await asyncio.sleep(1 / 30)

    async def _watch(self) -> None:
        try:
            async with client.connect(
                self.display.ws_url, [protocol.CAP_JPEG], token=TOKEN
            ) as viewer:
                while True:
                    await viewer.next_frame(timeout=5)
                    self.frame_times.append(time.monotonic())
        except BaseException as exc:
            self.viewer_error = exc
            raise

    async def _stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        await self.session.close()
        await self.display.aclose()

    def close(self) -> None:
        try:
            self.call(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    async def _settled(self) -> tuple[int, str]:
        deadline = time.monotonic() + 5
        while self.display.client_count != 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        async with self.session.get(self.display.url + "health") as resp:
            return self.display.client_count, await resp.text()

    def assert_healthy(self, since: float) -> None:
        """The healthy viewer kept receiving frames since ``since``; the fuzzed ones are
        all gone; the server answers /health."""
        assert self.viewer_error is None, repr(self.viewer_error)
        count, health = self.call(self._settled())
        assert count == 1, f"{count} viewers left (only the healthy one should be)"
        assert health == "ok"
        times = [since, *(t for t in self.frame_times if t >= since), time.monotonic()]
        assert len(times) > 3, "the healthy viewer got no frames during the fuzzing"
        gap = max(b - a for a, b in itertools.pairwise(times))
        assert gap < 3.0, f"the healthy viewer waited {gap:.1f} s for a frame"


class ErrorLog(logging.Handler):
    """Collects ERROR records: an exception escaping a handler or a task is logged."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    server = LiveServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    assert not handler.records, [
        (r.name, r.getMessage(), r.exc_text or r.exc_info) for r in handler.records
    ]


ACCEPTED = (-1, "")
END = '{"type":"fuzz_end"}'  # closes an open connection with a known code and reason
END_CLOSE = (protocol.CLOSE_POLICY_VIOLATION, "unknown message type 'fuzz_end'")
H264 = encoders.unavailable_reason(protocol.CAP_H264) is None


def expect_first(text: str) -> tuple[int, str]:
    """What the server does with this first message: close (code, reason) or ACCEPTED."""
    msg = parse(text)
    if isinstance(msg, ProtocolError):
        return msg.close_code, msg.reason
    if not isinstance(msg, protocol.Hello):
        return protocol.CLOSE_PROTOCOL_ERROR, "the first message must be hello"
    if msg.token not in (TOKEN, VIEW_TOKEN):
        return protocol.CLOSE_UNAUTHORIZED, "unauthorized"
    if protocol.negotiate(msg.supported, h264_available=H264) is None:
        return protocol.CLOSE_UNSUPPORTED_DATA, "no supported transport"
    return ACCEPTED


def expect_next(message: str | bytes, refused: set[int] | None = None) -> tuple[int, str]:
    """What the server does with a message after hello. ``refused``: the ids of file
    offers made so far on this connection (the live stream takes no uploads, so each is
    refused, and a chunk of it is late, dropped; a chunk of any other id closes)."""
    refused = set() if refused is None else refused
    if isinstance(message, bytes):
        chunk = parse_binary(message)
        if isinstance(chunk, ProtocolError):
            return chunk.close_code, chunk.reason
        if isinstance(chunk, protocol.AudioIn):
            return ACCEPTED  # this stream takes no microphone: refused, dropped, counted
        if chunk.id in refused:
            return ACCEPTED
        return protocol.CLOSE_POLICY_VIOLATION, f"file_chunk for unknown upload {chunk.id}"
    msg = parse(message)
    if isinstance(msg, ProtocolError):
        return msg.close_code, msg.reason
    if isinstance(msg, protocol.Hello):
        return protocol.CLOSE_PROTOCOL_ERROR, "hello sent twice"
    if isinstance(msg, protocol.FileOffer):
        refused.add(msg.id)
    return ACCEPTED


async def until_close(
    ws: aiohttp.ClientWebSocketResponse, *, config: bool = False
) -> tuple[int, str]:
    """Read to the server's close frame (code, reason); ``config``: stop at the config
    message instead, and fail if the server closes first."""
    async with asyncio.timeout(5):
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                if config and json.loads(msg.data).get("type") == "config":
                    return ACCEPTED
            elif msg.type == aiohttp.WSMsgType.CLOSE:
                assert not config, f"closed instead of config: {msg.data} {msg.extra!r}"
                return int(msg.data), str(msg.extra or "")
            elif msg.type != aiohttp.WSMsgType.BINARY:
                raise AssertionError(f"no close frame: {msg.type.name} {msg.data!r}")


def check_close(got: tuple[int, str], want: tuple[int, str], size: int = 0) -> None:
    """``size``: the UTF-8 bytes of the message that decided ``want``."""
    code, reason = got
    assert 1000 <= code <= 4999, got
    if want[0] == protocol.CLOSE_TOO_BIG:  # aiohttp refuses it, with no reason
        assert code == protocol.CLOSE_TOO_BIG, (got, want)
    else:
        assert got == want
        assert reason


async def send(ws: aiohttp.ClientWebSocketResponse, message: str | bytes) -> None:
    with contextlib.suppress(ConnectionError, aiohttp.ClientError):  # closed already
        if isinstance(message, bytes):
            await ws.send_bytes(message)
        else:
            await ws.send_str(message)


async def session_after_hello(live: LiveServer, messages: list[str | bytes]) -> tuple[int, str]:
    async with live.session.ws_connect(live.display.ws_url, max_msg_size=0) as ws:
        await ws.send_str(protocol.build_hello([protocol.CAP_JPEG], token=TOKEN))
        await until_close(ws, config=True)
        for message in messages:
            await send(ws, message)
        await send(ws, END)
        return await until_close(ws)


async def session_first(live: LiveServer, first: str | bytes, accepted: bool) -> tuple[int, str]:
    async with live.session.ws_connect(live.display.ws_url, max_msg_size=0) as ws:
        await send(ws, first)
        if accepted:
            await until_close(ws, config=True)
            await send(ws, END)
        return await until_close(ws)


# Over the wire a text message is valid UTF-8: no lone surrogates, written raw.
wire_text = st.one_of(
    message_texts(),
    message_texts(mode="valid"),
    message_texts(mode="one"),
    junk.map(dumps),
    st.text(max_size=100),
    st.sampled_from(
        [
            "[" * 30000,
            "{" * 20,
            '{"type":"event","event":' + "[" * 20000 + "]" * 20000 + "}",
            '{"type":"set_viewport","width":1'
            + "0" * 400
            + ',"height":1,"pwidth":1,"pheight":1,"ratio":1}',
            '{"type":"hello","supported":["image/jpeg"],"token":"\\ud800"}',
            " " * (protocol.MAX_TEXT_MESSAGE_BYTES - 2) + "{}",
            " " * (protocol.MAX_TEXT_MESSAGE_BYTES - 1) + "{}",
        ]
    ),
)
wire_message = wire_text | st.binary(max_size=64) | file_chunks() | audio_ins()


@fuzz(80)
@given(st.lists(wire_message, min_size=1, max_size=3))
def _after_hello(live: LiveServer, messages: list[str | bytes]) -> None:
    want, sent, size, offered = END_CLOSE, [], 0, set()
    for message in messages:
        sent.append(message)
        size = len(message) if isinstance(message, bytes) else len(message.encode())
        if (want := expect_next(message, offered)) != ACCEPTED:
            break
    else:
        want = END_CLOSE
    got = live.call(session_after_hello(live, sent))
    event("all accepted" if want == END_CLOSE else f"close {got[0]}")
    check_close(got, want, size)


def test_server_survives_fuzzed_messages(live: LiveServer, errors: ErrorLog) -> None:
    since = time.monotonic()
    _after_hello(live)
    live.assert_healthy(since)


@st.composite
def first_messages(draw: st.DrawFn) -> str | bytes:
    token = draw(st.sampled_from([TOKEN, VIEW_TOKEN]))  # a token that lets it in, mostly
    force = {"token": dumps(token)}
    valid = message_texts(kinds=("hello",), mode="valid", force=force)
    one = message_texts(kinds=("hello",), mode="one", force=force)
    text = draw(st.one_of(valid, one, message_texts(kinds=("hello",)), wire_message))
    if isinstance(text, str) and draw(st.integers(0, 3)) == 0:
        with contextlib.suppress(ValueError, KeyError, TypeError, RecursionError):
            obj = json.loads(text)
            if isinstance(obj, dict) and obj.get("type") == "hello":
                obj["token"] = token
                text = json.dumps(obj)
    return text


@fuzz(80)
@given(first_messages())
def _first(live: LiveServer, first: str | bytes) -> None:
    binary = (protocol.CLOSE_UNSUPPORTED_DATA, "binary messages are not accepted")  # before hello
    want = expect_first(first) if isinstance(first, str) else binary
    got = live.call(session_first(live, first, accepted=want == ACCEPTED))
    event("admitted" if want == ACCEPTED else f"close {got[0]}")
    size = len(first) if isinstance(first, bytes) else len(first.encode())
    check_close(got, END_CLOSE if want == ACCEPTED else want, size)


def test_server_survives_fuzzed_first_message(live: LiveServer, errors: ErrorLog) -> None:
    since = time.monotonic()
    _first(live)
    live.assert_healthy(since)


# Raw WebSocket frames: reserved opcodes and bits, unmasked, fragmented, invalid UTF-8,
# oversized control frames, bad close codes, garbage between frames.


def ws_frame(
    opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    b1 = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode, b1 | n])
    elif n < 1 << 16:
        head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode, b1 | 126]) + struct.pack("!H", n)
    else:
        head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode, b1 | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = b"\x5a\x3c\x96\xe1"
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + key + masked


HELLO_FRAME = ws_frame(1, protocol.build_hello([protocol.CAP_JPEG], token=TOKEN).encode())
END_FRAME = ws_frame(1, END.encode())
# Completes any frame still owed bytes (aiohttp refuses data frames of 64 KiB or more and
# control frames over 125 bytes at their header), then ends in a frame with reserved bits.
FILL = b"\xff" * (protocol.MAX_TEXT_MESSAGE_BYTES + 16)

close_payloads = st.builds(
    lambda code, reason: struct.pack("!H", code) + reason,
    st.sampled_from(
        [1000, 1001, 1002, 999, 1004, 1005, 1006, 1015, 1016, 2999, 3000, 4999, 5000, 65535]
    ),
    st.binary(max_size=8) | st.just(b"\xed\xa0\x80"),
) | st.binary(max_size=2)
frame_payloads = st.one_of(
    st.binary(max_size=40),
    wire_text.filter(lambda t: len(t) < 300).map(str.encode),
    st.sampled_from([b"\xff", b"\xed\xa0\x80", b'{"type":"ack","seq":1}\xc3', b"x" * 126]),
    close_payloads,
)
raw_frames = st.one_of(
    st.builds(
        ws_frame,
        opcode=st.sampled_from([0, 1, 1, 2, 3, 7, 8, 9, 10, 11, 15]),
        payload=frame_payloads,
        fin=st.booleans() | st.just(True),
        rsv=st.sampled_from([0, 0, 0, 1, 2, 4, 7]),
        mask=st.booleans() | st.just(True),
    ),
    st.binary(min_size=1, max_size=16),  # garbage
    st.builds(
        lambda n: bytes([0x81, 0xFF]) + struct.pack("!Q", n) + b"\0" * 4,
        st.sampled_from([2**16, 2**31, 2**63, 2**64 - 1]),
    ),
)


async def read_server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    try:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await reader.readexactly(8))
        return b0 & 0x0F, await reader.readexactly(n)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


async def raw_session(live: LiveServer, hello: bool, frames: list[bytes]) -> tuple[int, str] | None:
    """Send raw bytes after the upgrade; the server's close frame (code, reason), or None
    when it hung up without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", live.display.port)
    try:
        key = base64.b64encode(b"fuzz-fuzz-fuzz!!").decode()
        writer.write(
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{live.display.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        writer.write((HELLO_FRAME if hello else b"") + b"".join(frames) + END_FRAME + FILL)
        async with asyncio.timeout(5):
            while (frame := await read_server_frame(reader)) is not None:
                opcode, payload = frame
                if opcode == 8:
                    assert len(payload) >= 2, payload
                    (code,) = struct.unpack_from("!H", payload)
                    return code, payload[2:].decode("utf-8")
            return None
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@fuzz(80)
@given(st.booleans(), st.lists(raw_frames, min_size=1, max_size=3))
def _raw(live: LiveServer, hello: bool, frames: list[bytes]) -> None:
    got = live.call(raw_session(live, hello, frames))
    event(f"close {got and got[0]}")
    assert got is not None, "the server hung up without a close frame"
    code, _ = got
    assert 1000 <= code <= 4999 and code not in (1005, 1006, 1015), got


def test_server_survives_raw_frames(live: LiveServer, errors: ErrorLog) -> None:
    since = time.monotonic()
    _raw(live)
    live.assert_healthy(since)
