"""WebRTC over WHEP with an in-process aiortc viewer: pixels, input, PLI, shared encodes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
import numpy as np
import pytest

import rfb
from rfb import client, encoders, patterns, protocol
from rfb.signaling import IceConfig

from support.servers import publisher, running_app
from support.webrtc import LOOPBACK, whep

aiortc = pytest.importorskip("aiortc", reason="WebRTC tests need aiortc: pip install 'rfb[webrtc]'")

W, H = 320, 240


async def test_frames_decode_to_the_test_card(serving) -> None:
    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK)
    async with whep(display) as v:
        img = await v.frame()
        for _ in range(5):
            img = await v.frame()
        assert img.shape == (H, W, 3)
        pts = [
            (W // 4, H // 4),
            (3 * W // 4, H // 4),
            (W // 4, 3 * H // 4),
            (3 * W // 4, 3 * H // 4),
        ]
        colours = [tuple(int(c) for c in img[y, x]) for x, y in pts]
        for c in colours:
            assert (
                min(np.abs(np.subtract(c, ref)).max() for ref in patterns.TEST_CARD_COLOURS) <= 6
            ), colours
        assert len(set(colours)) == 4
        await asyncio.wait_for(v.opened.wait(), 5)
        async with asyncio.timeout(5):
            while not any(t["type"] == "config" for t in v.texts):
                await asyncio.sleep(0.02)
        config = next(t for t in v.texts if t["type"] == "config")
        assert config["transport"] == "webrtc" and config["client_id"]


async def test_frame_shown_reports_give_publish_to_display_latency(serving) -> None:
    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK)
    async with whep(display) as v:
        for _ in range(10):
            await v.frame()
        await asyncio.wait_for(v.opened.wait(), 5)
        v.channel.send(json.dumps({"type": "frame_shown", "rtp_timestamp": 12345}))  # unknown
        for rtp in v.rtp_timestamps[-5:]:
            v.channel.send(json.dumps({"type": "frame_shown", "rtp_timestamp": rtp}))
        async with asyncio.timeout(5):
            while not (viewers := display.metrics()["viewers"]) or viewers[0]["frames_shown"] < 5:
                await asyncio.sleep(0.02)
        (viewer,) = viewers
        assert viewer["frames_shown"] == 5  # the unknown timestamp counted for nothing
        # Publish -> drawn: the frames were received a moment ago, so well under a second
        # but more than the time to hand them to the RTP sender.
        assert 0 < viewer["latency_p50_ms"] < 1000
        async with asyncio.timeout(5):  # report until a stats message has counted reports
            while not any(t.get("latency_source") == "shown" for t in v.texts):
                shown = {"type": "frame_shown", "rtp_timestamp": v.rtp_timestamps[-1]}
                v.channel.send(json.dumps(shown))
                await asyncio.sleep(0.1)
        v.channel.send(json.dumps({"type": "frame_shown", "rtp_timestamp": -1}))
        async with asyncio.timeout(5):  # a malformed report closes only this session
            while display.stream.webrtc.sessions:
                await asyncio.sleep(0.02)


async def test_input_on_the_data_channel_reaches_poll_events(serving) -> None:
    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK)
    async with whep(display) as v:
        await v.frame()
        await asyncio.wait_for(v.opened.wait(), 5)
        display.poll_events()
        v.channel.send(json.dumps({"type": "set_viewport", "width": 320, "height": 240,
                                   "pwidth": 640, "pheight": 480, "ratio": 2}))  # fmt: skip
        v.channel.send(json.dumps({"type": "event", "event": {
            "type": "pointer_down", "x": 10, "y": 20, "button": 1, "buttons": [1],
            "modifiers": ["Alt"]}}))  # fmt: skip
        got: list = []
        async with asyncio.timeout(5):
            while len(got) < 2:
                got += display.poll_events()
                await asyncio.sleep(0.02)
        assert got[0].event["type"] == "resize" and got[0].event["pwidth"] == 640
        assert got[1].event == {"type": "pointer_down", "x": 10, "y": 20, "button": 1,
                                "buttons": [1], "modifiers": ["Alt"]}  # fmt: skip
        config = next(t for t in v.texts if t["type"] == "config")
        assert got[1].client_id == config["client_id"]


async def test_a_pli_yields_an_idr(serving) -> None:
    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK, keyframe_interval_s=100)
    async with whep(display) as v:
        await v.frame()
        await asyncio.sleep(1.0)  # past the forced-keyframe rate limit
        (group,) = [g for g, _ in display.stream.hub.groups.values()]
        before = group.keyframes
        receiver = next(t.receiver for t in v.pc.getTransceivers() if t.kind == "video")
        ssrc = next(iter(receiver._RTCRtpReceiver__remote_streams))
        await receiver._send_rtcp_pli(ssrc)
        async with asyncio.timeout(2):
            while group.keyframes == before:
                await asyncio.sleep(0.005)
        (peer,) = display.stream.webrtc.sessions.values()
        assert peer.keyframe_requests == 1
        await v.frame()  # still streaming after the IDR


def offer_with_playout_delay(sdp: str) -> str:
    """An aiortc offer that also lists playout-delay (id 5), as Chromium's does."""
    from rfb.rtp import header as rtp_header

    lines = sdp.split("\r\n")
    last = max(i for i, line in enumerate(lines) if line.startswith("a=extmap:"))
    lines.insert(last + 1, f"a=extmap:5 {rtp_header.PLAYOUT_DELAY_URI}")
    return "\r\n".join(lines)


