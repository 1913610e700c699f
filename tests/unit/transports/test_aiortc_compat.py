"""The aiortc and aioice internals rfb reaches into (all in rfb/transports/aiortc_compat.py)
still exist in the installed versions: an upgrade that renames one fails here, by name,
rather than as a silent loss of pacing, feedback, keyframes or the ICE address policy."""

from __future__ import annotations

import inspect

import pytest

aiortc = pytest.importorskip("aiortc", reason="WebRTC tests need aiortc: pip install 'rfb[webrtc]'")

import aioice.ice  # noqa: E402  (present wherever aiortc is)
from aiortc.rtcdtlstransport import RTCDtlsTransport  # noqa: E402
from aiortc.rtcrtpsender import RTCRtpSender  # noqa: E402

from rfb.transports import aiortc_compat  # noqa: E402

from support import paths  # noqa: E402


def _assigns(cls: type, attribute: str) -> bool:
    """Whether the class's source sets ``self.<attribute>`` (name-mangled private state)."""
    return f"self.{attribute} =" in inspect.getsource(cls)


def test_the_versions_are_the_checked_ones() -> None:
    major, minor = (int(x) for x in aiortc.__version__.split(".")[:2])
    assert (1, 9) <= (major, minor) <= (1, 16), (
        f"aiortc {aiortc.__version__}: check rfb/transports/aiortc_compat.py against it, "
        "then widen this range"
    )


def test_rtp_sender_internals() -> None:
    # RTCP in (REMB, receiver reports), PLI/FIR, the wire timestamp, the paced transport.
    assert callable(getattr(RTCRtpSender, "_handle_rtcp_packet", None))
    assert callable(getattr(RTCRtpSender, "_send_keyframe", None))
    assert _assigns(RTCRtpSender, "__rtp_timestamp")
    assert _assigns(RTCRtpSender, "__transport")
    assert "self.transport._send_rtp" in inspect.getsource(RTCRtpSender)
    assert callable(getattr(RTCDtlsTransport, "_send_rtp", None))


def test_aioice_versions_are_the_checked_ones() -> None:
    major, minor = (int(x) for x in aioice.__version__.split(".")[:2])
    assert (0, 9) <= (major, minor) <= (0, 13), (
        f"aioice {aioice.__version__}: check rfb/transports/aiortc_compat.py against it, "
        "then widen this range"
    )


def test_aioice_internals() -> None:
    # The ICE address policy and the consent-check workaround.
    assert callable(aioice.ice.get_host_addresses)
    assert callable(aioice.ice.StunProtocol.datagram_received)
    assert inspect.iscoroutinefunction(aioice.ice.Connection.gather_candidates)
    assert "self.receiver = receiver" in inspect.getsource(aioice.ice.StunProtocol.__init__)
    assert inspect.iscoroutinefunction(aioice.ice.Connection.query_consent)
    assert _assigns(aioice.ice.Connection, "_closing")
    aiortc_compat.end_consent_checks_after_close()
    aiortc_compat.end_consent_checks_after_close()  # idempotent: wrapped once
    assert getattr(aioice.ice.Connection.query_consent, "_rfb_wrapped", False)


def test_negotiation_internals_for_fec_and_playout_delay() -> None:
    # adopt_from_offer appends to the transceiver's negotiated lists; hook_rtcp rewrites
    # NACKs in place before aiortc resends.
    from aiortc import rtp
    from aiortc.rtcpeerconnection import RTCPeerConnection
    from aiortc.rtcrtptransceiver import RTCRtpTransceiver
    from aiortc.sdp import SessionDescription

    transceiver = inspect.getsource(RTCRtpTransceiver)
    assert "self._codecs:" in transceiver and "self._headerExtensions:" in transceiver
    source = inspect.getsource(RTCPeerConnection)
    assert "transceiver._codecs" in source and "transceiver._headerExtensions" in source
    assert callable(SessionDescription.parse)
    assert rtp.RTCP_RTPFB_NACK == 1 and "lost" in inspect.signature(rtp.RtcpRtpfbPacket).parameters
    assert "packet.lost" in inspect.getsource(RTCRtpSender)


