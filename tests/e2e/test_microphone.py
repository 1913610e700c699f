"""The viewer's microphone in real Chromium, on both transports: Chromium's fake capture
device plays a WAV file this module writes (48 kHz mono, 440 Hz); after a click on the
view's microphone button, ``display.audio_in()`` gets that tone from the driving viewer.
A view-only viewer's microphone is refused."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

import rfb

from support.browser import ARGS, CHROMIUM, H, Stream, W, open_page, wait_for
from support.tone import peak_hz
from support.webrtc import LOOPBACK

pytestmark = pytest.mark.asyncio(loop_scope="module")

TONE_HZ = 440.0
RATE = 48_000


def write_tone(path: Path, seconds: float = 20.0) -> None:
    t = np.arange(int(RATE * seconds)) / RATE
    x = (0.5 * 32767 * np.sin(2 * np.pi * TONE_HZ * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(x.tobytes())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mic_browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """This module's own Chromium, whose fake microphone plays TONE.wav."""
    from playwright.async_api import async_playwright

    tone = tmp_path_factory.mktemp("mic") / "TONE.wav"
    write_tone(tone)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=[*ARGS, f"--use-file-for-fake-audio-capture={tone}"])  # fmt: skip
        yield b
        await b.close()


async def hear(display: rfb.Display, seconds: float = 1.5, timeout: float = 20.0) -> list[Any]:
    """Chunks from display.audio_in() until ``seconds`` of sound came (after 0.3 s of
    start-up: the encoder's and the fake device's first packets)."""
    got: list[Any] = []
    skip = 0.3
    async with asyncio.timeout(timeout):
        async for chunk in display.audio_in():
            if skip > 0:
                skip -= chunk.duration
                continue
            got.append(chunk)
            if sum(c.duration for c in got) >= seconds:
                return got
    return got


def check_tone(chunks: list[Any]) -> float:
    assert chunks
    assert {c.sample_rate for c in chunks} == {RATE}
    pcm = np.concatenate([c.pcm for c in chunks])
    assert pcm.dtype == np.float32 and pcm.ndim == 2
    hz = peak_hz(pcm, RATE)
    rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
    print(
        f"microphone: {len(chunks)} chunks, {len(pcm) / RATE:.2f} s, peak {hz:.1f} Hz, rms {rms:.3f}"
    )
    assert abs(hz - TONE_HZ) <= 5, hz
    assert rms > 0.05, rms
    return hz


async def start_is_refused(page: Any, reason: str) -> dict[str, Any]:
    """No microphone button at first; the page's own start() ends ``refused`` with
    ``reason``. Returns the microphone's stats."""
    await asyncio.sleep(0.3)
    assert not await page.locator("button.rfb-microphone").is_visible()
    await page.evaluate("window.rfbView.microphone.start()")
    await wait_for(page, "window.rfbView.microphone.state === 'refused'")
    stats: dict[str, Any] = await page.evaluate("window.rfbView.microphone.stats()")
    assert stats["reason"] == reason, stats
    return stats


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_the_program_hears_the_viewers_microphone(mic_browser, transport: str) -> None:
    kw: dict[str, Any] = {"transport": "webrtc", "ice": LOOPBACK} if transport == "webrtc" else {}
    stream = Stream(await rfb.serve(W, H, port=0, microphone=True, **kw))
    display = stream.display
    ctx, page = await open_page(mic_browser, display.url + f"?nooverlay&transport={transport}")
    try:
        assert (await page.evaluate("window.rfbView.activeTransport")) == transport
        button = page.locator("button.rfb-microphone")
        await button.wait_for(state="visible")
        # Nothing is asked of the browser before the click.
        assert await page.evaluate("window.rfbView.microphone.state") == "off"
        assert display.poll_audio_in() == []
        await button.click()
        await wait_for(page, "window.rfbView.microphone.state === 'on'")
        chunks = await hear(display)
        check_tone(chunks)
        (viewer,) = display.metrics()["viewers"]
        assert {c.client_id for c in chunks} == {viewer["id"]}
        assert {c.principal for c in chunks} == {None}
        assert {c.transport for c in chunks} == {transport}
        m = display.metrics()["display"]["audio_in"]
        print("audio_in metrics", m)
        assert m["packets"] > 0 and not m["refused"], m
        # int16 on request, same sound
        more = display.poll_audio_in(dtype="int16")
        assert all(c.pcm.dtype == np.int16 for c in more)
        # The button turns it off: the sound stops coming.
        await button.click()
        await wait_for(page, "window.rfbView.microphone.state === 'off'")
    finally:
        await ctx.close()
        await stream.close()


