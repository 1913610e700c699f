"""The ICE address policy: the pure parts (rfb/transports/ice_policy.py), and two servers
with different IceConfigs in one process, each of whose peer connections follows its own
(aiortc_compat.use_ice_policy). All traffic stays on 127.0.0.0/8."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import aiohttp
import pytest

import rfb
from rfb.signaling import IceConfig
from rfb.transports.ice_policy import IcePolicy, allowed, filter_offer

try:
    import aiortc
except ImportError:  # the pure parts are tested anyway
    aiortc = None

OFFER = ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
         "a=candidate:1 1 udp 2122194687 127.0.0.1 50313 typ host generation 0\r\n"
         "a=candidate:2 1 udp 2122063615 192.0.2.2 46008 typ host generation 0\r\n"
         "a=candidate:3 1 udp 2122063615 4f1b6c2e-1111-2222-3333-444455556666.local 46009 typ host\r\n"
         "a=candidate:4 1 udp 2122063615 fe80::1%eth0 46010 typ host\r\n"
         "a=rtpmap:96 H264/90000\r\n")  # fmt: skip


def candidates(sdp: str) -> list[str]:
    return [line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")]


# ---------------------------------------------------------------------------
# The pure parts


def test_policy_of_an_ice_config() -> None:
    assert IcePolicy.of(IceConfig()) == IcePolicy(None, None)
    p = IcePolicy.of(IceConfig(host_addresses=("127.0.0.1", "::1"),
                               allowed_remote_networks=("127.0.0.1/8", "fe80::/10")))  # fmt: skip
    assert p.host_addresses == ("127.0.0.1", "::1")
    assert p.networks == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("fe80::/10"))
    assert IcePolicy.of(IceConfig(allowed_remote_networks=())).networks == ()


def test_policy_gathers_on_the_families_asked_for() -> None:
    p = IcePolicy(host_addresses=("127.0.0.1", "::1", "127.0.0.2"))
    assert p.gather_on(True, True) == ["127.0.0.1", "::1", "127.0.0.2"]
    assert p.gather_on(True, False) == ["127.0.0.1", "127.0.0.2"]
    assert p.gather_on(False, True) == ["::1"]
    assert IcePolicy().gather_on(True, True) is None  # aioice's own list


def test_policy_allows_its_networks_only() -> None:
    p = IcePolicy.of(IceConfig(allowed_remote_networks=("127.0.0.0/8", "fe80::/10")))
    assert p.allows("127.0.0.1") and p.allows("127.255.0.9") and p.allows("fe80::1%eth0")
    assert not p.allows("192.0.2.2") and not p.allows("::1") and not p.allows("host.local")
    assert IcePolicy().allows("192.0.2.2") and IcePolicy().allows("anything")
    assert not IcePolicy(networks=()).allows("127.0.0.1")  # an empty list allows nothing
    assert allowed(None, "x") and not allowed([ipaddress.ip_network("10.0.0.0/8")], "x")


def test_filter_offer_follows_the_policy_it_is_given() -> None:
    loopback = IcePolicy.of(IceConfig(allowed_remote_networks=("127.0.0.0/8",)))
    link_local = IcePolicy.of(IceConfig(allowed_remote_networks=("fe80::/10",)))
    assert candidates(filter_offer(OFFER, policy=loopback)) == ["127.0.0.1"]
    assert candidates(filter_offer(OFFER, policy=link_local)) == ["fe80::1%eth0"]
    assert candidates(filter_offer(OFFER, False, loopback)) == [
        "127.0.0.1", "4f1b6c2e-1111-2222-3333-444455556666.local"]  # fmt: skip
    assert candidates(filter_offer(OFFER, policy=IcePolicy())) == [
        "127.0.0.1", "192.0.2.2", "fe80::1%eth0"]  # fmt: skip
    assert filter_offer(OFFER, policy=loopback).endswith("a=rtpmap:96 H264/90000\r\n")


# ---------------------------------------------------------------------------
# Two servers in one process

# A answers 127.0.0.1 only from 127.0.0.1; B gathers on 127.0.0.2 and answers 127.0.0.3
# only. Were B's settings A's (as when the policy was process-wide, last server wins),
# A's answer would offer 127.0.0.2 and A would ignore its viewer; and vice versa.
ICE_A = IceConfig(host_addresses=("127.0.0.1",), allowed_remote_networks=("127.0.0.1/32",))
ICE_B = IceConfig(host_addresses=("127.0.0.2",), allowed_remote_networks=("127.0.0.3/32",))
W, H = 160, 120


@dataclass
class Player:
    pc: Any
    answer: str
    resource: str
    frames: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=64))
    tasks: list[asyncio.Task] = field(default_factory=list)


@contextlib.asynccontextmanager
async def player(
    display: rfb.Display, host: str, remote: str, claim: str | None = None
) -> AsyncIterator[Player]:
    """A WHEP player on ``host`` that answers ``remote`` only (its own peer connection's
    policy, not the process default the servers set); ``claim``: the address its offer
    gives instead of ``host`` (its checks still come from ``host``)."""
    from rfb.transports import aiortc_compat

    pc = aiortc.RTCPeerConnection()
    aiortc_compat.use_ice_policy(
        pc, IceConfig(host_addresses=(host,), allowed_remote_networks=(f"{remote}/32",))
    )
    pc.addTransceiver("video", direction="recvonly")
    pc.createDataChannel("rfb")
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    assert set(candidates(offer)) == {host}
    if claim is not None:
        offer = offer.replace(f" {host} ", f" {claim} ")
    async with aiohttp.ClientSession() as http, http.post(
        display.url + "whep", data=offer,
        headers={"Content-Type": "application/sdp"},
    ) as r:  # fmt: skip
        assert r.status == 201, await r.text()
        p = Player(pc, await r.text(), r.headers["Location"])

    @pc.on("track")
    def on_track(track: Any) -> None:
        async def pump() -> None:
            with contextlib.suppress(Exception):
                while True:
                    f = await track.recv()
                    if not p.frames.full():
                        p.frames.put_nowait(f)

        p.tasks.append(asyncio.create_task(pump()))

    await pc.setRemoteDescription(aiortc.RTCSessionDescription(sdp=p.answer, type="answer"))
    try:
        yield p
    finally:
        for t in p.tasks:
            t.cancel()
        async with aiohttp.ClientSession() as http:
            await http.delete(urljoin(display.url, p.resource))
        await pc.close()


def connected(display: rfb.Display, p: Player) -> bool:
    """Whether the server's session of this player connected (False: ended, or not yet)."""
    return any(s.connected.is_set() for s in display.stream.webrtc.sessions.values()
               if p.resource.endswith("/" + s.id))  # fmt: skip


