"""The stream's H.264 as plain RTP to one receiver: ``display.relay_rtp("rtp://host:port")``.

A relay is a consumer of the stream's H.264, not a second pipeline: like a recording it
joins the hub as a viewer that is never short of credit, so it takes the access units
the viewers get (no second encode) from the top rung, or from a lower rung of the
adaptive ladder (``rung=``). They leave as RFC 6184 packets (``rtp/h264.py``)
from a UDP socket of their own, for a media server that fans them out (Janus's Streaming
plugin: docs/guides/deployment.md) or any RTP consumer (ffmpeg, GStreamer, MediaMTX; ``sdp()``
describes the stream for them).

* RTCP: a sender report each second, to the receiver's RTCP port (``port + 1`` unless
  told), from a second socket, where the receiver's feedback comes back: a PLI or FIR
  asks the group for a keyframe (under the group's own limit on forced keyframes), and
  the group's periodic keyframes let a receiver that joins late start within one
  keyframe interval.
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
    from .stream import Stream, ViewerSession

__all__ = ["RtpRelay", "parse_rtp_url"]

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


class RtpRelay:
    """One stream's H.264 being sent as RTP to ``url``. From ``display.relay_rtp()``.

    ``await relay.stop()`` (or ``aclose()``, or leaving ``async with``) ends it;
    ``relay.close()`` does so from another thread. Closing the display ends its relays.
    Figures: ``units_sent``, ``packets_sent``, ``units_dropped``, ``keyframe_requests``
    (PLI/FIR received), ``receiver_seen`` (RTCP came back), ``loss`` (what its
    receiver reports say).
    """

    def __init__(
        self,
        stream: Stream,
        url: str,
        *,
        rung: int = 0,
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
        if stream.closed:
            raise RuntimeError(f"relay_rtp() on a closed stream ({stream.name!r})")
        if stream.loop is None:
            raise RuntimeError(
                f"relay_rtp() before stream {stream.name!r} is served: start its server first"
            )
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
            if self.audio_port in (self.port, self.rtcp_port):
                raise ValueError(
                    f"audio_port {self.audio_port} is the video's (RTP {self.port},"
                    f" RTCP {self.rtcp_port}): give the sound a port of its own"
                )
        self._stream = stream
        self.rung = min(rung, len(stream.hub.ladder(protocol.CAP_H264)) - 1)
        self.packetizer = rtp_h264.H264Packetizer(
            random.getrandbits(32) if ssrc is None else ssrc, pt, mtu, random.getrandbits(16)
        )
        self._rtp_base = random.getrandbits(32)
        self._last_rtp: int | None = None
        family, addr = _resolve(self.host, self.port)
        self._rtp = _udp(family, addr)
        self._rtcp = _udp(family, (addr[0], self.rtcp_port, *addr[2:]))
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
            if self.audio_packetizer.ssrc == self.packetizer.ssrc:
                self._close_sockets()
                raise ValueError("audio_ssrc must differ from the video's ssrc")
            self._audio_sockets = (
                _udp(family, (addr[0], self.audio_port, *addr[2:])),
                _udp(family, (addr[0], self.audio_rtcp_port, *addr[2:])),
            )
        self.units_sent = 0
        self.packets_sent = 0
        self.units_dropped = 0
        self.keyframe_requests = 0
        self.receiver_seen = False
        self.loss: float | None = None
        self._refused = False  # said so in the log; said again when it answers
        self._viewer: Viewer | None = None
        self._session: ViewerSession | None = None
        self._report: asyncio.TimerHandle | None = None
        self._stopped = False
        try:
            stream.call_on_loop(self._attach)
        except BaseException:
            self._close_sockets()
            raise

    # -- on the event loop ----------------------------------------------------------------

    def _attach(self) -> None:
        stream = self._stream
        if stream.closed:
            raise RuntimeError(f"relay_rtp() on a closed stream ({stream.name!r})")
        loop = asyncio.get_running_loop()
        for sock in (self._rtp, self._rtcp):
            loop.add_reader(sock.fileno(), self._on_readable, sock)
        self._session = stream.open_viewer(
            LinkKind.RELAY, ConsumerLink(LinkKind.RELAY, stream.hub, self._take), None,
            max_inflight=8, rung=self.rung,
            takes_stills=self.rung == 0,  # a still is full size: only where the rung is
        )  # fmt: skip
        self._viewer = self._session.viewer
        stream.relays.add(self)
        if self._audio_sockets is not None:
            from .audio_tap import AudioTap

            loop.add_reader(self._audio_sockets[1].fileno(), self._drain, self._audio_sockets[1])
            self._audio_tap = AudioTap(stream, "relay", self._take_audio)
            self._audio_tap.open()
        self._send_report()
        log.info("rfb: relaying stream %r as RTP to %s:%d (RTCP %d)", stream.name, self.host,
                 self.port, self.rtcp_port)  # fmt: skip

    def _take(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
        if self._stopped:
            return
        rtp = self._rtp_time(unit.timestamp_us)
        if self._last_rtp is not None and rtp == self._last_rtp:
            rtp = (rtp + 1) % 2**32  # a re-made IDR of the same frame: a new timestamp
        self._last_rtp = rtp
        packets = self.packetizer.packetize(unit.data, rtp)
        for i, packet in enumerate(packets):
            if not self._send(self._rtp, packet):
                self.units_dropped += 1
                if i:  # the receiver has part of a frame: it needs a keyframe to go on
                    self._ask_keyframe()
                return
        self.units_sent += 1
        self.packets_sent += len(packets)

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
        fb = rtp_h264.feedback(data, self.packetizer.ssrc)
        if not (fb.keyframe or fb.report):
            return
        if not self.receiver_seen or self._refused:
            log.info("rfb: RTP relay to %s:%d: the receiver answers", self.host, self.port)
        self.receiver_seen, self._refused = True, False
        if fb.loss is not None:
            self.loss = fb.loss
        if fb.keyframe:
            self.keyframe_requests += 1
            self._ask_keyframe()

    def _ask_keyframe(self) -> None:
        if self._viewer is None:
            return
        group = self._stream.hub.group_of(self._viewer.id)
        if group is not None:
            group.request_keyframe(self._stream.clock())

    def _send_report(self) -> None:
        if self._stopped:
            return
        p = self.packetizer
        now_us, wall = self._stream.now_us(), time.time()
        rtp = self._rtp_time(now_us)
        self._send(self._rtcp, rtp_h264.sender_report(p.ssrc, wall, rtp, p.packets,
                                                      p.octets))  # fmt: skip
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
        """An SDP file for a receiver of this relay at its address (or ``host``)."""
        sdp = rtp_h264.sdp(host or self.host, self.port, self.packetizer.pt,
                           name=f"rfb {self._stream.name}")  # fmt: skip
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
        for sock in (self._rtp, self._rtcp):
            loop.remove_reader(sock.fileno())
        if self._audio_tap is not None:
            self._audio_tap.close()
        if self._audio_sockets is not None:
            loop.remove_reader(self._audio_sockets[1].fileno())
        closing = self._session.close() if self._session is not None else []
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
        for sock in (self._rtp, self._rtcp, *(self._audio_sockets or ())):
            sock.close()

    def metrics(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "rung": self.rung,
            "units_sent": self.units_sent,
            "packets_sent": self.packets_sent,
            "units_dropped": self.units_dropped,
            "keyframe_requests": self.keyframe_requests,
            "receiver_seen": self.receiver_seen,
            "loss": self.loss,
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
        return f"<rfb.RtpRelay {self.url} {state}, {self.units_sent} units>"


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
