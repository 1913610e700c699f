"""The WebRTC transport (rfb/transports/webrtc.py) without a peer: the offer filter it
applies drops mDNS and disallowed candidates."""

from __future__ import annotations

import pytest

from support.webrtc import LOOPBACK

pytest.importorskip("aiortc", reason="WebRTC tests need aiortc: pip install 'rfb[webrtc]'")


def test_filter_offer_drops_mdns_and_disallowed_candidates() -> None:
    from rfb.transports import webrtc

    webrtc.apply_ice_policy(LOOPBACK)
    sdp = ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
           "a=candidate:1 1 udp 2122194687 127.0.0.1 50313 typ host generation 0\r\n"
           "a=candidate:2 1 udp 2122063615 192.0.2.2 46008 typ host generation 0\r\n"
           "a=candidate:3 1 udp 2122063615 4f1b6c2e-1111-2222-3333-444455556666.local 46009 typ host\r\n"
           "a=rtpmap:96 H264/90000\r\n")  # fmt: skip
    out = webrtc.filter_offer(sdp)
    assert "127.0.0.1 50313" in out
    assert "192.0.2.2" not in out and ".local" not in out
    assert out.endswith("a=rtpmap:96 H264/90000\r\n")