@pytest.mark.parametrize("delay", [(0, 100), (0, 0), (50, 200), None])
async def test_media_packets_carry_the_playout_delay_the_offer_allowed(
    serving, monkeypatch, delay
) -> None:
    """Chromium offers playout-delay; rfb answers with it and writes it on every media
    packet ((0, 100) by default: show frames once decoded), or leaves it out (None)."""
    import aiortc.rtcdtlstransport as dtls

    from rfb.rtp import header as rtp_header

    seen: list[dict[int, bytes]] = []

    class Recording(dtls.RtpPacket):  # type: ignore[misc,name-defined]
        @classmethod
        def parse(cls, data: bytes, extensions_map: Any = None) -> Any:
            seen.append(rtp_header.header_extensions(data))
            return super().parse(data, extensions_map)

    monkeypatch.setattr(dtls, "RtpPacket", Recording)  # what the viewer's side parses with
    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK, playout_delay_ms=delay)
    async with whep(display, offer_edit=offer_with_playout_delay) as v:
        await v.frame()
        await v.frame()
        answer = v.pc.remoteDescription.sdp
        ext_ids = [int(line.split()[0].split(":")[1]) for line in answer.splitlines()
                   if line.startswith("a=extmap:") and rtp_header.PLAYOUT_DELAY_URI in line]  # fmt: skip
    assert len(ext_ids) == 1  # negotiated (with the offer's id) whatever the option
    carried = [ext.get(ext_ids[0]) for ext in seen if ext]
    assert carried  # the media packets the viewer decoded from
    if delay is None:
        assert set(carried) == {None}
    else:
        assert {rtp_header.parse_playout_delay(c) for c in carried if c is not None} == {delay}
        assert None not in carried


async def test_webrtc_and_websocket_viewers_share_one_encode(serving) -> None:
    display, pub = await serving(W, H, pattern="bouncing_box", transport="webrtc", ice=LOOPBACK)
    async with contextlib.AsyncExitStack() as stack:
        rtc = [await stack.enter_async_context(whep(display)) for _ in range(4)]
        ws = [await stack.enter_async_context(client.connect(display.ws_url,
              [protocol.CAP_H264, protocol.CAP_JPEG])) for _ in range(2)]  # fmt: skip
        for v in rtc:
            await v.frame()
        for w in ws:
            await w.next_frame()
        (group,) = [g for g, _ in display.stream.hub.groups.values()]
        assert len(group.viewers) == 6
        e0, p0 = group.frames_encoded, pub.count
        counts0 = [v.frames.qsize() for v in rtc]

        async def drain(w: client.Viewer) -> None:
            for _ in range(30):
                await w.next_frame()

        await asyncio.gather(*(drain(w) for w in ws))
        encoded, published = group.frames_encoded - e0, pub.count - p0
        # one encode per published frame for all six viewers, not six
        assert encoded <= published + 2
        for v, c0 in zip(rtc, counts0, strict=True):
            assert v.frames.qsize() > c0 + 15, "every WebRTC viewer kept receiving"


async def test_delete_and_abrupt_disconnect_free_everything(serving) -> None:
    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK)
    base_encoders = encoders.open_encoder_count()
    async with whep(display) as v:
        await v.frame()
        assert display.client_count == 1 and len(display.stream.webrtc.sessions) == 1
    async with asyncio.timeout(5):
        while display.client_count or display.stream.webrtc.sessions:
            await asyncio.sleep(0.02)
    # abrupt: the peer closes without DELETE
    async with whep(display, delete=False) as v:
        await v.frame()
    async with asyncio.timeout(40):
        while display.client_count or display.stream.webrtc.sessions:
            await asyncio.sleep(0.05)
    async with asyncio.timeout(5):
        while encoders.open_encoder_count() != base_encoders - 0 and display.stream.hub.groups:
            await asyncio.sleep(0.02)
    assert not display.stream.hub.groups


async def test_malformed_data_channel_message_closes_only_that_peer(serving) -> None:
    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK)
    async with whep(display) as good, whep(display) as bad:
        await good.frame()
        await bad.frame()
        await asyncio.wait_for(bad.opened.wait(), 5)
        bad.channel.send("{not json")
        async with asyncio.timeout(10):
            while len(display.stream.webrtc.sessions) != 1:
                await asyncio.sleep(0.02)
        for _ in range(10):
            await good.fresh_frame()


