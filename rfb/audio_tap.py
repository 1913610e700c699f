"""The stream's encoded sound for a consumer that is not a viewer: a recording or an RTP
relay. A tap listens to the stream's audio (audio.py) like a viewer that announced
``audio``, so sound published while a recording or a relay runs is encoded (once: the
viewers, the recordings and the relays all get the same Opus packets) and handed to it.

The packets come on the event loop, as audio.py hands them to a WebRTC track
(``send_audio_packet``: the ``Packet`` itself), or else as the WebSocket viewers get
them (``send_audio``: one ``audio_chunk`` message, whose header the tap reads); either
way the tap calls ``on_packet`` with a ``Packet`` (its ``timestamp_us`` on the frames'
clock). ``on_packet`` must not block: it runs on the event loop.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import protocol
from .session.audio import Packet

if TYPE_CHECKING:
    from .stream import Stream

__all__ = ["AudioTap"]

log = logging.getLogger("rfb")

_ids = itertools.count(1)


class AudioTap:
    """``open()`` / ``close()`` on the event loop. Figures: ``packets``, ``bytes``."""

    def __init__(self, stream: Stream, kind: str, on_packet: Callable[[Packet], None]) -> None:
        self._stream = stream
        self.id = f"{kind}-audio-{next(_ids)}"
        self._on_packet = on_packet
        self.packets = 0
        self.bytes = 0
        self.open_ = False

    def open(self) -> None:
        if not self.open_:
            self.open_ = True
            self._stream.audio.open(self.id, self, frozenset({protocol.FEATURE_AUDIO}))

    def close(self) -> None:
        if self.open_:
            self.open_ = False
            self._stream.audio.close(self.id)

    # -- the link audio.py hands its messages to (on the event loop) -----------------------

    def send_audio_packet(self, packet: Packet) -> None:
        if not self.open_:
            return
        self.packets += 1
        self.bytes += len(packet.data)
        self._on_packet(packet)

    def send_audio(self, message: bytes) -> None:
        if not self.open_:
            return
        try:
            header, data = protocol.unpack_envelope(message)
            packet = Packet(int(header["seq"]), int(header["timestamp_us"]),
                            int(header["channels"]), bytes(data),
                            int(header.get("duration_us", 20_000)))  # fmt: skip
        except Exception:  # never: audio.py packs these; but a tap must not break the loop
            log.exception("rfb: an audio packet the %s could not read", self.id)
            return
        self.send_audio_packet(packet)

    def audio_figures(self) -> tuple[int, int]:
        return self.packets, 0
