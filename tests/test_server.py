"""The WebSocket server over real sockets: handshake, frames, input, bad peers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import aiohttp
import numpy as np
import pytest

import rfb
import rfb.frames
from rfb import client, encoders, patterns, protocol
from rfb.bench import psnr

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
        for _ in range(3):
            f = await v.next_frame(decode=True)
        assert np.abs(f.pixels[120, 160].astype(int) - (200, 0, 0)).max() <= 4


async def test_input_events_and_viewport_reach_poll_events(serving) -> None:
    display, _ = await serving(320, 240)
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        await v.send({"type": "set_viewport", "width": 640, "height": 480, "pwidth": 1280,
                      "pheight": 960, "ratio": 2})  # fmt: skip
        sent = [
            {"type": "pointer_down", "x": 12.5, "y": 30, "inside": True, "button": 1,
             "buttons": [1], "modifiers": ["Shift"], "pixel_ratio": 2, "timestamp": 1.0},
            {"type": "wheel", "x": 5, "y": 6, "dx": 0, "dy": 48, "buttons": [],
             "modifiers": [], "timestamp": 1.1},
            {"type": "key_down", "key": "A", "code": "KeyA", "modifiers": ["Shift"],
             "timestamp": 1.2},
        ]  # fmt: skip
        for ev in sent:
            await v.send_event(ev)
        got: list[rfb.InputEvent] = []
        async with asyncio.timeout(5):
            while len(got) < 4:
                got += display.poll_events()
                await asyncio.sleep(0.01)
        assert got[0].event == {"type": "resize", "width": 640, "height": 480, "pwidth": 1280,
                                "pheight": 960, "ratio": 2.0}  # fmt: skip
        assert [g.event for g in got[1:]] == sent
        assert {g.client_id for g in got} == {v.config["client_id"]}
        assert all(g.received_us > 0 for g in got)
        assert display.poll_events() == []


async def test_events_async_iterator(serving) -> None:
    display, _ = await serving(64, 64)
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        await v.send_event({"type": "pointer_move", "x": 1, "y": 2})
        async with asyncio.timeout(5):
            async for ev in display.events():
                assert ev.type == "pointer_move" and ev.event["x"] == 1
                break


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


async def test_resize_by_publishing_a_new_shape(serving) -> None:
    display, _ = await serving(160, 120, pattern=None)
    display.publish(patterns.test_card(160, 120, 0))
    async with client.connect(display.ws_url, H264) as v:
        f = await v.next_frame(decode=True)
        assert (f.header["width"], f.header["height"]) == (160, 120)
        display.publish(patterns.solid(256, 128, 0, (40, 40, 220)))
        for _ in range(20):
            f = await v.next_frame(decode=True)
            if f.header["width"] == 256:
                break
        assert (f.header["width"], f.header["height"]) == (256, 128) and f.keyframe
        assert f.pixels.shape == (128, 256, 3)
        assert np.abs(f.pixels[64, 128].astype(int) - (40, 40, 220)).max() <= 4
        assert (display.width, display.height) == (256, 128)


async def test_static_scene_newcomer_still_gets_a_frame(serving) -> None:
    display, _ = await serving(160, 120, pattern=None)
    display.publish(patterns.test_card(160, 120, 0))
    for caps in (H264, JPEG):
        async with client.connect(display.ws_url, caps) as v:
            f = await v.next_frame(decode=True)
            assert f.keyframe and f.pixels.shape == (120, 160, 3)


async def test_publish_from_another_thread(serving) -> None:
    display, _ = await serving(160, 120, pattern=None)
    done = threading.Event()

    def render_loop() -> None:
        for i in range(200):
            if done.is_set():
                return
            display.publish(patterns.test_card(160, 120, i))
            done.wait(1 / 60)

    t = threading.Thread(target=render_loop)
    t.start()
    try:
        async with client.connect(display.ws_url, JPEG) as v:
            frames = [await v.next_frame() for _ in range(10)]
    finally:
        done.set()
        await asyncio.to_thread(t.join)
    assert len({f.header["timestamp_us"] for f in frames}) == 10


async def test_publish_rejects_bad_frames_with_the_expected_shape(serving) -> None:
    display, _ = await serving(64, 64, pattern=None)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        display.publish(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W, 4\)"):
        display.publish(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        display.publish(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(TypeError, match="numpy"):
        display.publish([[0, 0, 0]])
    with pytest.raises(ValueError, match="C-contiguous"):
        display.publish(np.zeros((64, 64, 3), np.uint8)[:, ::2])
    display.publish(np.zeros((64, 64, 3), np.uint8))  # still fine afterwards


async def test_publish_copies_unless_told_not_to(serving) -> None:
    display, _ = await serving(64, 64, pattern=None)
    frame = patterns.solid(64, 64, 0, (0, 200, 0))
    display.publish(frame)
    frame[:] = 0  # the user reuses their buffer
    async with client.connect(display.ws_url, [protocol.CAP_PNG]) as v:
        f = await v.next_frame(decode=True)
    assert tuple(f.pixels[10, 10]) == (0, 200, 0)


async def test_health_metrics_and_demo_page(serving) -> None:
    display, _ = await serving(160, 120, record_events=True)
    async with client.connect(display.ws_url, H264) as v:
        for _ in range(3):
            await v.next_frame()
        await v.send_event({"type": "pointer_move", "x": 3, "y": 4})
        async with aiohttp.ClientSession() as http:
            async with http.get(display.url + "health") as r:
                assert r.status == 200 and await r.text() == "ok"
            async with http.get(display.url) as r:
                assert r.status == 200 and "text/html" in r.headers["Content-Type"]
            async with http.get(display.url + "metrics") as r:
                m = await r.json()
            (viewer,) = m["viewers"]
            assert viewer["codec"] == protocol.CAP_H264 and viewer["frames_sent"] >= 3
            assert viewer["frames_acked"] >= 2 and viewer["bytes_sent"] > 0
            (group,) = m["groups"]
            assert group["encoder"] == "x264" and group["frames_encoded"] >= 3
            assert group["keyframes"] >= 1 and group["encode_ms"] > 0
            async with asyncio.timeout(5):
                while True:
                    async with http.get(display.url + "recorded-events") as r:
                        rec = await r.json()
                    if rec:
                        break
                    await asyncio.sleep(0.02)
            assert rec[0]["event"] == {"type": "pointer_move", "x": 3, "y": 4}
            async with http.post(display.url + "recorded-events/reset") as r:
                assert r.status == 200
            async with http.get(display.url + "recorded-events") as r:
                assert await r.json() == []


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


async def test_aclose_closes_viewers_with_going_away() -> None:
    open_before = encoders.open_encoder_count()
    display = await rfb.serve(64, 64, port=0)
    display.publish(np.zeros((64, 64, 3), np.uint8))
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        _, (code, _) = await asyncio.gather(display.aclose(), v.wait_closed())
    assert code == 1001
    assert encoders.open_encoder_count() == open_before
    with pytest.raises(RuntimeError):
        display.publish(np.zeros((64, 64, 3), np.uint8))


async def test_async_with_and_port_zero() -> None:
    async with rfb.serve(32, 32, port=0) as display:
        assert display.port > 0 and display.url.endswith(f":{display.port}/")
        assert display.client_count == 0


async def test_serve_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="transport"):
        await rfb.serve(32, 32, port=0, transport="carrier-pigeon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"width must be 1\.\.16384, got 0"):
        await rfb.serve(0, 32, port=0)


# -- bad input: each case closes only the offending connection ---------------------------


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
    ("huge", "text", '{"type":"ack","seq":0,"pad":"' + "x" * 200_000 + '"}', 1009),
    ("binary", "bytes", b"\x00\x01\x02", 1003),
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


async def test_viewer_that_never_reads_does_not_grow_memory(serving) -> None:
    display, _pub = await serving(640, 480, pattern="checkerboard", fps=60)
    # A raw socket that says hello and then never reads or acks anything.
    _reader, writer = await asyncio.open_connection("127.0.0.1", display.port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    hello = protocol.build_hello([protocol.CAP_PNG]).encode()
    mask = b"\x00\x00\x00\x00"
    writer.write(bytes([0x81, 0x80 | 126]) + len(hello).to_bytes(2, "big") + mask + hello)
    await writer.drain()
    async with client.connect(display.ws_url, H264) as good:
        for _ in range(3 * 60):  # 3 s of frames at 60 fps
            await good.next_frame()
        (conn_viewer,) = [v for v in display.stream.hub.metrics()["viewers"] if v["codec"] == "image/png"]
        # Flow control stops sending after max_inflight unacked frames (and their expiry
        # lets only another couple through): nothing queues up for the stuck viewer.
        assert conn_viewer["frames_sent"] <= 2 * 2 + 2
        assert conn_viewer["inflight"] <= 2
    writer.close()


async def test_dead_viewer_is_detached(serving) -> None:
    display, _ = await serving(64, 64)
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        assert display.client_count == 1
        v.ws._response.connection.transport.abort()  # vanish without a close frame
    async with asyncio.timeout(5):
        while display.client_count:
            await asyncio.sleep(0.01)


async def test_a_link_can_be_sent_to_before_attach_returns() -> None:
    """A late joiner may get the newest keyframe at once, inside attach()."""
    import time

    from rfb.hub import Hub
    from rfb.options import StreamOptions
    from rfb.session.links import LinkKind

    class Link:
        kind = LinkKind.WEBSOCKET

        def __init__(self) -> None:
            self.got: list = []

        def send_unit(self, viewer, seq, unit) -> None:  # type: ignore[no-untyped-def]
            self.got.append((viewer, seq, unit))

    hub = Hub(StreamOptions(width=1280, height=720, adaptive=False, still_after=None),
              time.monotonic)  # fmt: skip
    first = Link()
    v1 = hub.attach(protocol.CAP_JPEG, first)
    display_frame = rfb.frames.Frame(patterns.test_card(64, 64, 0), 1, 0, time.monotonic())
    hub.publish(display_frame)
    async with asyncio.timeout(5):
        while not first.got:
            await asyncio.sleep(0.01)
    assert first.got[0][0] is v1
    late = Link()
    v2 = hub.attach(protocol.CAP_JPEG, late)
    assert late.got and late.got[0][0] is v2 and late.got[0][1] == 0  # sent inside attach()
    await hub.aclose()


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


@pytest.mark.parametrize("caps", [H264, JPEG], ids=["h264", "jpeg"])
async def test_resting_frame_comes_again_at_high_quality(serving, caps) -> None:
    """When the scene stops, the last frame is sent once more as a still: fine detail and
    text sharper than in the moving stream (IDR at CRF 18; JPEG q92 4:4:4). At 720p: the
    still's budget is two seconds of the rung's bitrate, which at 360p buys less on this
    scene."""
    w, h = 1280, 720
    display, _ = await serving(w, h, pattern=None, still_after=0.3)
    render = patterns.make("scene", w, h)
    sources = [render(i) for i in range(30)]
    got: list[tuple[float, np.ndarray]] = []
    stopped_at = 0.0

    async def publish() -> None:
        nonlocal stopped_at
        for img in sources:
            display.publish(img)
            await asyncio.sleep(1 / 30)
        stopped_at = time.monotonic()

    async with client.connect(display.ws_url, caps) as v:
        task = asyncio.create_task(publish())
        with contextlib.suppress(TimeoutError):
            while True:
                f = await v.next_frame(decode=True, timeout=1.5)
                got.append((f.received_at, f.pixels))
        await task
    moving = [p for t, p in got if t < stopped_at]
    later = [p for t, p in got if t >= stopped_at + 0.2]
    assert len(later) == 1, "exactly one still once the scene rests"
    still = later[0]
    # the still shows the resting frame, far closer to it than moving frames to theirs
    assert psnr(still, sources[-1]) == max(psnr(still, s) for s in sources)
    moving_psnr = sorted(max(psnr(p, s) for s in sources[-12:]) for p in moving[-10:])
    assert psnr(still, sources[-1]) > moving_psnr[len(moving_psnr) // 2] + 2.5, (
        psnr(still, sources[-1]), moving_psnr)


async def test_demo_page_says_whether_whep_is_served(serving) -> None:
    pytest.importorskip("aiortc")
    plain, _ = await serving(64, 64)
    rtc, _ = await serving(64, 64, transport="webrtc")
    async with aiohttp.ClientSession() as http:
        async with http.get(plain.url) as r:
            assert '<meta name="rfb-webrtc" content="">' in await r.text()
        async with http.get(rtc.url) as r:
            assert '<meta name="rfb-webrtc" content="whep">' in await r.text()