WHEP_BAD = [
    ("text/plain", "v=0\r\n", 415),
    ("application/sdp", "hello", 400),
    ("application/sdp", "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", 400),
    (
        "application/sdp",
        "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\na=rtpmap:96 H264/90000\r\n",
        400,
    ),
    (
        "application/sdp",
        "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n",
        400,
    ),
    (
        "application/sdp",
        "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n",
        400,
    ),
]


@pytest.mark.parametrize(("ctype", "body", "status"), WHEP_BAD)
async def test_bad_whep_requests_get_a_clear_4xx(
    serving, ctype: str, body: str, status: int
) -> None:
    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK)
    async with client.connect(display.ws_url, [protocol.CAP_H264]) as watcher:
        await watcher.next_frame()
        async with aiohttp.ClientSession() as http, http.post(
            display.url + "whep", data=body, headers={"Content-Type": ctype}
        ) as r:  # fmt: skip
            assert r.status == status
            assert (await r.text()).strip()
        for _ in range(5):
            await watcher.next_frame()  # nothing else disturbed
    assert not display.stream.webrtc.sessions


async def test_whep_resource_methods_cors_and_limits(serving) -> None:
    ice = IceConfig(turn_urls=("turn:turn.example.org:3478?transport=udp",), turn_secret="s3",
                    host_addresses=("127.0.0.1",), allowed_remote_networks=("127.0.0.0/8",))  # fmt: skip
    display, _ = await serving(W, H, transport="webrtc", ice=ice, max_webrtc_sessions=1)
    async with aiohttp.ClientSession() as http:
        async with http.options(display.url + "whep") as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "application/sdp" in r.headers["Accept-Post"]
            (link,) = r.headers.getall("Link")
            assert link.startswith('<turn:turn.example.org:3478?transport=udp>; rel="ice-server"')
            assert 'credential-type="password"' in link
        async with http.patch(display.url + "whep/whatever") as r:
            assert r.status == 405
        async with http.delete(display.url + "whep/nope") as r:
            assert r.status == 404
        async with whep(display) as v:
            await v.frame()
            async with http.post(display.url + "whep", data=v.pc.localDescription.sdp,
                                 headers={"Content-Type": "application/sdp"}) as r:  # fmt: skip
                assert r.status == 429 and "too many" in await r.text()


async def test_websocket_only_server_serves_no_whep(serving) -> None:
    display, _ = await serving(W, H)
    async with aiohttp.ClientSession() as http, http.post(
        display.url + "whep", data="v=0", headers={"Content-Type": "application/sdp"}
    ) as r:  # fmt: skip
        assert r.status == 404


async def test_whep_checks_the_bearer_token(serving) -> None:
    display, _ = await serving(W, H, transport="webrtc", ice=LOOPBACK, token="t0k")
    pc = aiortc.RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        for auth, status in ((None, 401), ("Bearer nope", 401), ("Bearer t0k", 201)):
            headers = {"Content-Type": "application/sdp"}
            if auth:
                headers["Authorization"] = auth
            async with http.post(display.url + "whep", data=pc.localDescription.sdp,
                                 headers=headers) as r:  # fmt: skip
                assert r.status == status
    await pc.close()


async def test_named_streams_serve_whep_each_at_their_own_url() -> None:
    """Two WebRTC streams on one server, and one mounted under a prefix in an aiohttp
    app: each WHEP player gets its own stream's pixels, and its resource URL is its own."""
    from aiohttp import web

    async with rfb.serve_server(port=0, ice=LOOPBACK) as server:
        red = server.add_stream("red", 160, 120, transport="webrtc")
        blue = server.add_stream("blue", 160, 120, transport="webrtc")
        async with publisher(red, (220, 0, 0)), publisher(blue, (0, 0, 220)), \
                whep(red) as r, whep(blue) as b:  # fmt: skip
            assert r.resource.startswith("/red/whep/") and b.resource.startswith("/blue/whep/")
            fr, fb = await r.frame(), await b.frame()
            assert fr[60, 80, 0] > 150 > fr[60, 80, 2] and fb[60, 80, 2] > 150 > fb[60, 80, 0]
            assert len(red.stream.webrtc.sessions) == len(blue.stream.webrtc.sessions) == 1

    app = web.Application()
    mounted = rfb.Server(ice=LOOPBACK)
    cam = mounted.add_stream("cam", 160, 120, transport="webrtc")
    mounted.mount(app, "/rfb")
    async with running_app(app) as port, publisher(cam, (0, 200, 0)), \
            whep(f"http://127.0.0.1:{port}/rfb/cam/") as v:  # fmt: skip
        assert v.resource.startswith("/rfb/cam/whep/")
        f = await v.frame()
        assert f[60, 80, 1] > 150 > f[60, 80, 0]
        await v.config()  # the data channel works too
    assert cam.closed
