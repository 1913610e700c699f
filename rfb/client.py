"""A Python viewer: speaks the WebSocket protocol, optionally decodes frames.

Used by the tests and benchmarks, and handy for headless checks of a running server:

    async with rfb.client.connect("ws://127.0.0.1:8765/") as viewer:
        frame = await viewer.next_frame(decode=True)
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from . import protocol


@dataclass(slots=True)
class ReceivedFrame:
    header: dict[str, Any]
    payload: bytes
    received_at: float  # time.monotonic()
    pixels: np.ndarray | None = None  # (H, W, 3) RGB when decoded

    @property
    def seq(self) -> int:
        return int(self.header["seq"])

    @property
    def keyframe(self) -> bool:
        return bool(self.header.get("keyframe", True))


class H264Decoder:
    """PyAV H.264 decoder that converts with the matrix the stream's VUI names."""

    def __init__(self) -> None:
        import av

        self._av = av
        self._ctx = av.CodecContext.create("h264", "r")
        self._ctx.thread_count = 1  # one frame in, one frame out: no frame-thread delay

    def decode(self, data: bytes, matrix: str = "smpte170m") -> np.ndarray | None:
        """Decode one access unit; ``matrix`` is the header's ``color.matrix``."""
        colorspace = "ITU709" if matrix == "bt709" else "ITU601"
        out = None
        # One access unit per message: decode it whole (a parser would wait for the next).
        for frame in self._ctx.decode(self._av.Packet(data)):
            out = frame.reformat(
                format="rgb24", src_colorspace=colorspace, src_color_range="MPEG"
            ).to_ndarray()
        return out


def decode_image(payload: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(payload)) as im:
        return np.asarray(im.convert("RGB"))


@dataclass
class Viewer:
    ws: aiohttp.ClientWebSocketResponse
    config: dict[str, Any] = field(default_factory=dict)
    auto_ack: bool = True
    stats: list[dict[str, Any]] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)
    # audio_chunk messages (features=("audio",)): (header, Opus packet), in order; next_frame
    # sets them aside here, next_audio returns them.
    audio: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    _audio_read: int = 0
    _h264: H264Decoder | None = None

    async def send(self, msg: dict[str, Any]) -> None:
        await self.ws.send_str(protocol.dumps(msg))

    async def send_event(self, event: dict[str, Any]) -> None:
        await self.send({"type": "event", "event": event})

    async def ack(self, seq: int, received_at: float | None = None) -> None:
        """``received_at``: time.monotonic() when the frame arrived (for the server's
        path estimate)."""
        ms = None if received_at is None else 1000 * received_at
        await self.ws.send_str(protocol.build_ack(seq, received_ms=ms))

    async def next_frame(self, *, decode: bool = False, timeout: float = 10.0) -> ReceivedFrame:
        """The next binary frame (control messages on the way are recorded), acked if auto_ack."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    data = protocol.json.loads(msg.data)
                    self.texts.append(data)
                    if data.get("type") == "config":
                        self.config = data
                    elif data.get("type") == "stats":
                        self.stats.append(data)
                    continue
                if msg.type != aiohttp.WSMsgType.BINARY:
                    raise ConnectionError(f"socket closed: {msg.type.name} {msg.data} {msg.extra}")
                header, payload = protocol.unpack_envelope(msg.data)
                if header.get("type") == "audio_chunk":
                    self.audio.append((header, payload))
                    continue
                frame = ReceivedFrame(header, payload, time.monotonic())
                if decode:
                    frame.pixels = self.decode(frame)
                if self.auto_ack:
                    await self.ack(frame.seq, frame.received_at)
                return frame

    async def next_audio(self, timeout: float = 10.0) -> tuple[dict[str, Any], bytes]:
        """The next audio_chunk (header, Opus packet); frames on the way are acked (with
        auto_ack) and dropped."""
        async with asyncio.timeout(timeout):
            while self._audio_read >= len(self.audio):
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.texts.append(protocol.json.loads(msg.data))
                    continue
                if msg.type != aiohttp.WSMsgType.BINARY:
                    raise ConnectionError(f"socket closed: {msg.type.name} {msg.data}")
                header, payload = protocol.unpack_envelope(msg.data)
                if header.get("type") == "audio_chunk":
                    self.audio.append((header, payload))
                elif self.auto_ack and "seq" in header:
                    await self.ack(int(header["seq"]), time.monotonic())
        self._audio_read += 1
        return self.audio[self._audio_read - 1]

    def decode(self, frame: ReceivedFrame) -> np.ndarray | None:
        if frame.header["type"] == "video_chunk":
            if self._h264 is None:
                self._h264 = H264Decoder()
            color = frame.header.get("color") or self.config.get("color") or {}
            return self._h264.decode(frame.payload, color.get("matrix", "smpte170m"))
        return decode_image(frame.payload)

    async def wait_closed(self, timeout: float = 5.0) -> tuple[int | None, str]:
        """Read until the server closes; returns (close code, reason)."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    msg = await self.ws.receive()
                except (aiohttp.ClientError, ConnectionError):
                    return self.ws.close_code, ""  # the server hung up right after closing
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):  # fmt: skip
                    return self.ws.close_code, str(msg.extra or "")


@asynccontextmanager
async def connect(
    url: str,
    supported: tuple[str, ...] | list[str] = (protocol.CAP_JPEG, protocol.CAP_PNG),
    *,
    token: str | None = None,
    auto_ack: bool = True,
    hello: bool = True,
    ssl: Any = True,
    scaled_frames: bool = False,
    view_only: bool = False,
    headers: dict[str, str] | None = None,
    features: tuple[str, ...] = (),
) -> AsyncIterator[Viewer]:
    """``ssl``: as aiohttp takes it (True: verify; False: accept any certificate; or a
    context) for ``wss://`` URLs. ``scaled_frames``: say in hello that this viewer draws
    pictures of the ladder's smaller rungs at the frame's size (``frame_width``).
    ``view_only``: ask to watch only. ``headers``: sent with the upgrade request (e.g. a
    cookie for the server's ``authenticate`` hook). ``features``: the server messages this
    viewer wants (``protocol.FEATURES``: messages, cursor, clipboard, pointer_lock,
    exact_still); they are recorded in ``viewer.texts`` like the rest."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            url, max_msg_size=0, compress=0, autoping=True, ssl=ssl, headers=headers
        ) as ws,
    ):
        viewer = Viewer(ws, auto_ack=auto_ack)
        if hello:
            await ws.send_str(
                protocol.build_hello(
                    list(supported),
                    token=token,
                    scaled_frames=scaled_frames,
                    view_only=view_only,
                    features=features,
                )
            )
        yield viewer