def test_ice_policy_internals() -> None:
    # gather_candidates asks the module function for its addresses (so the context
    # variable it sets reaches it); StunProtocols are made with their connection; a peer
    # connection makes every ICE gatherer in __createDtlsTransport and keeps its ICE
    # transports, whose gatherer holds the aioice connection.
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
    from aiortc.rtcpeerconnection import RTCPeerConnection

    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)
    assert "StunProtocol(self)" in inspect.getsource(aioice.ice.Connection)
    create = getattr(RTCPeerConnection, "_RTCPeerConnection__createDtlsTransport", None)
    assert callable(create)
    source = inspect.getsource(RTCPeerConnection)
    assert inspect.getsource(create).count("RTCIceGatherer(") == source.count("RTCIceGatherer(") > 0
    assert "self.__createDtlsTransport()" in source
    assert "self.__iceTransports.add(iceTransport)" in source
    assert isinstance(RTCIceTransport.iceGatherer, property)
    assert isinstance(RTCDtlsTransport.transport, property)
    assert _assigns(RTCIceGatherer, "_connection")
    aiortc_compat.install_ice_policy_hooks()
    aiortc_compat.install_ice_policy_hooks()  # idempotent: wrapped once
    assert getattr(aioice.ice.Connection.gather_candidates, "_rfb_wrapped", False)
    assert not getattr(aioice.ice.Connection.gather_candidates.__wrapped__, "_rfb_wrapped", False)




# -- H.264 High 4:4:4 in the answer -------------------------------------------------------

CHROMIUM_OFFER = (paths.FIXTURES / "sdp" / "chromium-156-offer.sdp").read_text()


def _without_444(sdp: str) -> str:
    """The offer of a browser that does not receive High 4:4:4 (payload types 41-44 gone)."""
    drop = {"41", "42", "43", "44"}
    lines = []
    for line in sdp.splitlines():
        if line.startswith("m=video"):
            words = line.split(" ")
            line = " ".join(words[:3] + [pt for pt in words[3:] if pt not in drop])
        elif (
            line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"))
            and line.split(":", 1)[1].split(" ")[0] in drop
        ):
            continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n"


async def _answer(offer: str, adopt: bool) -> tuple[str, bool]:
    from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences([c for c in caps if c.mimeType == "video/H264"
                                         or c.name == "rtx"])  # fmt: skip
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        if adopt:
            aiortc_compat.adopt_h264_444(transceiver, offer)
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp, aiortc_compat.negotiated_h264_444(transceiver)
    finally:
        await pc.close()


def _first_video_codec(answer: str) -> tuple[str, str]:
    video = answer[answer.index("m=video") :]
    pt = video.splitlines()[0].split(" ")[3]
    fmtp = next(line for line in video.splitlines() if line.startswith(f"a=fmtp:{pt} "))
    return pt, fmtp


async def test_chromium_offers_444_and_the_answer_puts_it_first_with_its_rtx() -> None:
    assert aiortc_compat.offers_h264_444(CHROMIUM_OFFER)
    answer, negotiated = await _answer(CHROMIUM_OFFER, adopt=True)
    assert negotiated
    pt, fmtp = _first_video_codec(answer)
    assert pt == "41" and "profile-level-id=f4001f" in fmtp and "packetization-mode=1" in fmtp
    assert "a=fmtp:42 apt=41" in answer  # retransmissions of the 4:4:4 stream
    assert "a=rtcp-fb:41 nack pli" in answer
    assert "profile-level-id=42e01f" in answer  # the 4:2:0 codecs are still answered


async def test_without_444_in_the_offer_the_answer_is_420_as_before() -> None:
    offer = _without_444(CHROMIUM_OFFER)
    assert "f4001f" not in offer and not aiortc_compat.offers_h264_444(offer)
    answer, negotiated = await _answer(offer, adopt=True)
    assert not negotiated and "f4001f" not in answer
    assert "profile-level-id=42" in _first_video_codec(answer)[1]
    # Left alone (the chroma option is 420), aiortc answers 4:2:0 even to an offer with 4:4:4.
    answer, negotiated = await _answer(CHROMIUM_OFFER, adopt=False)
    assert not negotiated and "f4001f" not in answer


def test_an_unparseable_offer_offers_no_444() -> None:
    assert not aiortc_compat.offers_h264_444("not sdp")
