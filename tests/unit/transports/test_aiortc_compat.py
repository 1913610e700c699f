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