async def test_a_view_only_viewers_microphone_is_refused(mic_browser) -> None:
    def authenticate(ctx: rfb.AuthContext) -> Any:
        return {"alice": "alice", "guest": rfb.ViewOnly("guest")}.get(ctx.token or "")

    stream = Stream(await rfb.serve(W, H, port=0, microphone=True, authenticate=authenticate))
    display = stream.display
    ctx, page = await open_page(mic_browser, display.url + "?nooverlay&token=guest")
    try:
        assert (await page.evaluate("window.rfbView.stats"))["viewOnly"] is True
        # No button for a viewer that may not send...
        # ...and the page's own start() is refused by the server: nothing reaches the app.
        await start_is_refused(page, "view_only")
        assert await page.locator("button.rfb-microphone").is_visible()  # says so
        await asyncio.sleep(0.5)
        assert display.poll_audio_in() == []
        m = display.metrics()["display"]["audio_in"]
        assert m["refused"].get("view_only", 0) >= 1 and m["packets"] == 0, m
        # A driving viewer on the same stream is heard, with its principal.
        ctx2, page2 = await open_page(mic_browser, display.url + "?nooverlay&token=alice")
        try:
            await page2.locator("button.rfb-microphone").click()
            chunks = await hear(display, seconds=1.0)
            check_tone(chunks)
            assert {c.principal for c in chunks} == {"alice"}
        finally:
            await ctx2.close()
    finally:
        await ctx.close()
        await stream.close()


async def test_a_view_only_webrtc_viewer_is_told_its_microphone_is_refused(mic_browser) -> None:
    """On WebRTC the answer refuses a view-only viewer's microphone track (inactive), so no
    packet ever comes to refuse: the server tells the page on its data channel, and the
    view shows the refusal as it does on the WebSocket."""

    def authenticate(ctx: rfb.AuthContext) -> Any:
        return {"guest": rfb.ViewOnly("guest")}.get(ctx.token or "")

    stream = Stream(await rfb.serve(W, H, port=0, microphone=True, authenticate=authenticate,
                                    transport="webrtc", ice=LOOPBACK))  # fmt: skip
    display = stream.display
    ctx, page = await open_page(mic_browser, display.url + "?nooverlay&transport=webrtc&token=guest")
    try:
        assert (await page.evaluate("window.rfbView.activeTransport")) == "webrtc"
        assert (await page.evaluate("window.rfbView.stats"))["viewOnly"] is True
        # Its offer had a microphone track; the answer refused it (counted)...
        async with asyncio.timeout(10):
            while not display.metrics()["display"]["audio_in"]["refused"].get("view_only"):
                await asyncio.sleep(0.05)
        # ...and the page, told on its data channel, refuses its own start() with the reason.
        stats = await start_is_refused(page, "view_only")
        assert stats["transport"] is None, stats  # the track never went on the connection
        button = page.locator("button.rfb-microphone")
        assert await button.is_visible()  # says so
        assert "refused" in (await button.get_attribute("title") or "")
        await asyncio.sleep(0.5)
        assert display.poll_audio_in() == []
        m = display.metrics()["display"]["audio_in"]
        assert m["packets"] == 0 and m["tracks"] == 0, m
    finally:
        await ctx.close()
        await stream.close()
