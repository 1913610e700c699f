"""The WebSocket transport's send path (rfb/transports/websocket.py) without sockets: a
unit's message is built once for all its viewers (UnitMessage) and is byte for byte the
per-viewer message, golden fixtures included; viewers of one group each get a dense seq,
their config first, whether their frames are written straight to the socket or go through
the sender (a socket that compresses, or has bytes waiting)."""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from rfb import protocol
from rfb.access import Access
from rfb.encoders import convert
from rfb.options import StreamOptions
from rfb.session import EncodedUnit
from rfb.stream import Stream
from rfb.transports import websocket
from rfb.transports.websocket import UnitMessage, WebSocketViewer, header_for

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "server-messages"
FPS = 30.0


def unit(index: int = 0, *, keyframe: bool = False, size: int = 1000, **over: Any) -> EncodedUnit:
    fields: dict[str, Any] = dict(
        index=index, data=bytes(range(256)) * (size // 256) + bytes(size % 256),
        keyframe=keyframe, codec="avc1.42C01F", width=1280, height=720, frame_id=index,
        timestamp_us=33333 * index, published_at=0.0, encode_ms=1.0,
        frame_width=1280, frame_height=720,
    )  # fmt: skip
    fields.update(over)
    return EncodedUnit(**fields)


UNITS = {
    "video keyframe": (True, unit(keyframe=True)),
    "video delta": (True, unit(3)),
    "scaled rung": (True, unit(4, keyframe=True, width=640, height=360)),
    "image": (False, unit(2, codec="image/jpeg")),
    "exact still": (True, unit(5, codec="image/png", still=True, exact=True)),
}


def ws_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each frame in a server's byte stream; each must be final,
    unmasked and uncompressed."""
    out, pos = [], 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        assert b0 & 0x80 and not b0 & 0x70 and not b1 & 0x80, "final, no RSV bits, no mask"
        n, pos = b1 & 0x7F, pos + 2
        if n == 126:
            (n,), pos = struct.unpack_from("!H", data, pos), pos + 2
        elif n == 127:
            (n,), pos = struct.unpack_from("!Q", data, pos), pos + 8
        out.append((b0 & 0x0F, data[pos : pos + n]))
        pos += n
    assert pos == len(data)
    return out


@pytest.mark.parametrize("case", UNITS)
@pytest.mark.parametrize("seq", [0, 7, 10, 99, 123456789])
def test_a_units_message_is_the_per_viewer_message_byte_for_byte(case: str, seq: int) -> None:
    is_video, u = UNITS[case]
    built = UnitMessage(is_video, u, FPS, ("seq",))
    expected = header_for(is_video, u, FPS, {"seq": seq}).pack(u.data)
    assert built.message({"seq": seq}) == expected


@pytest.mark.parametrize("case", UNITS)
def test_a_second_per_viewer_field_is_patched_as_well(case: str) -> None:
    is_video, u = UNITS[case]
    built = UnitMessage(is_video, u, FPS, ("seq", "input_seq"))
    for seq, input_seq in ((0, 0), (12, 7), (3, 123456)):
        fields = {"seq": seq, "input_seq": input_seq}
        header, payload = protocol.unpack_envelope(built.message(fields))
        assert header["seq"] == seq and header["input_seq"] == input_seq and payload == u.data
        assert built.message(fields) == header_for(is_video, u, FPS, fields).pack(u.data)


@pytest.mark.parametrize("size", [10, 1000, 70_000])
def test_a_units_websocket_frame_is_its_message_in_one_unmasked_binary_frame(size: int) -> None:
    u = unit(keyframe=True, size=size)
    built = UnitMessage(True, u, FPS, ("seq",))
    frame = b"".join(built.ws_frame({"seq": 41}))
    assert ws_frames(frame) == [(2, built.message({"seq": 41}))]


def _golden(kind: str) -> dict[str, dict[str, Any]]:
    cases = json.loads((FIXTURES / f"{kind}.json").read_text())["cases"]
    return {c["name"]: c for c in cases}


# The golden cases a unit can produce (the rest carry fields only other paths set).
GOLDEN = {
    ("video_chunk", "keyframe_scaled"): (True, unit(1, keyframe=True, width=640, height=360,
                                                    codec="avc1.42C01E")),
    ("video_chunk", "delta"): (True, unit(2)),
    ("video_chunk", "delta_input_seq"): (True, unit(3, timestamp_us=99999)),
    ("image_frame", "jpeg"): (False, unit(0, codec="image/jpeg")),
    ("image_frame", "scaled_rung"): (False, unit(17, codec="image/webp", width=960, height=540,
                                                 timestamp_us=566666)),
    ("image_frame", "exact_still"): (True, unit(5, codec="image/png", width=640, height=480,
                                                frame_width=640, frame_height=480,
                                                timestamp_us=1233333, still=True, exact=True)),
    ("image_frame", "jpeg_input_seq"): (False, unit(4, codec="image/jpeg", timestamp_us=133333)),
}  # fmt: skip


@pytest.mark.parametrize("name", GOLDEN, ids="/".join)
def test_unit_messages_match_the_golden_fixtures(name: tuple[str, str]) -> None:
    kind, case_name = name
    case = _golden(kind).get(case_name)
    if case is None:  # a fixture file without this case yet
        pytest.fail(f"no golden case {name}")
    is_video, u = GOLDEN[name]
    u = EncodedUnit(**{**{f: getattr(u, f) for f in u.__dataclass_fields__},
                       "data": bytes.fromhex(case["payloadHex"])})  # fmt: skip
    if case["header"].get("color"):
        assert case["header"]["color"] == dict(convert.WEBCODECS_COLOR)
    fields = {k: case["header"][k] for k in ("seq", "input_seq") if k in case["header"]}
    built = UnitMessage(is_video, u, FPS, tuple(fields))
    assert built.message(fields).hex() == case["packedHex"]


# -- viewers of one group, through the hub ----------------------------------------------------


class FakeTransport:
    """The socket's byte stream, in the order things were written."""

    def __init__(self, buffered: int = 0) -> None:
        self.data = bytearray()
        self.buffered = buffered  # pretends this many bytes wait in the write buffer

    def write(self, data: bytes) -> None:
        self.data += data

    def writelines(self, parts: tuple[bytes, ...]) -> None:
        self.data += b"".join(parts)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered


class FakeSocket:
    """A ViewerSocket over FakeTransport. ``direct``: frames may be written straight to it
    (aiohttp without compression); else everything goes through send_bytes/send_text, as
    on a socket that compresses (or under ASGI)."""

    def __init__(self, direct: bool, buffered: int = 0) -> None:
        self.transport = FakeTransport(buffered)
        self.direct = direct
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.closed = False
        self.via_send_bytes = 0

    async def receive_text(self, timeout: float | None = None) -> str | None:
        return await self.incoming.get()

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        return await self.incoming.get()

    def _frame(self, opcode: int, data: bytes) -> None:
        n = len(data)
        if n < 126:
            head = bytes((0x80 | opcode, n))
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        self.transport.write(head + data)

    async def send_bytes(self, data: bytes) -> None:
        self.via_send_bytes += 1
        self._frame(2, data)

    async def send_text(self, text: str) -> None:
        self._frame(1, text.encode())

    async def close(self, code: int, reason: str) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def write_buffer_size(self) -> int:
        return self.transport.buffered

    def raw_socket(self) -> None:
        return None

    def tap_text(self, tap: Any) -> bool:
        return False  # every message through receive(), as under ASGI

    def frame_writer(self) -> FakeTransport | None:
        if not self.direct or self.transport.buffered:
            return None
        return self.transport


async def _wait_for(cond: Any) -> None:
    async with asyncio.timeout(5):
        while not cond():
            await asyncio.sleep(0.01)


async def test_viewers_of_one_group_get_dense_seqs_and_the_same_bytes_by_any_path() -> None:
    stream = Stream("cam", StreamOptions(width=1280, height=720, fps=FPS, still_after=None,
                                         adaptive=False))  # fmt: skip
    sockets = [FakeSocket(direct=True), FakeSocket(direct=True), FakeSocket(direct=False),
               FakeSocket(direct=True, buffered=1)]  # fmt: skip
    conns = [WebSocketViewer(s, stream) for s in sockets]  # type: ignore[arg-type]
    runs = [asyncio.create_task(c.run()) for c in conns]
    hello = protocol.build_hello([protocol.CAP_H264], scaled_frames=True)
    for s in sockets:
        s.incoming.put_nowait(hello)
    await _wait_for(lambda: all(c.viewer is not None for c in conns))
    group = stream.hub.group_of(conns[0].viewer.id)  # type: ignore[union-attr]
    assert group is not None and all(stream.hub.group_of(c.viewer.id) is group for c in conns)  # type: ignore[union-attr]
    units = [unit(i, keyframe=i % 4 == 0, size=500 + 300 * i) for i in range(10)]
    for u in units:
        stream.hub._deliver(group, u)  # what the group's pump does with an encoded unit
        await asyncio.sleep(0.02)  # the sender writes what was queued
        for s in sockets:
            frames = [p for op, p in ws_frames(bytes(s.transport.data)) if op == 2]
            seq = protocol.unpack_envelope(frames[-1])[0]["seq"]
            s.incoming.put_nowait(protocol.build_ack(seq, 0, 1.0))  # the viewer acks it
        await asyncio.sleep(0.02)
    for s in sockets:
        frames = ws_frames(bytes(s.transport.data))
        assert frames[0][0] == 1 and json.loads(frames[0][1])["type"] == "config"
        binary = [p for op, p in frames if op == 2]
        assert len(binary) == len(units)
        for seq, (message, u) in enumerate(zip(binary, units, strict=True)):
            assert message == header_for(True, u, FPS, {"seq": seq}).pack(u.data)
    assert [s.via_send_bytes for s in sockets] == [0, 0, len(units), len(units)]
    assert all(c.viewer.backlog == 0 for c in conns)  # type: ignore[union-attr]
    for s in sockets:
        s.incoming.put_nowait(None)  # the peer closed
    await asyncio.gather(*runs)
    assert stream.hub.viewer_count == 0
    await stream.aclose(1.0)


async def test_a_frame_goes_behind_what_is_queued_for_the_viewer() -> None:
    stream = Stream("cam", StreamOptions(width=64, height=48, fps=FPS, still_after=None))
    sock = FakeSocket(direct=True)
    conn = WebSocketViewer(sock, stream)  # type: ignore[arg-type]
    viewer = stream.open_viewer(websocket.LinkKind.WEBSOCKET, conn, Access(),
                                supported=(protocol.CAP_H264,)).viewer  # fmt: skip
    conn.viewer = viewer
    sock.transport.buffered = 1  # the socket is backed up: the text queues for the sender
    conn.send_text('{"type":"cursor","cursor":"default"}')
    sock.transport.buffered = 0  # drained, but the text still waits (the sender is not running)
    u = unit(keyframe=True, width=64, height=48, frame_width=64, frame_height=48)
    seq = viewer.offer(u, stream.clock())
    assert seq == 0
    assert conn.send_unit(viewer, seq, u) is False  # queued behind the text, not written
    assert not sock.transport.data
    sender = asyncio.create_task(conn._sender())
    await _wait_for(lambda: len(ws_frames(bytes(sock.transport.data))) == 2)
    (op1, text), (op2, message) = ws_frames(bytes(sock.transport.data))
    assert (op1, op2) == (1, 2) and json.loads(text)["type"] == "cursor"
    assert message == header_for(True, u, FPS, {"seq": 0}).pack(u.data)
    u2 = unit(1, width=64, height=48, frame_width=64, frame_height=48)
    seq2 = viewer.offer(u2, stream.clock())
    assert seq2 == 1 and conn.send_unit(viewer, seq2, u2) is True  # nothing queued: at once
    assert ws_frames(bytes(sock.transport.data))[-1] == (2, header_for(True, u2, FPS, {"seq": 1}).pack(u2.data))
    conn.send_text('{"type":"cursor","cursor":"wait"}')  # nothing queued: at once, in order
    assert ws_frames(bytes(sock.transport.data))[-1] == (1, b'{"type":"cursor","cursor":"wait"}')
    sender.cancel()
    await asyncio.gather(sender, return_exceptions=True)
    await stream.aclose(1.0)
