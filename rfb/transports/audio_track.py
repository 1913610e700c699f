"""The program's sound over WebRTC: the stream's Opus packets (rfb/audio.py, encoded once
for every viewer) on an aiortc audio track, which only packetises them into RTP.

Lip sync. A browser lines up an audio and a video track of one MediaStream (the same msid
stream id and RTCP CNAME, which aiortc gives every sender of a peer connection) with each
track's RTCP sender reports: each maps an RTP timestamp to an NTP instant. Both tracks'
RTP timestamps follow the stream's clock, the ``timestamp_us`` of frames and audio packets
(video: timestamp_us * 90000 / 1e6, WebRtcViewer.send_unit; audio: timestamp_us * 48000 /
1e6, here), plus the random origin aiortc adds per sender. aiortc's own reports pair
the last packet's RTP timestamp with the instant it was sent, which puts each track's
sending delay (20 ms of framing for sound; encode and pacing for pictures) into the
mapping. rfb rewrites each report to pair *now* on the stream's clock with *now* in NTP
(``sender_report_rtp``; aiortc_compat.sync_sender_reports), so both tracks map to one
clock and a sound published with a frame plays with it.

The timestamp mapping is sans I/O (``AudioRtpClock``, ``sender_report_rtp``); the track
and the link are thin shells around it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from fractions import Fraction
from typing import Any

AUDIO_RTP_CLOCK = 48_000  # Opus's RTP clock, whatever the sample rate
FRAME_TICKS = 960  # 20 ms at 48 kHz
MAX_QUEUED = 5  # packets (100 ms) waiting for aiortc's RTP loop; older ones are dropped


def rtp_ticks(timestamp_us: int, clock_rate: int) -> int:
    """A stream-clock instant as RTP ticks (no origin, not wrapped)."""
    return timestamp_us * clock_rate // 1_000_000


class AudioRtpClock:
    """The RTP timestamps (before aiortc's origin) of one viewer's audio packets: the
    packet's ``timestamp_us`` at 48 kHz, so the track follows the same clock as the video.
    Never backwards: where the stream's timeline started again earlier (a producer's
    stall cut its waiting sound), packets continue 20 ms apart until the clock passes
    them again (counted in ``held``)."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.held = 0

    def stamp(self, timestamp_us: int, duration_us: int = 20_000) -> int:
        rtp = rtp_ticks(timestamp_us, AUDIO_RTP_CLOCK)
        if self.last is not None and rtp <= self.last:
            rtp = self.last + rtp_ticks(duration_us, AUDIO_RTP_CLOCK)
            self.held += 1
        self.last = rtp
        return rtp


def wire_origin(wire_rtp: int, our_rtp: int) -> int:
    """aiortc's random origin: what it adds to our timestamps on the wire (mod 2**32)."""
    return (wire_rtp - our_rtp) % 2**32


def sender_report_rtp(origin: int, now_us: int, clock_rate: int) -> int:
    """The RTP timestamp (on the wire) of *now* on the stream's clock: what an RTCP sender
    report pairs with the NTP time now, so that every track maps to the stream's clock."""
    return (origin + rtp_ticks(now_us, clock_rate)) % 2**32


def audio_track_class() -> Any:
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class AudioPacketTrack(MediaStreamTrack):
        """Yields the stream's pre-encoded Opus packets as av.Packets (pts in 48 kHz
        ticks); aiortc packetises them without encoding."""

        kind = "audio"

        def __init__(self, on_taken: Any = None) -> None:
            super().__init__()
            import av

            self._av = av
            self._queue: deque[Any] = deque()
            self._ready = asyncio.Event()
            self._on_taken = on_taken
            self.dropped = 0  # the RTP loop fell behind: oldest packets dropped
            self.sent = 0

        def push(self, rtp: int, data: bytes) -> None:
            packet = self._av.Packet(data)
            packet.pts = rtp
            packet.time_base = Fraction(1, AUDIO_RTP_CLOCK)
            self._queue.append(packet)
            while len(self._queue) > MAX_QUEUED:  # late sound is worse than none
                self._queue.popleft()
                self.dropped += 1
            self._ready.set()

        async def recv(self) -> Any:
            if self._on_taken is not None:
                self._on_taken()  # the previous packet is on the wire now
            while not self._queue:
                if self.readyState != "live":
                    raise MediaStreamError
                self._ready.clear()
                await self._ready.wait()
            packet = self._queue.popleft()
            self.sent += 1
            self._last_pts = packet.pts
            return packet

        def stop(self) -> None:
            super().stop()
            self._ready.set()

    return AudioPacketTrack


