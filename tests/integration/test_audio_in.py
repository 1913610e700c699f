"""The viewers' microphones over a real WebSocket (``microphone=True``): Opus packets in
``audio_in`` envelopes reach ``display.audio_in()`` as PCM with the sender's id and
principal; view-only viewers, non-holders of an exclusive floor and streams without the
option refuse them (told once, counted, dropped); the rate limit bounds one viewer; a
malformed ``audio_in`` closes only its sender, with a code and reason."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import rfb
from rfb import client, protocol

from support.tone import peak_hz

JPEG = [protocol.CAP_JPEG, protocol.CAP_PNG]


def opus_tone(n: int, hz: float = 440.0, channels: int = 1) -> list[bytes]:
    """``n`` 20 ms Opus packets of a sine at ``hz`` (48 kHz), as a browser's AudioEncoder
    would send them."""
    import av

    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate = 48000
    enc.layout = "mono" if channels == 1 else "stereo"
    enc.format = "flt"
    enc.bit_rate = 32000 * channels
    enc.time_base = Fraction(1, 48000)
    enc.open()
    t = np.arange(960 * n) / 48000
    x = (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    x = np.repeat(x[:, None], channels, axis=1)
    out: list[bytes] = []
    for i in range(n):
        f = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[i * 960 : (i + 1) * 960]).reshape(1, -1),
                                       format="flt", layout=enc.layout.name)  # fmt: skip
        f.sample_rate, f.pts = 48000, i * 960
        out += [bytes(p) for p in enc.encode(f)]
    return out


def packet(seq: int, data: bytes, channels: int = 1) -> bytes:
    return protocol.AudioIn(seq, 1_000_000 + seq * 20_000, 20_000, 48000, channels, data).pack()


async def send_tone(v: client.Viewer, n: int = 25, channels: int = 1, pace: bool = True) -> None:
    for i, data in enumerate(opus_tone(n, channels=channels)):
        await v.ws.send_bytes(packet(i, data, channels))
        if pace:
            await asyncio.sleep(0.004)


async def gather(display: rfb.Display, seconds: float, timeout: float = 5.0) -> list[Any]:
    got: list[Any] = []
    async with asyncio.timeout(timeout):
        async for chunk in display.audio_in():
            got.append(chunk)
            if sum(c.duration for c in got) >= seconds - 1e-9:
                return got
    return got


async def test_a_driving_viewers_packets_arrive_as_pcm(serving) -> None:
    display, _ = await serving(64, 48, microphone=True)
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        assert v.config.get("microphone") is True
        await send_tone(v, 25)
        chunks = await gather(display, 0.5)
    assert [c.seq for c in chunks] == list(range(25))
    assert {(c.sample_rate, c.channels, c.client_id, c.principal, c.transport)
            for c in chunks} == {(48000, 1, v.config["client_id"], None, "websocket")}  # fmt: skip
    assert [c.timestamp_us for c in chunks[:2]] == [1_000_000, 1_020_000]
    pcm = np.concatenate([c.pcm for c in chunks])
    assert pcm.dtype == np.float32 and pcm.shape == (25 * 960, 1)
    assert abs(peak_hz(pcm[4800:]) - 440) <= 5
    m = display.metrics()["display"]["audio_in"]
    assert m["packets"] == 25 and m["chunks_delivered"] == 25 and not m["refused"], m


async def test_stereo_and_int16_polling(serving) -> None:
    display, _ = await serving(64, 48, microphone=True)
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        await send_tone(v, 10, channels=2)
        got: list[Any] = []
        async with asyncio.timeout(5):
            while len(got) < 10:
                got += display.poll_audio_in(dtype="int16")
                await asyncio.sleep(0.02)
    assert all(c.pcm.dtype == np.int16 and c.pcm.shape == (960, 2) for c in got)
    with pytest.raises(TypeError, match="float32 or int16"):
        display.poll_audio_in(dtype="float64")


async def test_view_only_and_streams_without_the_option_refuse(serving) -> None:
    display, _ = await serving(64, 48, microphone=True, view_token="watch", token="drive")
    async with client.connect(display.ws_url, JPEG, token="watch") as v:
        await v.next_frame()
        await send_tone(v, 5)
        async with asyncio.timeout(5):
            while not any(t.get("type") == "audio_in_status" for t in v.texts):
                await v.next_frame()
        told = [t for t in v.texts if t.get("type") == "audio_in_status"]
        assert told == [{"type": "audio_in_status", "status": "refused", "reason": "view_only"}]
        await v.next_frame()  # still connected: refused, not closed
    assert display.poll_audio_in() == []
    assert display.metrics()["display"]["audio_in"]["refused"] == {"view_only": 5}

    plain, _ = await serving(64, 48)
    with pytest.raises(RuntimeError, match="microphone=True"):
        plain.poll_audio_in()
    async with client.connect(plain.ws_url, JPEG) as v:
        await v.next_frame()
        assert "microphone" not in v.config
        await send_tone(v, 3)
        async with asyncio.timeout(5):
            while not any(t.get("type") == "audio_in_status" for t in v.texts):
                await v.next_frame()
    assert plain.metrics()["display"]["audio_in"]["refused"] == {"disabled": 3}


async def test_exclusive_control_hears_the_floors_holder_only(serving) -> None:
    display, _ = await serving(64, 48, microphone=True, control="exclusive")
    async with (
        client.connect(display.ws_url, JPEG, features=("control",)) as a,
        client.connect(display.ws_url, JPEG, features=("control",)) as b,
    ):
        await a.next_frame()
        await b.next_frame()
        await a.send({"type": "request_control"})
        async with asyncio.timeout(5):
            while display.metrics()["display"]["control"]["holder"] != a.config["client_id"]:
                await asyncio.sleep(0.02)
        await send_tone(b, 5)  # not the holder: refused, and told why
        async with asyncio.timeout(5):
            while not any(t.get("type") == "audio_in_status" for t in b.texts):
                await b.next_frame()
        assert [t["reason"] for t in b.texts if t.get("type") == "audio_in_status"] == ["control"]
        await send_tone(a, 5)  # the holder is heard
        chunks = await gather(display, 0.1)
        # Speaking took no floor: b's sound did not move it.
        control = display.metrics()["display"]["control"]
        assert (control["holder"], control["changes"]) == (a.config["client_id"], 1)
    assert {c.client_id for c in chunks} == {a.config["client_id"]}
    assert display.metrics()["display"]["audio_in"]["refused"] == {"control": 5}


async def test_the_rate_limit_bounds_one_viewer(serving) -> None:
    display, _ = await serving(64, 48, microphone=True)
    junk = b"\xf8\xff\xfe"  # a valid Opus packet (20 ms of silence, CELT)
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        for i in range(400):  # 8 s of packets at once: over 100 packets/s with a 1 s burst
            await v.ws.send_bytes(packet(i, junk))
        await v.next_frame()
        await asyncio.sleep(0.3)
    m = display.metrics()["display"]["audio_in"]
    assert 100 <= m["packets"] <= 110 and m["refused"]["rate"] >= 290, m
    big = b"\x00" * protocol.AUDIO_IN_MAX  # bytes: 64 kB/s, a 1 s burst
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        for i in range(40):
            await v.ws.send_bytes(packet(i, big))
        await v.next_frame()
    m2 = display.metrics()["display"]["audio_in"]
    assert m2["packets"] - m["packets"] <= 17, m2  # 64000 // 4000 = 16, plus refill


BAD_AUDIO = [
    ("codec not opus", {"codec": "pcm"}, b"x", 1003),
    ("codec missing", {"codec": None}, b"x", 1008),
    ("seq negative", {"seq": -1}, b"x", 1008),
    ("seq a string", {"seq": "1"}, b"x", 1008),
    ("duration zero", {"duration_us": 0}, b"x", 1008),
    ("duration 1 s", {"duration_us": 1_000_000}, b"x", 1008),
    ("sample rate 44.1k", {"sample_rate": 44100}, b"x", 1008),
    ("three channels", {"channels": 3}, b"x", 1008),
    ("channels true", {"channels": True}, b"x", 1008),
    ("empty packet", {}, b"", 1008),
    ("packet too big", {}, b"x" * (protocol.AUDIO_IN_MAX + 1), 1009),
    ("timestamp missing", {"timestamp_us": None}, b"x", 1008),
]


@pytest.mark.parametrize(
    ("name", "change", "payload", "code"), BAD_AUDIO, ids=[b[0] for b in BAD_AUDIO]
)
async def test_a_malformed_audio_in_closes_only_its_sender(
    serving, name, change, payload, code
) -> None:
    display, _ = await serving(160, 120, microphone=True)
    header = protocol.AudioIn(0, 0, 20_000, 48000, 1, b"x").as_dict()
    for k, val in change.items():
        if val is None:
            header.pop(k)
        else:
            header[k] = val
    async with (
        client.connect(display.ws_url, JPEG) as good,
        client.connect(display.ws_url, JPEG) as bad,
    ):
        await good.next_frame()
        await bad.next_frame()
        await send_tone(good, 3)
        await bad.ws.send_bytes(protocol.pack_envelope(header, payload))
        got, reason = await bad.wait_closed()
        assert got == code, reason
        assert reason.startswith("audio_in") or "too big" in reason, reason
        for _ in range(5):
            await good.next_frame(timeout=2)
        await send_tone(good, 3)  # the good viewer's microphone still goes through
        chunks = await gather(display, 0.12)
    assert {c.client_id for c in chunks} == {good.config["client_id"]}
    assert display.metrics()["display"]["protocol_errors"] == {str(code): 1}
