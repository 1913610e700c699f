"""Two servers with different IceConfigs in one process, each of whose peer connections
follows its own (aiortc_compat.use_ice_policy), and peer connections with their own host
addresses. All traffic stays on 127.0.0.0/8. (The policy sans I/O:
tests/unit/transports/test_ice_policy.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import rfb
from rfb.signaling import IceConfig

from support.webrtc import WhepViewer, candidates, whep

aiortc = pytest.importorskip("aiortc", reason="WebRTC tests need aiortc: pip install 'rfb[webrtc]'")

from rfb.transports import aiortc_compat  # noqa: E402

# A answers 127.0.0.1 only from 127.0.0.1; B gathers on 127.0.0.2 and answers 127.0.0.3
# only. Were B's settings A's (as when the policy was process-wide, last server wins),
# A's answer would offer 127.0.0.2 and A would ignore its viewer; and vice versa.
ICE_A = IceConfig(host_addresses=("127.0.0.1",), allowed_remote_networks=("127.0.0.1/32",))
ICE_B = IceConfig(host_addresses=("127.0.0.2",), allowed_remote_networks=("127.0.0.3/32",))
W, H = 160, 120


def player(display: rfb.Display, host: str, remote: str, claim: str | None = None) -> Any:
    """A WHEP player on ``host`` that answers ``remote`` only (its own peer connection's
    policy, not the process default the servers set); ``claim``: the address its offer
    gives instead of ``host`` (its checks still come from ``host``)."""

    def offer(sdp: str) -> str:
        assert set(candidates(sdp)) == {host}
        return sdp if claim is None else sdp.replace(f" {host} ", f" {claim} ")

    ice = IceConfig(host_addresses=(host,), allowed_remote_networks=(f"{remote}/32",))
    return whep(display, ice=ice, offer_edit=offer)


def connected(display: rfb.Display, p: WhepViewer) -> bool:
    """Whether the server's session of this player connected (False: ended, or not yet)."""
    return any(s.connected.is_set() for s in display.stream.webrtc.sessions.values()
               if p.resource.endswith("/" + s.id))  # fmt: skip


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


async def test_ice_policy_is_per_peer_connection() -> None:
    """Two peer connections with their own host addresses gather on those alone, and one
    with none follows the process default: the hooks still reach the installed aioice."""
    from rfb.signaling import IceConfig
    from rfb.transports import ice_policy

    def hosts(pc: object) -> set[str]:
        sdp = pc.localDescription.sdp  # type: ignore[attr-defined]
        return {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}

    saved = ice_policy.default_policy()
    aiortc_compat.apply_ice_policy(IceConfig(host_addresses=("127.0.0.4",)))
    pcs = [aiortc.RTCPeerConnection() for _ in range(3)]
    try:
        aiortc_compat.use_ice_policy(pcs[0], IceConfig(host_addresses=("127.0.0.2",)))
        aiortc_compat.use_ice_policy(pcs[1], IceConfig(host_addresses=("127.0.0.3", "::1")))
        for pc in pcs:
            pc.addTransceiver("video", direction="recvonly")
            pc.createDataChannel("rfb")
            await pc.setLocalDescription(await pc.createOffer())
        assert hosts(pcs[0]) == {"127.0.0.2"}
        assert hosts(pcs[1]) <= {"127.0.0.3", "::1"} and "127.0.0.3" in hosts(pcs[1])
        assert hosts(pcs[2]) == {"127.0.0.4"}
    finally:
        aiortc_compat.apply_ice_policy(saved)
        for pc in pcs:
            await pc.close()