class WebRtcAudioLink:
    """A WebRTC viewer's audio link (rfb/audio.py's AudioLink, packet flavour): the
    stream's Opus packets onto its audio track, stamped on the stream's clock."""

    def __init__(self) -> None:
        self.track = audio_track_class()(self._taken)
        self.sender: Any = None  # the RTCRtpSender that packetises the track
        self.clock = AudioRtpClock()
        self.origin: int | None = None  # aiortc's random origin, once learnt
        self.red: Any = None  # audio_red.RedPacker, where RED was negotiated
        self.loss: Any = None  # audio_red.LossWatch: the browser's receiver reports

    def send_audio_packet(self, packet: Any) -> None:
        """One encoded block (session/audio.py's Packet), the same bytes every viewer gets."""
        if self.track.readyState != "live":
            return
        self.track.push(self.clock.stamp(packet.timestamp_us, packet.duration_us), packet.data)

    def send_audio(self, message: bytes) -> None:  # the WebSocket flavour: not used here
        pass

    def audio_figures(self) -> tuple[int, int]:
        return self.track.sent, self.track.dropped

    def audio_lossy(self) -> bool:
        """The browser reports loss: the stream's audio turns in-band FEC on for this
        listener's tier (session/audio.py's TierPlan)."""
        return bool(self.loss is not None and self.loss.lossy)

    def _taken(self) -> None:
        # aiortc asks for the next packet only after sending the previous one, whose wire
        # timestamp it then holds: origin = wire - ours.
        from . import aiortc_compat

        last = getattr(self.track, "_last_pts", None)
        if self.origin is None and last is not None and self.sender is not None:
            wire = aiortc_compat.wire_rtp_timestamp(self.sender)
            if isinstance(wire, int) and wire:
                self.origin = wire_origin(wire, last)

    def report_rtp(self, now_us: int) -> int | None:
        """For the sender report: the wire RTP timestamp of now (None until known)."""
        if self.origin is None:
            return None
        return sender_report_rtp(self.origin, now_us, AUDIO_RTP_CLOCK)

    def use_red(self, transceiver: Any, offer_sdp: str, clock: Any) -> bool:
        """Loss protection: the browser's receiver reports watched (a lossy path turns on
        in-band FEC for this listener's tier), and RED (audio_red.py) where the offer has
        ``audio/red`` over Opus: answered, and sent while the reports say lossy. Call
        between setRemoteDescription and createAnswer. True: RED was answered."""
        from . import aiortc_compat
        from .audio_red import LossWatch, RedPacker

        if self.sender is None:
            return False
        watch = self.loss = LossWatch()

        def on_feedback(fb: Any) -> None:
            if fb.packets_lost is not None and fb.highest_sequence is not None:
                watch.on_report(clock(), fb.packets_lost, fb.highest_sequence)

        aiortc_compat.hook_rtcp(self.sender, on_feedback)
        red_pt = aiortc_compat.adopt_audio_red(transceiver, offer_sdp)
        if red_pt is None:
            return False
        self.red = RedPacker(red_pt, self.sender._ssrc, watch)
        aiortc_compat.install_audio_red(self.sender, self.red)
        return True

    def stop(self) -> None:
        self.track.stop()


def offered_audio(offer_sdp: str) -> str | None:
    """The direction of the offer's first audio section (None: no audio offered, or
    rejected with port 0)."""
    from aiortc.sdp import SessionDescription

    try:
        media = [m for m in SessionDescription.parse(offer_sdp).media if m.kind == "audio"]
    except Exception:
        return None
    if not media or media[0].port == 0:
        return None
    return media[0].direction or "sendrecv"