@pytest.mark.skipif(aiortc is None, reason="WebRTC tests need aiortc: pip install 'rfb[webrtc]'")
async def test_two_servers_follow_their_own_ice_settings(serving) -> None:
    a, _ = await serving(W, H, transport="webrtc", ice=ICE_A)
    b, _ = await serving(W, H, transport="webrtc", ice=ICE_B)  # last: the process default
    async with asyncio.timeout(30):
        # The outsider checks B from 127.0.0.1 (which A allows) and claims to be at
        # 127.0.0.3 (which B allows): only B's datagram filter stands in its way.
        async with player(a, "127.0.0.1", "127.0.0.1") as pa, \
                player(b, "127.0.0.3", "127.0.0.2") as pb, \
                player(b, "127.0.0.1", "127.0.0.2", claim="127.0.0.3") as outsider:  # fmt: skip
            # Each answer offers its own server's host address alone.
            assert set(candidates(pa.answer)) == {"127.0.0.1"}
            assert set(candidates(pb.answer)) == set(candidates(outsider.answer)) == {"127.0.0.2"}
            # Each server's viewer from an allowed address connects and gets frames.
            for display, p in ((a, pa), (b, pb)):
                await p.frames.get()
                assert connected(display, p)
                assert p.pc.connectionState == "connected"
            # B ignores checks from 127.0.0.1: the outsider never connects.
            await asyncio.sleep(1.0)
            assert not connected(b, outsider)
            assert outsider.pc.connectionState != "connected" and outsider.frames.empty()
