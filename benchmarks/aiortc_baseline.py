"""The usual aiortc pattern, for comparison: a WHEP-ish server whose track yields raw
``VideoFrame``s, so aiortc encodes once per viewer (its own H.264 encoder per sender).

    python benchmarks/aiortc_baseline.py --port 8770 --width 1280 --height 720 --fps 30

Used by bench_webrtc.py as the baseline; not part of rfb.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import time

import av
from aiohttp import web
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription, VideoStreamTrack

from rfb import patterns
from rfb.signaling import IceConfig
from rfb.transports.webrtc import apply_ice_policy, filter_offer


class PatternTrack(VideoStreamTrack):
    def __init__(self, w: int, h: int, fps: float, pattern: str = "scene") -> None:
        super().__init__()
        self.render = patterns.make(pattern, w, h)
        self.period = 1 / fps
        self.i = 0
        self.t0 = time.monotonic()

    async def recv(self) -> av.VideoFrame:
        self.i += 1
        delay = self.t0 + self.i * self.period - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.VideoFrame.from_ndarray(self.render(self.i), format="rgb24")
        frame.pts = int(self.i * self.period * 90000)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8770)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--pattern", default="scene")
    args = ap.parse_args()
    apply_ice_policy(
        IceConfig(host_addresses=("127.0.0.1",), allowed_remote_networks=("127.0.0.0/8",))
    )
    pcs: set[RTCPeerConnection] = set()

    async def whep(request: web.Request) -> web.Response:
        pc = RTCPeerConnection()
        pcs.add(pc)
        t = pc.addTransceiver(
            PatternTrack(args.width, args.height, args.fps, args.pattern), direction="sendonly"
        )
        caps = RTCRtpSender.getCapabilities("video").codecs
        t.setCodecPreferences([c for c in caps if c.mimeType == "video/H264"
                               and c.parameters.get("packetization-mode") == "1"])  # fmt: skip
        await pc.setRemoteDescription(
            RTCSessionDescription(sdp=filter_offer(await request.text()), type="offer")
        )
        await pc.setLocalDescription(await pc.createAnswer())
        return web.Response(status=201, text=pc.localDescription.sdp,
                            content_type="application/sdp", headers={"Location": "/whep/x"})  # fmt: skip

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/whep", whep)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
