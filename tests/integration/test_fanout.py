"""Many viewers of one stream on loopback: 200 ack-only WebSocket viewers (raw clients in
this process, tests/support/ack_viewers.py) and one that decodes, for 10 s. Every viewer
gets a valid stream, its seq dense from 0 and a keyframe first; the decoding viewer's
frames decode; after they leave, the stream is back to no viewers and no groups. And a
viewer whose client offers permessage-deflate, as browsers do: declined on rfb's own port
(frames are compressed already), taken under uvicorn, and the frames arrive whole on both."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import aiohttp

import rfb
from rfb import client, protocol

from support.ack_viewers import open_viewers
from support.servers import publishing, running_uvicorn

VIEWERS = 200
SECONDS = 10.0
W, H = 320, 240
START_CODES = (b"\x00\x00\x00\x01", b"\x00\x00\x01")


class Check:
    """What one ack-only viewer saw: its frames' seqs and whether each header was valid."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.first_keyframe: bool | None = None
        self.bad: list[str] = []

    def on_frame(self, header: dict[str, Any], payload: bytes) -> None:
        if header.get("type") == "image_frame" and header.get("exact") is True:
            # The resting frame, exact (these viewers list exact_still as the browser
            # does): a publisher stalled on a busy machine makes one. A PNG, in seq.
            if header.get("mime") != "image/png" or not payload.startswith(b"\x89PNG"):
                self.bad.append(f"bad exact still: {header}")
            self.seqs.append(header["seq"])
            return
        if header.get("type") != "video_chunk":
            self.bad.append(f"not H.264: {header.get('type')}")
            return
        if self.first_keyframe is None:
            self.first_keyframe = header["keyframe"] is True
        ok = (isinstance(header["seq"], int) and header["codec"].startswith("avc1.")
              and header["bitstream"] == "annexb" and header["width"] > 0 and header["height"] > 0
              and (header.get("frame_width", W), header.get("frame_height", H)) == (W, H)
              and payload.startswith(START_CODES))  # fmt: skip
        if not ok:
            self.bad.append(f"bad frame: {header}")
        self.seqs.append(header["seq"])


async def _decode(url: str, frames: list[Any], stop: asyncio.Event) -> None:
    async with client.connect(url, [protocol.CAP_H264], scaled_frames=True) as v:
        while not stop.is_set():
            f = await v.next_frame(decode=True, timeout=20)
            frames.append(f.pixels)


async def test_two_hundred_viewers_each_get_a_dense_valid_stream_and_leave_no_trace(
    serving: Any,
) -> None:
    display, _ = await serving(W, H, pattern="scene", max_viewers=VIEWERS + 8,
                               max_pending=VIEWERS + 8)  # fmt: skip
    stream = display.stream
    port = urlsplit(display.url).port
    assert port is not None and stream.hub.viewer_count == 0 and not stream.hub.groups
    checks = [Check() for _ in range(VIEWERS)]
    viewers = await open_viewers(port, [c.on_frame for c in checks])
    decoded: list[Any] = []
    stop = asyncio.Event()
    decoder = asyncio.create_task(_decode(display.url.replace("http", "ws", 1), decoded, stop))
    await asyncio.sleep(SECONDS)
    assert stream.hub.viewer_count == VIEWERS + 1
    stop.set()
    await decoder
    for v in viewers:
        v.close()
    await asyncio.gather(*(v.closed for v in viewers))

    for c in checks:
        assert c.first_keyframe is True
        assert not c.bad, c.bad[:3]
        assert len(c.seqs) >= 10 and c.seqs == list(range(len(c.seqs)))  # dense, from 0
    assert len(decoded) >= 10
    assert all(p is not None and p.shape == (H, W, 3) for p in decoded)
    async with asyncio.timeout(10):  # the closes reach the server
        while stream.hub.viewer_count or stream.connections or stream.hub.groups:
            await asyncio.sleep(0.05)
    assert stream.hub.metrics()["viewers"] == []


def _frame_headers(messages: list[aiohttp.WSMessage]) -> list[dict[str, Any]]:
    return [protocol.unpack_envelope(m.data)[0] for m in messages if m.type == aiohttp.WSMsgType.BINARY]


async def _watch_with_deflate(url: str, frames: int = 5) -> tuple[int, list[dict[str, Any]]]:
    """A viewer that offers permessage-deflate; (the compression it got, its frame headers)."""
    got: list[aiohttp.WSMessage] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url, compress=15) as ws:
        await ws.send_str(protocol.build_hello([protocol.CAP_H264], scaled_frames=True))
        while len(_frame_headers(got)) < frames:
            msg = await ws.receive(timeout=10)
            assert msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), msg
            got.append(msg)
            if msg.type == aiohttp.WSMsgType.BINARY:
                header = protocol.unpack_envelope(msg.data)[0]
                await ws.send_str(protocol.build_ack(header["seq"]))
        return ws.compress, _frame_headers(got)


async def test_a_viewer_offering_deflate_is_declined_on_rfbs_port_and_gets_whole_frames(
    serving: Any,
) -> None:
    display, _ = await serving(W, H, pattern="scene")
    compress, headers = await _watch_with_deflate(display.url.replace("http", "ws", 1))
    assert compress == 0  # frames are H.264 already: deflating them only costs CPU
    assert [h["seq"] for h in headers] == list(range(len(headers)))
    assert headers[0]["keyframe"] is True


async def test_a_viewer_offering_deflate_under_uvicorn_gets_it_and_whole_frames() -> None:
    server = rfb.Server()
    cam = server.add_stream("default", W, H)
    async with running_uvicorn(server.asgi(port=0)) as port, publishing(cam, pattern="scene"):
        compress, headers = await _watch_with_deflate(f"ws://127.0.0.1:{port}/")
    assert compress > 0  # negotiated by the ASGI server (its window bits), which deflates
    assert [h["seq"] for h in headers] == list(range(len(headers)))
    assert headers[0]["keyframe"] is True and all(h["type"] == "video_chunk" for h in headers)
