"""The stream's H.264 as plain RTP to one receiver: ``display.relay_rtp("rtp://host:port")``,
one rung or several as RTP simulcast.

A relay is a consumer of the stream's H.264, not a second pipeline: like a recording it
joins the hub as a viewer that is never short of credit, so it takes the access units
the viewers get (no second encode) from the top rung, from a lower rung of the
adaptive ladder (``rung=``), or from several (``rungs=``). They leave as RFC 6184
packets (``rtp/h264.py``) from UDP sockets of their own, for a media server that fans
them out (Janus's Streaming plugin: docs/guides/deployment.md) or any RTP consumer
(ffmpeg, GStreamer, MediaMTX; ``sdp()`` describes the stream for them).

* RTCP: a sender report each second, to the receiver's RTCP port (``port + 1`` unless
  told), from a second socket, where the receiver's feedback comes back: a PLI or FIR
  asks the group for a keyframe (under the group's own limit on forced keyframes), and
  the group's periodic keyframes let a receiver that joins late start within one
  keyframe interval.
* Simulcast (``rungs=(0, 2, 4)`` or ``simulcast=True``): several rungs of the ladder at
  once, each a substream with an SSRC and a port of its own, the lowest quality first
  (Janus's mountpoint with ``videosimulcast = true``: ``videoport``, ``videoport2``,
  ``videoport3``), for a media server that gives each watcher the one its path carries.
  Each substream is one more consumer of an encoder group that exists already: a rung
  that viewers use costs no encode; a rung nobody else is on is encoded for the relay
  (``metrics()``'s ``shared_with`` says which). Every substream stands alone (its own
  SPS/PPS and IDRs: the group's periodic keyframes, and one on request); Janus names
  only the first substream's SSRC in the PLI it sends when a watcher switches, so a
  request for that SSRC brings a keyframe on every substream (``keyframes_asked``).
* A receiver that is not there (nothing listens, it restarts) costs nothing but a line
  in the log, once, and another when it answers again: UDP needs no connection, and the
  next keyframe gives it a picture.
* Sound (opt-in, ``audio_port=``): the stream's Opus packets (the very packets the
  viewers get: no second encode) as RFC 7587 RTP to ``audio_port``, with an SSRC of their
  own and a 48 kHz RTP clock, their timestamps from the same stream clock as the
  video's, and a sender report for each track on the same wall clock, so that a receiver
  lines them up (lip sync).
* It never slows the viewers: sending is a non-blocking ``send`` per packet; a unit that
  finds the socket's buffer full is dropped whole, counted, and a keyframe asked for.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import protocol
from .hub import ConsumerLink
from .rtp import h264 as rtp_h264
from .rtp import opus as rtp_opus
from .session import EncodedUnit, Viewer
from .session.links import LinkKind

if TYPE_CHECKING:
    from .audio_tap import AudioTap
    from .session.audio import Packet
    from .session.ladder import Ladder
    from .stream import Stream, ViewerSession

__all__ = ["RtpRelay", "Substream", "keyframes_asked", "parse_rtp_url", "simulcast_rungs",
           "substream_rungs"]

log = logging.getLogger("rfb")

SENDER_REPORT_S = 1.0


def parse_rtp_url(url: str) -> tuple[str, int]:
    """(host, port) of ``rtp://host:port``, or a ValueError that shows the form."""
    form = "rtp://HOST:PORT (for example rtp://127.0.0.1:5004)"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "rtp" or not parts.hostname:
        raise ValueError(f"relay_rtp() takes {form}, got {url!r}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or not 0 < port < 65536:
        raise ValueError(f"relay_rtp() takes {form} with a port 1..65535, got {url!r}")
    return parts.hostname, port


def simulcast_rungs(ladder: Ladder, count: int = 3) -> tuple[int, ...]:
    """The rungs ``simulcast=True`` sends, top (0) first: the top, the lowest rung that
    keeps the top's frame rate (a watcher on a poor link still sees motion), and
    ``count - 2`` spread evenly between them. The ladder's bitrates fall geometrically,
    so evenly by index is evenly by log bitrate. ``count`` 3 is what Janus takes."""
    if count < 1:
        raise ValueError(f"simulcast needs at least one rung, got {count}")
    top_fps = ladder[0].fps
    floor = max(i for i, r in enumerate(ladder.rungs) if r.fps >= top_fps)
    if count == 1 or floor == 0:
        return (0,)
    return tuple(sorted({round(floor * k / (count - 1)) for k in range(count)}))


def substream_rungs(rungs: Sequence[int], ladder_size: int) -> tuple[int, ...]:
    """The rungs as substreams: each held to the ladder (its last rung, where there are
    fewer), the same rung once, the lowest quality first (Janus's substream 0)."""
    if not rungs:
        raise ValueError("rungs= names at least one rung (0 is the top)")
    for r in rungs:
        if r < 0:
            raise ValueError(f"rungs are 0 (the top) or more, got {r}")
    return tuple(sorted({min(r, ladder_size - 1) for r in rungs}, reverse=True))


@dataclass(eq=False)
class Substream:
    """One rung the relay sends: its own SSRC and sequence numbers (``packetizer``) to
    its own port, from the consumer that takes its group's units. ``index`` 0 is the
    lowest quality (Janus's substream 0, its mountpoint's ``videoport``)."""

    index: int
    rung: int
    port: int
    packetizer: rtp_h264.H264Packetizer
    units_sent: int = 0
    packets_sent: int = 0
    units_dropped: int = 0
    loss: float | None = None  # what the receiver's reports say of this SSRC
    last_rtp: int | None = None
    viewer: Viewer | None = None
    session: ViewerSession | None = None

    @property
    def ssrc(self) -> int:
        return self.packetizer.ssrc


class RtpRelay:
    """One stream's H.264 being sent as RTP to ``url``. From ``display.relay_rtp()``.

    One rung (``rung=``, the default: the top) or several as RTP simulcast (``rungs=``
    or ``simulcast=True``): then each rung is a ``Substream`` with an SSRC of its own,
    sent to a port of its own (``ports``, the lowest quality first: Janus's
    ``videoport``, ``videoport2``, ``videoport3``; the same port for all suits a
    receiver that tells them apart by SSRC, such as a mediasoup PlainTransport).

    ``await relay.stop()`` (or ``aclose()``, or leaving ``async with``) ends it;
    ``relay.close()`` does so from another thread. Closing the display ends its relays.
    Figures: ``units_sent``, ``packets_sent``, ``units_dropped`` (all substreams),
    ``keyframe_requests`` (PLI/FIR received), ``receiver_seen`` (RTCP came back),
    ``loss`` (the worst its receiver reports say); per substream in ``metrics()``.
    """

    def __init__(
        self,
        stream: Stream,
        url: str,
        *,
        rung: int = 0,
        rungs: Sequence[int] | None = None,
        simulcast: bool = False,
        ports: Sequence[int] | None = None,
        pt: int = rtp_h264.DEFAULT_PT,
        mtu: int = rtp_h264.DEFAULT_MTU,
        rtcp_port: int | None = None,
        ssrc: int | None = None,
        audio_port: int | None = None,
        audio_pt: int = rtp_opus.DEFAULT_PT,
        audio_rtcp_port: int | None = None,
        audio_ssrc: int | None = None,
    ) -> None:
        from .encoders.x264 import load_av

        load_av()  # the stream must be able to encode H.264 (names the h264 extra)
        self.url = url
        self.host, self.port = parse_rtp_url(url)
        self.rtcp_port = self.port + 1 if rtcp_port is None else int(rtcp_port)
        if not 0 < self.rtcp_port < 65536:
            raise ValueError(f"rtcp_port must be 1..65535, got {rtcp_port}")
        if rung < 0:
            raise ValueError(f"rung is 0 (the top) or more, got {rung}")
        if (rungs is not None or simulcast) and rung != 0:
            raise ValueError("relay_rtp() takes rung= (one rung) or rungs=/simulcast= "
                             "(several), not both")  # fmt: skip
        if rungs is not None and simulcast:
            raise ValueError("relay_rtp() takes rungs= or simulcast=True, not both")
        if stream.closed:
            raise RuntimeError(f"relay_rtp() on a closed stream ({stream.name!r})")
        if stream.loop is None:
            raise RuntimeError(
                f"relay_rtp() before stream {stream.name!r} is served: start its server first"
            )
        ladder = stream.hub.ladder(protocol.CAP_H264)
        if simulcast:
            rungs = simulcast_rungs(ladder)
        wanted = (rung,) if rungs is None else tuple(int(r) for r in rungs)
        order = substream_rungs(wanted, len(ladder))
        if len(order) < len(wanted):
            log.warning("rfb: relay_rtp(rungs=%s): the ladder has %d rungs, so %d substreams "
                        "(rungs %s)", wanted, len(ladder), len(order), order)  # fmt: skip
        if ports is None:
            port_list = [self.port + 2 * i for i in range(len(order))]  # RTCP keeps port + 1
        else:
            port_list = [int(p) for p in ports]
            if len(port_list) != len(wanted):
                raise ValueError(f"ports= gives one port per rung ({len(wanted)}), got "
                                 f"{len(port_list)}")  # fmt: skip
            if port_list[0] != self.port:
                raise ValueError(f"ports= starts with the URL's port ({self.port}), the lowest "
                                 f"quality's; got {port_list[0]}")  # fmt: skip
            port_list = port_list[: len(order)]
        for p in port_list:
            if not 0 < p < 65536:
                raise ValueError(f"ports must be 1..65535, got {p}")
        self.audio_port = self.audio_rtcp_port = None
        if audio_port is not None:
            from .encoders import EncoderUnavailable, opus

            if (why := opus.unavailable_reason()) is not None:
                raise EncoderUnavailable(why)
            self.audio_port = int(audio_port)
            rtcp = self.audio_port + 1 if audio_rtcp_port is None else int(audio_rtcp_port)
            self.audio_rtcp_port = rtcp
            for name, value in (("audio_port", self.audio_port), ("audio_rtcp_port", rtcp)):
                if not 0 < value < 65536:
                    raise ValueError(f"{name} must be 1..65535, got {value}")
            if self.audio_port in (*port_list, self.rtcp_port):
                raise ValueError(
                    f"audio_port {self.audio_port} is the video's (RTP {port_list},"
                    f" RTCP {self.rtcp_port}): give the sound a port of its own"
                )
        self._stream = stream
        first_ssrc = random.getrandbits(32) if ssrc is None else ssrc
        self.substreams = [
            Substream(i, r, p, rtp_h264.H264Packetizer((first_ssrc + i) & 0xFFFFFFFF, pt, mtu,
                                                       random.getrandbits(16)))
            for i, (r, p) in enumerate(zip(order, port_list, strict=True))
        ]  # fmt: skip
        self._rtp_base = random.getrandbits(32)  # one clock for every substream
        family, addr = _resolve(self.host, self.port)
        # One socket per receiving port: substreams to the same port share it, and so
        # does RTCP where it goes to an RTP port (rtcp-mux), so a receiver that latches
        # onto its sender's address (comedia) sees one address.
        self._sockets: dict[int, socket.socket] = {}
        try:
            for p in (*port_list, self.rtcp_port):
                if p not in self._sockets:
                    self._sockets[p] = _udp(family, (addr[0], p, *addr[2:]))
        except BaseException:
            self._close_sockets()
            raise
        self.audio_packetizer: rtp_opus.OpusPacketizer | None = None
        self._audio_sockets: tuple[socket.socket, socket.socket] | None = None
        self._audio_tap: AudioTap | None = None
        self._audio_base = random.getrandbits(32)
        self.audio_packets_sent = 0
        self.audio_packets_dropped = 0
        if self.audio_port is not None:
            assert self.audio_rtcp_port is not None
            self.audio_packetizer = rtp_opus.OpusPacketizer(
                random.getrandbits(32) if audio_ssrc is None else audio_ssrc, audio_pt,
                random.getrandbits(16))  # fmt: skip
            if self.audio_packetizer.ssrc in self.ssrcs:
                self._close_sockets()
                raise ValueError("audio_ssrc must differ from the video's ssrc")
            self._audio_sockets = (
                _udp(family, (addr[0], self.audio_port, *addr[2:])),
                _udp(family, (addr[0], self.audio_rtcp_port, *addr[2:])),
            )
        self.keyframe_requests = 0
        self.receiver_seen = False
        self._refused = False  # said so in the log; said again when it answers
        self._report: asyncio.TimerHandle | None = None
        self._stopped = False
        try:
            stream.call_on_loop(self._attach)
        except BaseException:
            self._close_sockets()
            raise

    # -- what it sends ---------------------------------------------------------------------

    @property
    def top(self) -> Substream:
        """The highest-quality substream (the only one of a one-rung relay)."""
        return self.substreams[-1]

    @property
    def rung(self) -> int:
        """The top rung it sends (a one-rung relay's rung)."""
        return self.top.rung

    @property
    def rungs(self) -> tuple[int, ...]:
        """The rungs it sends, one per substream, the lowest quality first."""
        return tuple(s.rung for s in self.substreams)

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(s.port for s in self.substreams)

    @property
    def ssrcs(self) -> tuple[int, ...]:
        return tuple(s.ssrc for s in self.substreams)

    @property
    def packetizer(self) -> rtp_h264.H264Packetizer:
        return self.top.packetizer

    @property
    def simulcast(self) -> bool:
        return len(self.substreams) > 1

    @property
    def units_sent(self) -> int:
        return sum(s.units_sent for s in self.substreams)

    @property
    def packets_sent(self) -> int:
        return sum(s.packets_sent for s in self.substreams)

    @property
    def units_dropped(self) -> int:
        return sum(s.units_dropped for s in self.substreams)

    @property
    def loss(self) -> float | None:
        known = [s.loss for s in self.substreams if s.loss is not None]
        return max(known) if known else None

    # -- on the event loop ----------------------------------------------------------------

    def _attach(self) -> None:
        stream = self._stream
        if stream.closed:
            raise RuntimeError(f"relay_rtp() on a closed stream ({stream.name!r})")
        loop = asyncio.get_running_loop()
        for sock in self._sockets.values():
            loop.add_reader(sock.fileno(), self._on_readable, sock)
        alone = []
        try:
            for sub in self.substreams:
                link = ConsumerLink(LinkKind.RELAY, stream.hub, self._taker(sub))
                sub.session = stream.open_viewer(
                    LinkKind.RELAY, link, None, max_inflight=8, rung=sub.rung,
                    takes_stills=sub.rung == 0,  # a still is full size: only where the rung is
                )  # fmt: skip
                sub.viewer = sub.session.viewer
                if self._sharing(sub) == 0:
                    alone.append(sub.rung)
        except BaseException:  # none of it, then: the substreams opened so far go too
            for sock in self._sockets.values():
                loop.remove_reader(sock.fileno())
            for sub in self.substreams:
                if sub.session is not None:
                    sub.session.close()  # its groups close in tasks of their own
            raise
        stream.relays.add(self)
        if self._audio_sockets is not None:
            from .audio_tap import AudioTap

            loop.add_reader(self._audio_sockets[1].fileno(), self._drain, self._audio_sockets[1])
            self._audio_tap = AudioTap(stream, "relay", self._take_audio)
            self._audio_tap.open()
        self._send_report()
        if self.simulcast:
            log.info("rfb: relaying stream %r as RTP simulcast to %s: %s (RTCP %d); encoded "
                     "for the relay alone, for now: %s", stream.name, self.host,
                     ", ".join(f"rung {s.rung} -> {s.port} ssrc {s.ssrc}"
                               for s in self.substreams), self.rtcp_port,
                     ", ".join(f"rung {r}" for r in alone) or "none")  # fmt: skip
        else:
            log.info("rfb: relaying stream %r as RTP to %s:%d (RTCP %d)", stream.name,
                     self.host, self.port, self.rtcp_port)  # fmt: skip

    def _sharing(self, sub: Substream) -> int:
        """How many others (viewers, recordings, relays) take this substream's encode."""
        if sub.viewer is None:
            return 0
        group = self._stream.hub.group_of(sub.viewer.id)
        return 0 if group is None else max(0, len(group.viewers) - 1)

    def _taker(self, sub: Substream) -> Callable[[Viewer, int, EncodedUnit], None]:
        def take(viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
            self._take(sub, unit)

        return take

    def _take(self, sub: Substream, unit: EncodedUnit) -> None:
        if self._stopped:
            return
        rtp = self._rtp_time(unit.timestamp_us)
        if sub.last_rtp is not None and rtp == sub.last_rtp:
            rtp = (rtp + 1) % 2**32  # a re-made IDR of the same frame: a new timestamp
        sub.last_rtp = rtp
        packets = sub.packetizer.packetize(unit.data, rtp)
        sock = self._sockets[sub.port]
        for i, packet in enumerate(packets):
            if not self._send(sock, packet):
                sub.units_dropped += 1
                if i:  # the receiver has part of a frame: it needs a keyframe to go on
                    self._ask_keyframe(sub)
                return
        sub.units_sent += 1
        sub.packets_sent += len(packets)

    def _take_audio(self, packet: Packet) -> None:
        """One Opus packet of the stream's sound (on the loop): one RTP packet, its
        timestamp from the packet's time on the frames' clock."""
        if self._stopped or self._audio_sockets is None or self.audio_packetizer is None:
            return
        rtp = self._audio_rtp_time(packet.timestamp_us)
        if self._send(self._audio_sockets[0], self.audio_packetizer.packetize(packet.data, rtp)):
            self.audio_packets_sent += 1
        else:
            self.audio_packets_dropped += 1

    def _audio_rtp_time(self, timestamp_us: int) -> int:
        """The sound's RTP timestamp (48 kHz, from a random origin) of a stream time."""
        return (self._audio_base + timestamp_us * rtp_opus.RTP_CLOCK // 1_000_000) % 2**32

    def _drain(self, sock: socket.socket) -> None:
        """The sound's RTCP port: receiver reports come back; nothing to act on."""
        while True:
            try:
                sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error for an earlier packet, or the socket closed
                return

    def _send(self, sock: socket.socket, data: bytes) -> bool:
        try:
            sock.send(data)
            return True
        except (BlockingIOError, InterruptedError):
            return False  # the socket's buffer is full: this unit is lost, not the stream
        except ConnectionRefusedError:  # an ICMP "port unreachable" for an earlier packet
            self._unreachable()
            return True
        except OSError as exc:
            if not self._refused:
                self._refused = True
                log.warning("rfb: RTP relay to %s:%d cannot send: %s; still trying",
                            self.host, self.port, exc)  # fmt: skip
            return False

    def _on_readable(self, sock: socket.socket) -> None:
        """RTCP from the receiver: on the RTCP port, or on an RTP port (rtcp-mux)."""
        while True:
            try:
                data = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionRefusedError:  # an ICMP error for an earlier packet
                self._unreachable()
                continue
            except OSError:
                return
            self._on_rtcp(data)

    def _unreachable(self) -> None:
        if not self._refused:
            self._refused = True
            log.warning("rfb: RTP relay to %s:%d: nothing is listening there (ICMP port "
                        "unreachable); still sending, it will get the next keyframe when "
                        "it is back", self.host, self.port)  # fmt: skip

    def _on_rtcp(self, data: bytes) -> None:
        said = [(sub, rtp_h264.feedback(data, sub.ssrc)) for sub in self.substreams]
        if not any(fb.keyframe or fb.report for _, fb in said):
            return
        if not self.receiver_seen or self._refused:
            log.info("rfb: RTP relay to %s:%d: the receiver answers", self.host, self.port)
        self.receiver_seen, self._refused = True, False
        for sub, fb in said:
            if fb.loss is not None:
                sub.loss = fb.loss
        asked = keyframes_asked([sub.index for sub, fb in said if fb.keyframe],
                                len(self.substreams))  # fmt: skip
        if asked:
            self.keyframe_requests += 1
            for i in asked:
                self._ask_keyframe(self.substreams[i])

    def _ask_keyframe(self, sub: Substream) -> None:
        if sub.viewer is None:
            return
        group = self._stream.hub.group_of(sub.viewer.id)
        if group is not None:
            group.request_keyframe(self._stream.clock())

    def _send_report(self) -> None:
        if self._stopped:
            return
        now_us, wall = self._stream.now_us(), time.time()
        rtp = self._rtp_time(now_us)
        rtcp = self._sockets[self.rtcp_port]
        for sub in self.substreams:  # one report per SSRC, all on the one RTCP port
            p = sub.packetizer
            self._send(rtcp, rtp_h264.sender_report(p.ssrc, wall, rtp, p.packets, p.octets))
        a = self.audio_packetizer
        if a is not None and self._audio_sockets is not None and a.packets:
            # The same instant on the sound's clock: the receiver maps both tracks to it.
            self._send(self._audio_sockets[1], rtp_h264.sender_report(
                a.ssrc, wall, self._audio_rtp_time(now_us), a.packets, a.octets))  # fmt: skip
        loop = asyncio.get_running_loop()
        self._report = loop.call_later(SENDER_REPORT_S, self._send_report)

    def _rtp_time(self, timestamp_us: int) -> int:
        """The RTP timestamp (90 kHz, from a random origin) of a stream time."""
        return (self._rtp_base + timestamp_us * rtp_h264.RTP_CLOCK // 1_000_000) % 2**32

    def sdp(self, host: str | None = None) -> str:
        """An SDP file for a receiver of this relay at its address (or ``host``): one
        ``m=video`` section per substream (its port and SSRC), the lowest quality first."""
        subs = self.substreams
        sdp = rtp_h264.sdp(host or self.host, subs[0].port, subs[0].packetizer.pt,
                           name=f"rfb {self._stream.name}",
                           ssrc=subs[0].ssrc if self.simulcast else None)  # fmt: skip
        for sub in subs[1:]:
            sdp += rtp_h264.sdp_media(sub.port, sub.packetizer.pt, ssrc=sub.ssrc)
        if self.audio_port is not None and self.audio_packetizer is not None:
            sdp += rtp_opus.sdp_media(self.audio_port, self.audio_packetizer.pt)
        return sdp

    @property
    def relaying(self) -> bool:
        return not self._stopped

    async def stop(self) -> None:
        """Stop sending (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._report is not None:
            self._report.cancel()
        loop = asyncio.get_running_loop()
        for sock in self._sockets.values():
            loop.remove_reader(sock.fileno())
        if self._audio_tap is not None:
            self._audio_tap.close()
        if self._audio_sockets is not None:
            loop.remove_reader(self._audio_sockets[1].fileno())
        closing = [c for sub in self.substreams if sub.session is not None
                   for c in sub.session.close()]  # fmt: skip
        self._stream.relays.discard(self)
        self._close_sockets()
        await asyncio.gather(*closing, return_exceptions=True)
        log.info("rfb: RTP relay to %s:%d stopped after %d units", self.host, self.port,
                 self.units_sent)  # fmt: skip

    aclose = stop

    def close(self, timeout: float = 10.0) -> None:
        """stop() for code outside the event loop."""
        loop = self._stream.loop
        if loop is None or loop.is_closed():
            self._close_sockets()
            return
        if self._stream.on_loop_thread:
            raise RuntimeError("relay.close() on the event loop's own thread: await relay.stop()")
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)

    def _close_sockets(self) -> None:
        for sock in (*self._sockets.values(), *(self._audio_sockets or ())):
            sock.close()

    def metrics(self) -> dict[str, Any]:
        w, h = self._stream.hub.routing.frame_size()
        ladder = self._stream.hub.ladder(protocol.CAP_H264)
        return {
            "url": self.url,
            "rung": self.rung,
            "rungs": list(self.rungs),
            "units_sent": self.units_sent,
            "packets_sent": self.packets_sent,
            "units_dropped": self.units_dropped,
            "keyframe_requests": self.keyframe_requests,
            "receiver_seen": self.receiver_seen,
            "loss": self.loss,
            "substreams": [
                {
                    "substream": s.index,
                    "rung": s.rung,
                    "port": s.port,
                    "ssrc": s.ssrc,
                    "size": list(ladder.coded_size(min(s.rung, len(ladder) - 1), w, h)),
                    "bitrate": ladder.bitrate(min(s.rung, len(ladder) - 1), w, h),
                    "units_sent": s.units_sent,
                    "units_dropped": s.units_dropped,
                    "loss": s.loss,
                    "shared_with": self._sharing(s),  # 0: an encode for the relay alone
                }
                for s in self.substreams
            ],
            "audio_port": self.audio_port,
            "audio_packets_sent": self.audio_packets_sent,
            "audio_packets_dropped": self.audio_packets_dropped,
        }

    async def __aenter__(self) -> RtpRelay:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "relaying" if self.relaying else "stopped"
        rungs = f" rungs {list(self.rungs)}" if self.simulcast else ""
        return f"<rfb.RtpRelay {self.url}{rungs} {state}, {self.units_sent} units>"


def keyframes_asked(named: Sequence[int], substreams: int) -> tuple[int, ...]:
    """Which substreams a keyframe request is for, from those whose SSRC it names.

    Janus's Streaming plugin always names the first substream's SSRC, whichever of them
    its watcher switches to, so with simulcast a request naming substream 0 asks all
    (a keyframe on each rung, each under its group's limit). A receiver that names the
    substream it means (mediasoup) gets that one."""
    asked = sorted(set(named))
    if substreams > 1 and 0 in asked:
        return tuple(range(substreams))
    return tuple(asked)


def _resolve(host: str, port: int) -> tuple[int, tuple[Any, ...]]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise ValueError(f"relay_rtp(): cannot resolve {host!r}: {exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    return family, addr


def _udp(family: int, addr: tuple[Any, ...]) -> socket.socket:
    """A non-blocking UDP socket connected to ``addr``: the kernel then reports "port
    unreachable" to it, and takes datagrams from that address only."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect(addr)
    return sock
