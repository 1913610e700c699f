"""Bad input over a real WebSocket closes only the connection that sent it, with the code
that says why (counted by code), while a healthy viewer keeps receiving frames: malformed
messages, bad handshakes, silence past the hello timeout, invalid UTF-8."""

from __future__ import annotations

import asyncio

import pytest

from rfb import client, protocol

H264 = [protocol.CAP_H264, protocol.CAP_JPEG, protocol.CAP_PNG]
JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]


async def _healthy_frames(v: client.Viewer, n: int) -> None:
    for _ in range(n):
        await v.next_frame(timeout=5)


BAD_PEERS = [
    ("invalid json", "text", "{not json", 1007),
    ("unknown type", "text", '{"type":"subscribe"}', 1008),
    ("missing field", "text", '{"type":"ack"}', 1008),
    ("wrong type", "text", '{"type":"ack","seq":"zero"}', 1008),
    ("bad event", "text", '{"type":"event","event":{"type":"pointer_move","x":"a","y":1}}', 1008),
    ("unknown pointer type", "text",
     '{"type":"event","event":{"type":"pointer_down","x":1,"y":1,"pointer_type":"nose"}}', 1008),
    ("oversized text", "text", '{"type":"event","event":{"type":"char","data":"' + "x" * 257 + '"}}',
     1008),
    ("gamepad NaN axis", "text",
     '{"type":"event","event":{"type":"gamepad","index":0,"connected":true,"axes":[NaN]}}', 1008),
    ("gamepad oversized buttons", "text",
     '{"type":"event","event":{"type":"gamepad","index":0,"connected":true,"buttons":['
     + ",".join(['{"pressed":true,"value":1}'] * 33) + "]}}", 1008),
    ("gamepad index 4", "text",
     '{"type":"event","event":{"type":"gamepad","index":4,"connected":true}}', 1008),
    ("huge", "text", '{"type":"ack","seq":0,"pad":"' + "x" * 200_000 + '"}', 1009),
    ("binary", "bytes", b"\x00\x01\x02", 1002),  # not even an envelope
    ("binary frame envelope", "bytes", protocol.ImageFrameHeader(0, 0, 1, 1, "image/png").pack(b""),
     1003),  # only file chunks come from a viewer
    ("file chunk of no upload", "bytes", protocol.FileChunkHeader(7, 0).pack(b"x"), 1008),
    ("file chunk too large", "bytes",
     protocol.FileChunkHeader(7, 0).pack(b"x" * (protocol.FILE_CHUNK_MAX + 1)), 1009),
    ("file offer without a size", "text", '{"type":"file_offer","id":1,"name":"a"}', 1008),
    ("hello twice", "text", protocol.build_hello(JPEG), 1002),
]


@pytest.mark.parametrize(("name", "kind", "data", "code"), BAD_PEERS, ids=[b[0] for b in BAD_PEERS])
async def test_malformed_message_closes_only_that_viewer(serving, name, kind, data, code) -> None:
    display, _ = await serving(160, 120)
    async with (
        client.connect(display.ws_url, H264) as good,
        client.connect(display.ws_url, H264) as bad,
    ):
        await _healthy_frames(good, 2)
        await bad.next_frame()
        before = good_frames = 0
        if kind == "text":
            await bad.ws.send_str(data)
        else:
            await bad.ws.send_bytes(data)
        got_code, reason = await bad.wait_closed()
        assert got_code == code, reason
        before = display.client_count  # detached before the close handshake
        # the healthy viewer keeps receiving, without a gap
        for _ in range(10):
            f = await good.next_frame(timeout=2)
            good_frames += 1
        assert good_frames == 10 and before == 1 and not f.header.get("error")
    # and it is counted, by close code
    assert display.metrics()["display"]["protocol_errors"] == {str(code): 1}


@pytest.mark.parametrize(
    ("first", "code"),
    [
        ('{"type":"ack","seq":0}', 1002),
        ('{"type":"hello","supported":["video/vp9"]}', 1003),
        ("{oops", 1007),
    ],
)
async def test_bad_handshakes(serving, first, code) -> None:
    display, _ = await serving(64, 64)
    async with client.connect(display.ws_url, hello=False) as v:
        await v.ws.send_str(first)
        got, _ = await v.wait_closed()
    assert got == code


async def test_a_silent_connection_is_closed_after_the_hello_timeout(serving, monkeypatch) -> None:
    from rfb.transports import websocket

    monkeypatch.setattr(websocket, "HELLO_TIMEOUT_S", 0.3)
    display, _ = await serving(64, 64)
    async with client.connect(display.ws_url, hello=False) as v:
        code, _ = await v.wait_closed()
    assert code == protocol.CLOSE_PROTOCOL_ERROR
    assert display.client_count == 0


async def test_invalid_utf8_text_closes_with_1007(serving) -> None:
    display, _ = await serving(64, 64)
    async with client.connect(display.ws_url, JPEG) as good:
        await good.next_frame()
        reader, writer = await asyncio.open_connection("127.0.0.1", display.port)
        writer.write(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await reader.readuntil(b"\r\n\r\n")
        bad = b"\xff\xfe{"
        writer.write(bytes([0x81, 0x80 | len(bad)]) + b"\x00\x00\x00\x00" + bad)  # masked text
        await writer.drain()
        frame = await asyncio.wait_for(reader.read(64), 5)
        assert frame[0] == 0x88  # a close frame
        assert int.from_bytes(frame[2:4], "big") == protocol.CLOSE_INVALID_PAYLOAD
        writer.close()
        for _ in range(3):
            await good.next_frame()
