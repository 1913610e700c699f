"""The WebRTC transport (rfb/transports/webrtc.py) without a peer: the offer filter it
applies drops mDNS and disallowed candidates; an exact still goes over the data channel in
parts."""

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


class _Channel:
    """A data channel that keeps what it is sent (and has sent it on at once)."""

    label = "rfb"
    readyState = "open"
    bufferedAmount = 0

    def __init__(self) -> None:
        self.sent: list[bytes | str] = []

    def send(self, data: bytes | str) -> None:
        self.sent.append(data)


async def test_an_exact_still_goes_over_the_data_channel_in_parts_and_counts_delivered() -> None:
    import asyncio
    import struct

    from rfb import protocol
    from rfb.access import Access
    from rfb.options import StreamOptions
    from rfb.session import EncodedUnit
    from rfb.session.links import LinkKind
    from rfb.stream import Stream
    from rfb.transports import webrtc

    stream = Stream("cam", StreamOptions(width=64, height=48, still_after=None))
    peer = webrtc.WebRtcViewer(stream, "s1", None, Access())
    peer.channel = _Channel()
    viewer = stream.open_viewer(LinkKind.WEBRTC, peer, Access(), seat_checked=True).viewer
    viewer.exact_stills = True
    png = bytes(range(256)) * 700  # 179,200 bytes: three parts
    unit = EncodedUnit(index=9, data=png, keyframe=False, codec="image/png", width=64, height=48,
                       frame_id=3, timestamp_us=1234, published_at=0.0, encode_ms=1.0,
                       frame_width=64, frame_height=48, still=True, exact=True)  # fmt: skip
    seq = viewer.offer_exact(unit, stream.clock())
    assert seq is not None
    viewer.backlog += 1  # as the hub does when it hands a unit to a link
    peer.send_unit(viewer, seq, unit)
    parts = [p for p in peer.channel.sent if isinstance(p, bytes)]
    assert len(parts) == 3 and all(len(p) <= protocol.CHANNEL_PART_MAX for p in parts)
    assert [struct.unpack_from("<IHH", p) for p in parts] == [(1, i, 3) for i in range(3)]
    header, payload = protocol.unpack_envelope(b"".join(p[8:] for p in parts))
    assert payload == png and header["exact"] is True and header["seq"] == seq
    assert header["type"] == "image_frame" and header["mime"] == "image/png"
    await asyncio.sleep(0.05)  # the channel has sent it on: credit returns
    assert seq not in viewer.inflight and viewer.backlog == 0
    stream.hub.ack(viewer.id, seq)  # the browser's ack of it changes nothing
    assert viewer.stats.exact_stills_sent == 1
    await stream.aclose(1.0)
