"""Who gets in and who may drive, over real sockets: the authenticate hook's context and
principal, 4401 and no frame, view-only viewers, input limits and pending connections,
and WHEP's 401. (The policy and the input gate sans I/O: tests/unit/test_access.py and
tests/unit/session/test_input_gate.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp
import pytest

import rfb
from rfb import client, protocol
from rfb.access import Access, AuthContext, ViewOnly

from support.events import CLICK, key, move

JPEG = [protocol.CAP_JPEG]


async def test_display_merges_moves_over_the_budget_into_the_queued_one(serving) -> None:
    display, _ = await serving(64, 64, pattern=None, max_input_rate=5)
    display.stream.inputs.open("a", Access("alice"))
    display.stream.inputs.open("b", Access("bob"))
    for i in range(5):
        display.stream.inputs.push("a", move(i))
    for i in range(5, 50):
        display.stream.inputs.push("a", move(i))  # over budget: each replaces the last queued move
    display.stream.inputs.push("b", CLICK)
    got = display.poll_events()
    assert [e.event["x"] for e in got if e.client_id == "a"] == [0, 1, 2, 3, 49]
    assert [e.principal for e in got] == ["alice"] * 5 + ["bob"]
    display.stream.inputs.push("a", move(50))  # the queue was drained: one goes in
    display.stream.inputs.push("a", move(51))  # and the next merges into it
    assert [e.event["x"] for e in display.poll_events()] == [51]
    dropped = display.metrics()["display"]["input_dropped"]
    assert dropped == {"coalesced": 46}
    display.stream.inputs.push("stranger", CLICK)  # never admitted: never delivered
    assert display.poll_events() == []


async def collect_events(
    display: rfb.Display, n: int, timeout: float = 5.0
) -> list[rfb.InputEvent]:
    got: list[rfb.InputEvent] = []
    async with asyncio.timeout(timeout):
        while len(got) < n:
            got += display.poll_events()
            await asyncio.sleep(0.01)
    return got


async def test_hook_sees_token_headers_path_query_and_its_principal_rides_on_events(
    serving,
) -> None:
    contexts: list[AuthContext] = []

    async def authenticate(ctx: AuthContext) -> Any:
        contexts.append(ctx)
        if ctx.cookies and ctx.cookies.get("session") == "s1":
            return {"user": "alice"}
        return None

    display, _ = await serving(64, 64, authenticate=authenticate)
    async with client.connect(display.ws_url + "?room=7", JPEG, token="tk",
                              headers={"Cookie": "session=s1"}) as v:  # fmt: skip
        await v.next_frame()
        await v.send_event(CLICK)
        (ev,) = await collect_events(display, 1)
    assert ev.principal == {"user": "alice"} and ev.event == CLICK
    ctx = contexts[0]
    assert ctx.token == "tk" and ctx.transport == "websocket" and ctx.stream == "default"
    assert ctx.path == "/?room=7" and ctx.query == {"room": "7"}
    assert ctx.headers is not None and ctx.headers["Cookie"] == "session=s1"
    assert ctx.hello is not None and ctx.hello["type"] == "hello"
    assert ctx.remote is not None and ctx.remote[0] == "127.0.0.1"


async def test_a_refused_viewer_gets_4401_and_no_frame(serving) -> None:
    display, _ = await serving(64, 64, authenticate=lambda ctx: None)
    async with client.connect(display.ws_url, JPEG, token="anything") as v:
        msg = await v.ws.receive(timeout=5)  # the very first thing it gets is the close
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert v.ws.close_code == protocol.CLOSE_UNAUTHORIZED
    async with client.connect(display.ws_url, JPEG) as v:
        assert (await v.wait_closed())[0] == protocol.CLOSE_UNAUTHORIZED
    assert display.metrics()["display"]["refused"] == {"unauthorized": 2}
    assert display.client_count == 0


async def test_view_only_viewers_watch_but_their_input_never_arrives(serving) -> None:
    display, _ = await serving(64, 64, token="drive", view_token="watch")
    async with (
        client.connect(display.ws_url, JPEG, token="watch") as watcher,
        client.connect(display.ws_url, JPEG, token="drive", view_only=True) as polite,
        client.connect(display.ws_url, JPEG, token="drive") as driver,
    ):
        for v in (watcher, polite, driver):
            await v.next_frame()
        assert watcher.config.get("view_only") is True and polite.config.get("view_only")
        assert "view_only" not in driver.config
        for v in (watcher, polite):
            for _ in range(5):
                await v.send_event(CLICK)
            await v.send({"type": "set_viewport", "width": 9, "height": 9, "pwidth": 9,
                          "pheight": 9, "ratio": 1})  # fmt: skip
        await driver.send_event(key("key_down"))
        (ev,) = await collect_events(display, 1)
        await asyncio.sleep(0.2)
        assert ev.client_id == driver.config["client_id"] and display.poll_events() == []
        for v in (watcher, polite):
            await v.next_frame()  # still watching
    assert display.metrics()["display"]["input_dropped"] == {"view_only": 12}


async def test_event_storm_is_limited_while_a_healthy_viewer_keeps_its_frame_rate(
    serving,
) -> None:
    display, _ = await serving(320, 240, fps=30, max_input_rate=100)

    async def frame_rate(v: client.Viewer, seconds: float) -> float:
        n, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            await v.next_frame()
            n += 1
        return n / (time.monotonic() - t0)

    async with (
        client.connect(display.ws_url, JPEG) as healthy,
        client.connect(display.ws_url, JPEG) as storm,
    ):
        await healthy.next_frame()
        await storm.next_frame()
        calm = await frame_rate(healthy, 2.0)
        # One message per event, half pointer moves and half clicks.
        messages = [json.dumps({"type": "event", "event": move(i) if i % 2 else CLICK})
                    for i in range(100)]  # fmt: skip
        stop = asyncio.Event()
        sent = 0

        async def flood() -> None:
            nonlocal sent
            while not stop.is_set():
                for m in messages:
                    await storm.ws.send_str(m)
                sent += len(messages)
                # Up to ~20,000 events/s, far past any person: the flooding client shares
                # this process and its 2 cores with the server, and must not measure itself.
                await asyncio.sleep(0.005)

        t0 = time.monotonic()
        flooding = asyncio.create_task(flood())
        stormy = await frame_rate(healthy, 3.0)
        stop.set()
        await flooding
        events: list[rfb.InputEvent] = []

        def accounted() -> int:
            dropped = display.metrics()["display"]["input_dropped"]
            return len(events) + dropped.get("rate", 0) + dropped.get("coalesced", 0)

        async with asyncio.timeout(20):  # until the server has read the whole storm
            while accounted() < sent:
                events += display.poll_events()
                await asyncio.sleep(0.05)
        elapsed = time.monotonic() - t0
        events += display.poll_events()
        delivered = len(events)
    dropped = display.metrics()["display"]["input_dropped"]
    assert sent >= 10_000, sent
    assert stormy >= 0.9 * calm, (calm, stormy)
    # 100/s while it lasted, the one-second burst, one merged move per poll: a small part
    # of the storm reached the application, and the rest is counted.
    assert delivered <= 100 * elapsed + 100 + elapsed / 0.05 + 10, (delivered, elapsed)
    assert dropped["rate"] + dropped["coalesced"] + delivered == sent


async def test_silent_connections_are_held_to_the_cap_and_a_real_viewer_gets_in(
    serving,
) -> None:
    display, _ = await serving(64, 64, max_pending=32)
    conns: list[aiohttp.ClientWebSocketResponse] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def silent() -> None:
            with contextlib.suppress(aiohttp.ClientError):
                conns.append(await http.ws_connect(display.ws_url))

        peak = 0
        for _ in range(10):
            await asyncio.gather(*(silent() for _ in range(100)))
            peak = max(peak, sum(1 for c in display.stream.connections if c.pending))
        assert peak <= 32
        await asyncio.sleep(1.1)  # old enough to make room for a newcomer
        async with client.connect(display.ws_url, JPEG) as v:
            await v.next_frame()
        for c in conns:
            await c.close()
    refused = display.metrics()["display"]["refused"]["max_pending"]
    assert refused >= 1000 - 32, refused


# -- WHEP ---------------------------------------------------------------------------------------


async def test_whep_hook_refuses_with_401_and_admits_view_only(serving) -> None:
    pytest.importorskip("aiortc")
    from support.webrtc import LOOPBACK, whep

    def authenticate(ctx: AuthContext) -> Any:
        assert ctx.transport == "webrtc"
        return {"watch": ViewOnly("vic"), "drive": "dee"}.get(ctx.token or "")

    display, _ = await serving(320, 240, transport="webrtc", ice=LOOPBACK,
                               authenticate=authenticate)  # fmt: skip
    offer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n"
    async with aiohttp.ClientSession() as http:
        for auth in (None, "Bearer nope"):
            headers = {"Content-Type": "application/sdp"}
            if auth:
                headers["Authorization"] = auth
            async with http.post(display.url + "whep", data=offer, headers=headers) as r:
                assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
                assert "turn" not in " ".join(r.headers.getall("Link", []))
    async with (
        whep(display, headers={"Authorization": "Bearer watch"}) as watcher,
        whep(display, headers={"Authorization": "Bearer drive"}) as driver,
    ):
        for v in (watcher, driver):
            await v.frame()
            await asyncio.wait_for(v.opened.wait(), 5)
        async with asyncio.timeout(5):
            while not any(t["type"] == "config" for t in watcher.texts):
                await asyncio.sleep(0.02)
        assert next(t for t in watcher.texts if t["type"] == "config")["view_only"] is True
        for _ in range(3):
            watcher.channel.send(json.dumps({"type": "event", "event": CLICK}))
        driver.channel.send(json.dumps({"type": "event", "event": CLICK}))
        (ev,) = await collect_events(display, 1)
        await asyncio.sleep(0.2)
        assert ev.principal == "dee" and display.poll_events() == []
    m = display.metrics()["display"]
    assert m["refused"] == {"unauthorized": 2} and m["input_dropped"] == {"view_only": 3}
