"""The video track of a WebRTC viewer: it yields the group's pre-encoded units as
av.Packets, which aiortc packetises into RTP without encoding anything."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


def packet_track_class() -> Any:
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class PacketTrack(MediaStreamTrack):
        """Yields pre-encoded av.Packets; aiortc packetises them without encoding."""

        kind = "video"

        def __init__(self, on_taken: Any) -> None:
            super().__init__()
            self._queue: deque[tuple[int, Any]] = deque()
            self.queued_bytes = 0  # waiting for the RTP sender (behind the pacer)
            self._ready = asyncio.Event()
            self._on_taken = on_taken

        def push(self, seq: int, packet: Any) -> None:
            self._queue.append((seq, packet))
            self.queued_bytes += packet.size
            self._ready.set()

        async def recv(self) -> Any:
            while not self._queue:
                if self.readyState != "live":
                    raise MediaStreamError
                self._ready.clear()
                await self._ready.wait()
            seq, packet = self._queue.popleft()
            self.queued_bytes -= packet.size
            self._on_taken(seq, packet.pts)
            return packet

        def stop(self) -> None:
            super().stop()
            self._ready.set()

    return PacketTrack
