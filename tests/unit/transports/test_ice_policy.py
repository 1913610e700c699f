"""The ICE address policy (rfb/transports/ice_policy.py), sans I/O: a policy from an
IceConfig, the families it gathers on, the networks it allows, and the offer filter,
given a policy and fuzzed with any text. (Two servers with their own policies in one
process: tests/integration/test_ice_policy.py.)"""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from rfb.signaling import IceConfig
from rfb.transports.ice_policy import IcePolicy, allowed, filter_offer

from support.fuzzing import allowed_networks, check_filter, fuzz, sdp_texts
from support.webrtc import candidates

OFFER = ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
         "a=candidate:1 1 udp 2122194687 127.0.0.1 50313 typ host generation 0\r\n"
         "a=candidate:2 1 udp 2122063615 192.0.2.2 46008 typ host generation 0\r\n"
         "a=candidate:3 1 udp 2122063615 4f1b6c2e-1111-2222-3333-444455556666.local 46009 typ host\r\n"
         "a=candidate:4 1 udp 2122063615 fe80::1%eth0 46010 typ host\r\n"
         "a=rtpmap:96 H264/90000\r\n")  # fmt: skip


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


@fuzz(200)
@given(sdp_texts() | st.text(max_size=200))
def test_filter_offer_any_text(sdp: str) -> None:
    """filter_offer on any text at all (aiortc answers whatever check_offer let through)."""
    check_filter(sdp)
    with allowed_networks("10.0.0.0/8"):
        check_filter(sdp)
