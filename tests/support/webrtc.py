"""WHEP players for tests: an aiortc peer connection that watches a stream, as a browser
would, and the ICE settings that keep WebRTC on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import aiohttp
import numpy as np

import rfb
from rfb.signaling import IceConfig

LOOPBACK = IceConfig(host_addresses=("127.0.0.1",), allowed_remote_networks=("127.0.0.0/8",))


def candidates(sdp: str) -> list[str]:
    """The addresses of an SDP's ICE candidates."""
    return [line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")]


@dataclass
class WhepViewer:
    pc: Any
    channel: Any
    resource: str
    answer: str
    frames: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=256))
    rtp_timestamps: list[int] = field(default_factory=list)  # on the wire, of frames received
    texts: list[dict] = field(default_factory=list)
    audio: list[Any] = field(default_factory=list)  # av.AudioFrames of the audio track (audio=True)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def frame(self, timeout: float = 10) -> np.ndarray:
        async with asyncio.timeout(timeout):
            return await self.frames.get()

    async def fresh_frame(self) -> np.ndarray:
        while not self.frames.empty():
            self.frames.get_nowait()
        return await self.frame()

    async def config(self, timeout: float = 10) -> dict:
        """The config the server sent on the data channel, once it has come."""
        async with asyncio.timeout(timeout):
            await self.opened.wait()
            while True:
                for text in self.texts:
                    if text.get("type") == "config":
                        return text
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def whep(
    display: rfb.Display | str,
    *,
    delete: bool = True,
    headers: dict[str, str] | None = None,
    offer_edit: Any = None,
    ice: IceConfig | None = None,
    audio: bool = False,
) -> AsyncIterator[WhepViewer]:
    """A WHEP player of ``display`` (or of the stream whose page is at this URL), an aiortc
    peer connection; ``offer_edit``: what the offer becomes before it is posted; ``ice``:
    this peer connection's own ICE policy (else the process default)."""
    import aiortc

    page = display if isinstance(display, str) else display.url
    pc = aiortc.RTCPeerConnection()
    if ice is not None:
        from rfb.transports import aiortc_compat

        aiortc_compat.use_ice_policy(pc, ice)
    pc.addTransceiver("video", direction="recvonly")
    if audio:  # the program's sound: aiortc decodes its Opus
        pc.addTransceiver("audio", direction="recvonly")
    channel = pc.createDataChannel("rfb")
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http, http.post(
        page + "whep", data=(offer_edit or str)(pc.localDescription.sdp),
        headers={"Content-Type": "application/sdp", **(headers or {})},
    ) as r:  # fmt: skip
        assert r.status == 201, await r.text()
        assert r.headers["Content-Type"].startswith("application/sdp")
        answer = await r.text()
        resource = r.headers["Location"]
    assert "H264" in answer and "VP8" not in answer
    v = WhepViewer(pc, channel, resource, answer)

    @pc.on("track")
    def on_track(track: Any) -> None:
        if track.kind == "audio":

            async def pump_audio() -> None:
                with contextlib.suppress(Exception):
                    while True:
                        v.audio.append(await track.recv())

            v.tasks.append(asyncio.create_task(pump_audio()))
            return
        # aiortc's receiver numbers frames from its first RTP timestamp; add that back to
        # get the timestamp on the wire (what a browser's VideoFrame.metadata() reports).
        (receiver,) = [t.receiver for t in pc.getTransceivers() if t.receiver.track is track]
        mapper = receiver._RTCRtpReceiver__timestamp_mapper

        async def pump() -> None:
            with contextlib.suppress(Exception):
                while True:
                    f = await track.recv()
                    v.rtp_timestamps.append((mapper._origin + f.pts) % 2**32)
                    if not v.frames.full():
                        v.frames.put_nowait(f.to_ndarray(format="rgb24"))

        v.tasks.append(asyncio.create_task(pump()))

    @channel.on("open")
    def on_open() -> None:
        v.opened.set()

    @channel.on("message")
    def on_message(m: str) -> None:
        v.texts.append(json.loads(m))

    await pc.setRemoteDescription(aiortc.RTCSessionDescription(sdp=answer, type="answer"))
    try:
        yield v
    finally:
        for t in v.tasks:
            t.cancel()
        if delete:
            async with aiohttp.ClientSession() as http:
                await http.delete(urljoin(page, resource))
        await pc.close()
