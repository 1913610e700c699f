"""The WebSocket server over real sockets: hello, config, keyframe first, acks, image and
video viewers, one encode shared by viewers of a group, stats, the token and unknown
paths. (Serving, bad peers, flow control, publishing and input: the other
tests/integration/test_*.py.)"""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np

from rfb import client, encoders, patterns, protocol

H264 = [protocol.CAP_H264, protocol.CAP_JPEG, protocol.CAP_PNG]
JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]


async def test_hello_config_keyframe_ack_more_frames(serving) -> None:
    display, _ = await serving(320, 240)
    async with client.connect(display.ws_url, H264) as v:
        first = await v.next_frame(decode=True)
        assert v.texts[0]["type"] == "config", "config comes before any frame"
        assert v.config["transport"] == "webcodecs" and v.config["coords"] == "frame-pixels"
        assert first.header["type"] == "video_chunk" and first.keyframe and first.seq == 0
        assert first.header["codec"].startswith("avc1.42")
        seqs = [first.seq] + [(await v.next_frame(decode=True)).seq for _ in range(10)]
        assert seqs == sorted(seqs) and len(set(seqs)) == 11
        assert display.client_count == 1


async def test_image_viewer_sees_the_test_card(serving) -> None:
    display, _ = await serving(320, 240)
    async with client.connect(display.ws_url, JPEG) as v:
        f = await v.next_frame(decode=True)
        assert v.config["transport"] == "image"
        assert f.header["mime"] == "image/jpeg" and (f.header["width"], f.header["height"]) == (
            320, 240)  # fmt: skip
        colours = {tuple(int(c) for c in f.pixels[y, x]) for x, y in
                   ((80, 60), (240, 60), (80, 180), (240, 180))}  # fmt: skip
        assert len(colours) == 4
        for c in colours:
            assert min(np.abs(np.subtract(c, ref)).max() for ref in patterns.TEST_CARD_COLOURS) <= 6


async def test_h264_viewer_decodes_flat_colours(serving) -> None:
    display, _ = await serving(320, 240, pattern="solid")
    async with client.connect(display.ws_url, H264) as v:
        # a static scene: the frame, then its still; the unchanged frames after it are not
        # encoded or sent again
        for _ in range(2):
            f = await v.next_frame(decode=True)
        assert np.abs(f.pixels[120, 160].astype(int) - (200, 0, 0)).max() <= 4


async def test_two_viewers_share_one_encode(serving, monkeypatch) -> None:
    calls = {"n": 0}
    real = encoders.REGISTRY[protocol.CAP_H264]

    def counting(w, h, s, device=False):
        inner = real.factory(w, h, s, device)

        class Counting:
            def encode(self, *a):
                calls["n"] += 1
                return inner.encode(*a)

            def close(self):
                inner.close()

        return Counting()

    monkeypatch.setitem(
        encoders.REGISTRY, protocol.CAP_H264,
        encoders.EncoderSpec("h264", protocol.CAP_H264, True, counting, real.probe),
    )  # fmt: skip
    display, pub = await serving(320, 240, pattern="bouncing_box", fps=30)
    async with client.connect(display.ws_url, H264) as a, client.connect(display.ws_url, H264) as b:

        async def take(v: client.Viewer) -> list[client.ReceivedFrame]:
            return [await v.next_frame() for _ in range(30)]

        fa, fb = await asyncio.gather(take(a), take(b))
        n_groups = len(display.stream.hub.groups)
    assert n_groups == 1
    # Both saw the same encoded units: the same payload bytes for the same capture time.
    by_ts = {f.header["timestamp_us"]: f.payload for f in fa}
    common = [f for f in fb if f.header["timestamp_us"] in by_ts]
    assert len(common) >= 20
    assert all(by_ts[f.header["timestamp_us"]] == f.payload for f in common)
    # One encode per frame, not per viewer.
    assert calls["n"] <= pub.count + 2


async def test_image_and_video_viewers_each_get_their_own_group(serving) -> None:
    display, _ = await serving(160, 120)
    async with client.connect(display.ws_url, H264) as a, client.connect(display.ws_url, JPEG) as b:
        assert (await a.next_frame()).header["type"] == "video_chunk"
        assert (await b.next_frame()).header["type"] == "image_frame"
        assert len(display.stream.hub.groups) == 2


async def test_no_permessage_deflate_even_when_offered(serving) -> None:
    display, _ = await serving(64, 64)
    async with aiohttp.ClientSession() as http, http.ws_connect(display.ws_url, compress=15) as ws:
        assert ws.compress == 0
        assert "Sec-WebSocket-Extensions" not in ws._response.headers


async def test_stats_messages_carry_latency(serving) -> None:
    display, _ = await serving(160, 120)
    async with client.connect(display.ws_url, JPEG) as v:
        async with asyncio.timeout(10):
            while not v.stats:
                await v.next_frame()
        s = v.stats[-1]
        for key in ("rtt_ms", "fps_sent", "fps_acked", "bitrate_bps", "encode_ms", "dropped",
                    "target_fps", "latency_ms", "viewers"):  # fmt: skip
            assert key in s
        assert s["latency_ms"] > 0 and s["viewers"] == 1


async def test_token_is_checked(serving) -> None:
    display, _ = await serving(64, 64, token="s3cret")
    async with client.connect(display.ws_url, JPEG, token="wrong") as v:
        assert (await v.wait_closed())[0] == protocol.CLOSE_UNAUTHORIZED
    async with client.connect(display.ws_url, JPEG, token="s3cret") as v:
        await v.next_frame()


async def test_unknown_stream_path_closes_with_4404(serving) -> None:
    display, _ = await serving(64, 64)
    async with client.connect(display.ws_url + "streams/nope", JPEG) as v:
        assert (await v.wait_closed())[0] == protocol.CLOSE_UNKNOWN_PATH
