"""aiortc's header-extension map with Chromium 156's ids, for the RTP byte-level tests."""

from __future__ import annotations

from typing import Any

from rfb.rtp import header as rtp_header

MID, ABS_SEND_TIME, PLAYOUT_DELAY = 9, 2, 5  # the ids Chromium 156's offer gives them


def chromium_extension_map() -> Any:
    """mid and abs-send-time, as aiortc parses and writes them."""
    from aiortc import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap

    m = HeaderExtensionsMap()
    m.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=MID, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        RTCRtpHeaderExtensionParameters(id=ABS_SEND_TIME, uri=rtp_header.ABS_SEND_TIME_URI),
    ]))  # fmt: skip
    return m
