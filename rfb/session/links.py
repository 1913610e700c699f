"""What a link is: how units leave the hub for one viewer or consumer."""

from __future__ import annotations

import enum


class LinkKind(enum.Enum):
    """The kind of a link to the hub; its value names it in /metrics."""

    WEBSOCKET = "websocket"
    WEBRTC = "webrtc"
    RECORDING = "record"  # an MP4 being written (rfb/recording.py)
    RELAY = "rtp"  # RTP to a media server (rfb/relay.py)

    @property
    def consumer(self) -> bool:
        """Takes every unit and never holds its group back, sends no input, and is not
        counted as a viewer (max_viewers, /metrics' viewers)."""
        return self in (LinkKind.RECORDING, LinkKind.RELAY)
