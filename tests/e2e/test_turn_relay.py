"""WebRTC through a real TURN relay: Debian's coturn on loopback, Chromium relay-only.

rfb mints the TURN REST credentials (``IceConfig.turn_secret``, coturn's
``use-auth-secret``); the page gets them from the WHEP ``Link`` headers. The view has no
option for the ICE transport policy, so an init script wraps ``RTCPeerConnection`` and
forces ``iceTransportPolicy: "relay"``: the browser gathers only relayed candidates, and
every packet between it and the server goes through coturn. The server (aiortc) keeps its
host candidates. All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

import rfb
from rfb.signaling import IceConfig

from support.browser import (
    FORCE_RELAY,
    LOCAL_CANDIDATE_TYPES,
    SELECTED_PAIR,
    H,
    Stream,
    W,
    capture,
    collect,
    frames_displayed,
    wait_for,
)
from support.pixels import assert_test_card, quadrant_colours
from support.turn_server import TURNSERVER, TurnServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = secrets.token_hex(16)


@pytest.fixture(scope="module")
def turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TurnServer]:
    server = TurnServer(tmp_path_factory.mktemp("coturn"), SECRET)
    try:
        server.start()
    except FileNotFoundError:
        pytest.fail(f"{TURNSERVER} is missing: run `bash scripts/test` (apt-get install coturn)")
    try:
        yield server
    finally:
        server.stop()


def relay_ice(turn: TurnServer, secret: str, user: str) -> IceConfig:
    return IceConfig(
        turn_urls=(turn.url,),
        turn_secret=secret,
        turn_user=user,  # tells this test's sessions apart in coturn's log
        turn_ttl_s=600,
        host_addresses=("127.0.0.1",),
        allowed_remote_networks=("127.0.0.0/8",),
    )


def assert_minted(server: dict[str, Any], turn: TurnServer, user: str, secret: str) -> None:
    """A TURN REST credential for ``user``, signed with ``secret``."""
    urls = server["urls"] if isinstance(server["urls"], list) else [server["urls"]]
    assert urls == [turn.url], server
    assert re.fullmatch(rf"\d+:{user}", server["username"]), server
    digest = hmac.new(secret.encode(), server["username"].encode(), hashlib.sha1).digest()
    assert server["credential"] == base64.b64encode(digest).decode(), server


def peer_bytes_received(turn: TurnServer, user: str) -> list[int]:
    """Bytes each closed allocation of ``user`` received from its peers (coturn's
    ``peer usage`` line, logged when the allocation ends)."""
    usage = re.compile(r"peer usage: realm=<[^>]*>, username=<\d+:[^>]*>, rp=\d+, rb=(\d+)")
    return [int(m.group(1)) for line in turn.sessions_of(user) if (m := usage.search(line))]


async def relay_page(browser: Any) -> tuple[Any, Any]:
    """A page (with the media permission loopback WebRTC needs) whose peers are relay-only."""
    ctx = await browser.new_context(viewport={"width": W, "height": H},
                                    permissions=["camera", "microphone"])  # fmt: skip
    await ctx.add_init_script(FORCE_RELAY)
    return ctx, await ctx.new_page()


async def test_frames_and_input_go_through_the_turn_relay(browser: Any, turn: TurnServer) -> None:
    user = "relay-ok"
    stream = Stream(await rfb.serve(W, H, port=0, transport="webrtc",
                                    ice=relay_ice(turn, SECRET, user)))  # fmt: skip
    display = stream.display
    ctx, page = await relay_page(browser)
    try:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(display.url + "?transport=webrtc&nooverlay")
        await wait_for(page, "window.rfbView?.stats?.framesDisplayed > 3")
        assert not errors, errors
        assert await page.evaluate("window.rfbView.stats.transport") == "webrtc"

        # The browser was given rfb's minted credentials (WHEP Link headers) and relay only;
        # the config message on the data channel carries the same.
        (config,) = await page.evaluate("window.__relay.configs")
        assert config["iceTransportPolicy"] == "relay"
        (ice_server,) = config["iceServers"]
        assert_minted(ice_server, turn, user, SECRET)
        rfb_config = (await page.evaluate("window.__relay.rfbConfigs"))[0]
        (announced,) = rfb_config["ice_servers"]
        assert_minted(announced, turn, user, SECRET)

        # Only relayed candidates were offered, and the pair in use is the browser's relay
        # address on coturn (127.0.0.1, in its relay port range) to the server on loopback.
        ((*types,),) = await page.evaluate(LOCAL_CANDIDATE_TYPES)
        assert types and set(types) == {"relay"}, types
        pair = await page.evaluate(SELECTED_PAIR)
        assert pair is not None and pair["state"] == "succeeded", pair
        local, remote = pair["local"], pair["remote"]
        assert local["type"] == "relay" and local["relayProtocol"] == "udp", pair
        assert local["address"] == "127.0.0.1", pair
        assert turn.min_port <= local["port"] <= turn.max_port, (pair, turn.min_port)
        assert local["url"] and f"127.0.0.1:{turn.port}" in local["url"], pair
        assert remote["address"] == "127.0.0.1", pair

        # Frames flow through the relay: the test card, and more frames every second.
        assert_test_card(quadrant_colours(await capture(page), 0, 0, W, H), 6)
        before = await frames_displayed(page)
        await asyncio.sleep(1.0)
        assert await frames_displayed(page) >= before + 10
        relayed = await page.evaluate(SELECTED_PAIR)
        assert relayed["bytesReceived"] > pair["bytesReceived"] + 10_000, (pair, relayed)

        # Input flows back over the data channel, through the relay too.
        display.poll_events()
        await page.mouse.click(W // 2, H // 2)
        down, up = await collect(display, 2, {"pointer_down", "pointer_up"}, timeout=5)
        assert (down.event["x"], down.event["y"]) == (pytest.approx(W / 2), pytest.approx(H / 2))
        assert up.type == "pointer_up"
        await page.keyboard.press("Shift+A")
        keys = await collect(display, 4, {"key_down", "key_up"}, timeout=5)
        assert any(k.event["key"] == "A" and k.event["modifiers"] == ["Shift"] for k in keys)

        # coturn's side: allocations, and a permission for the server's address.
        log = "\n".join(turn.sessions_of(user))
        assert "ALLOCATE processed, success" in log, turn.log()[-4000:]
        assert "CREATE_PERMISSION processed, success" in log, turn.log()[-4000:]
        # Closing the tab frees the browser's allocations (the server's stay until it
        # closes); coturn then logs what each relayed from its peer: the media.
        await ctx.close()
        deadline = asyncio.get_running_loop().time() + 5
        while not any(rb > 20_000 for rb in peer_bytes_received(turn, user)):
            assert asyncio.get_running_loop().time() < deadline, turn.log()[-4000:]
            await asyncio.sleep(0.1)
    finally:
        await ctx.close()
        await stream.close()


async def test_wrong_turn_secret_never_connects(browser: Any, turn: TurnServer) -> None:
    user = "relay-bad"
    wrong = "not-" + SECRET
    stream = Stream(await rfb.serve(W, H, port=0, transport="webrtc",
                                    ice=relay_ice(turn, wrong, user)))  # fmt: skip
    ctx, page = await relay_page(browser)
    try:
        await page.goto(stream.display.url + "?transport=webrtc&nooverlay")
        # coturn refuses the allocation: the browser reports a TURN error ...
        errors = await wait_for(page, "window.__relay.candidateErrors.length > 0 && "
                                      "window.__relay.candidateErrors", timeout=10)  # fmt: skip
        assert any(e["errorCode"] == 401 for e in errors), errors
        config = (await page.evaluate("window.__relay.configs"))[0]
        assert_minted(config["iceServers"][0], turn, user, wrong)
        # ... gathers no candidate at all (relay only), and no frame ever comes.
        await asyncio.sleep(3.0)
        types = await page.evaluate(LOCAL_CANDIDATE_TYPES)
        assert types and all(t == [] for t in types), types
        states = await page.evaluate("window.__relay.pcs.map((pc) => pc.iceConnectionState)")
        assert not {"connected", "completed"} & set(states), states  # "new": nothing to check
        assert await frames_displayed(page) == 0
        assert await page.evaluate(SELECTED_PAIR) is None
        assert not any(v.get("frames_shown") for v in stream.display.metrics()["viewers"])
        log = turn.sessions_of(user)
        assert any("401" in line for line in log), turn.log()[-4000:]
        assert not any("ALLOCATE processed, success" in line for line in log), log
    finally:
        await ctx.close()
        await stream.close()
