"""A stand-in for a transport's link to the hub, for tests without sockets."""

from __future__ import annotations

from rfb.session import EncodedUnit, Viewer
from rfb.session.links import LinkKind


class KeepingLink:
    """A WebSocket viewer's link that keeps what it is sent and never confirms any of it."""

    kind = LinkKind.WEBSOCKET

    def __init__(self) -> None:
        self.got: list[EncodedUnit] = []
        self.sent: list[tuple[Viewer, int, EncodedUnit]] = []  # with the viewer and seq

    def send_unit(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
        self.got.append(unit)
        self.sent.append((viewer, seq, unit))
