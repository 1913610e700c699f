"""Where rfb reaches inside aiortc (checked against aiortc 1.9 - 1.16). Every use of a
private aiortc name is in this module, so an aiortc upgrade is checked in one place.

* RTCP in: ``RTCRtpSender._handle_rtcp_packet`` is looked up per packet, so a wrapper
  on the instance sees every RTCP packet for this sender first: receiver reports (loss,
  jitter, round trip) and REMB, which aiortc hands only to encoders it runs itself.
* RTP out: ``RTCRtpSender`` sends every packet through ``self.transport._send_rtp``
  (the DTLS transport, which encrypts). A proxy in its place paces media packets and
  re-stamps abs-send-time when they really leave, so the browser's delay-based estimate
  does not mistake our pacing for a queue on the path. RTCP goes at once; retransmissions
  (RTX, sent from the RTCP receive loop, which must never wait) are booked in the same
  bucket and sent from a timer.
* Negotiation: aiortc answers with the codecs and header extensions it implements, from
  the transceiver's ``_codecs`` and ``_headerExtensions`` (filled by
  setRemoteDescription). rfb appends the offer's RED, ULPFEC and playout-delay there for
  its own peers only, and the paced transport writes them (rtp/ulpfec.py, rtp/header.py).
* PLI/FIR: ``_send_keyframe`` only sets a flag for aiortc's own encoders; rfb replaces
  it with the group's keyframe request.
* RTCP sender reports: ``_run_rtcp`` pairs the last packet's RTP timestamp with the NTP
  time it was sent (``__rtp_timestamp``, ``__ntp_timestamp``) and sends them through
  ``self._send_rtcp``, looked up on the instance: rfb's wrapper rewrites the pair to now
  on the stream's clock (and ``__lsr`` to match), so the audio and video tracks map to
  one clock (sync_sender_reports; transports/audio_track.py).
* aioice (checked 0.9 - 0.13): a peer connection closed while its ICE checks are ending
  can have ``connect()`` resume after ``close()`` and start consent checks that never
  stop (``close()`` has emptied the pairs they would fail on): one task leaked per such
  viewer, found by the churn test. They now end at once on a closed connection.
* ICE addresses (aioice 0.9 - 0.13, aiortc 1.9 - 1.16): aioice has no setting for where
  it gathers or whom it answers, so three of its names are wrapped once, process-wide,
  and look up the policy (ice_policy.IcePolicy) of the aioice ``Connection`` at hand in
  a WeakKeyDictionary: ``Connection.gather_candidates`` puts its connection's policy in a
  context variable while it runs, which the module function ``get_host_addresses`` (it
  takes no connection; gather_candidates calls it) reads; ``StunProtocol`` has the
  connection as ``receiver``, so its ``datagram_received`` drops datagrams from outside
  that connection's allowed networks before aioice reads them (no check is ever answered
  towards them). A peer connection's aioice connections are those of the ICE gatherers
  its ``__createDtlsTransport`` makes (``RTCIceGatherer._connection``); use_ice_policy
  wraps that method on the one instance, so each of rfb's peer connections follows its
  own server's IceConfig. Every other aioice connection follows the process default
  (apply_ice_policy).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from ..rtp import header as rtp_header
from ..rtp import ulpfec
from ..rtp.pacer import Pacer
from ..signaling import IceConfig
from . import ice_policy
from .ice_policy import IcePolicy

log = logging.getLogger("rfb")

RTX_MAX_WAIT_S = 0.3


class WebRtcUnavailable(ImportError):
    pass


def load_aiortc() -> Any:
    try:
        import aiortc
    except ImportError as exc:
        raise WebRtcUnavailable("WebRTC needs aiortc: pip install 'rfb[webrtc]'") from exc
    return aiortc


def end_consent_checks_after_close() -> None:
    from aioice import ice

    original = ice.Connection.query_consent
    if getattr(original, "_rfb_wrapped", False):
        return

    async def query_consent(self: Any) -> None:
        if getattr(self, "_closing", False):
            return  # started by a connect() that finished after close()
        await original(self)

    query_consent._rfb_wrapped = True  # type: ignore[attr-defined]
    ice.Connection.query_consent = query_consent  # type: ignore[method-assign]


# aioice Connection -> the policy of the peer connection it belongs to (rfb's own).
_ice_policies: weakref.WeakKeyDictionary[Any, IcePolicy] = weakref.WeakKeyDictionary()
# The policy of the connection whose gather_candidates is running (in this task).
_gathering: contextvars.ContextVar[IcePolicy | None] = contextvars.ContextVar(
    "rfb_ice_gathering", default=None
)


def _policy_of(connection: Any) -> IcePolicy:
    policy = _ice_policies.get(connection)
    return policy if policy is not None else ice_policy.default_policy()


def install_ice_policy_hooks() -> None:
    """Wrap aioice's gathering and datagram intake once, with the per-connection
    dispatch (see the module's docstring). Idempotent."""
    from aioice import ice

    if getattr(ice.Connection.gather_candidates, "_rfb_wrapped", False):
        return
    gather = ice.Connection.gather_candidates
    host_addresses = ice.get_host_addresses
    received = ice.StunProtocol.datagram_received

    @functools.wraps(gather)
    async def gather_candidates(self: Any) -> None:
        token = _gathering.set(_policy_of(self))
        try:
            await gather(self)
        finally:
            _gathering.reset(token)

    @functools.wraps(host_addresses)
    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        policy = _gathering.get() or ice_policy.default_policy()
        addresses = policy.gather_on(use_ipv4, use_ipv6)
        return host_addresses(use_ipv4, use_ipv6) if addresses is None else addresses

    @functools.wraps(received)
    def datagram_received(self: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
        if _policy_of(self.receiver).allows(str(addr[0])):
            received(self, data, addr)

    gather_candidates._rfb_wrapped = True  # type: ignore[attr-defined]
    ice.Connection.gather_candidates = gather_candidates  # type: ignore[method-assign]
    ice.get_host_addresses = get_host_addresses
    ice.StunProtocol.datagram_received = datagram_received  # type: ignore[method-assign]


def apply_ice_policy(ice: IceConfig | IcePolicy) -> None:
    """Set the process default: where aioice connections that no rfb server created (a
    program's own aiortc peers, test players) gather and whom they answer, and the
    networks of filter_offer without a policy. rfb's own peer connections follow their
    server's IceConfig (use_ice_policy), whatever this says.

    aioice skips loopback and offers every other interface; containers, multi-homed hosts
    and tests need to choose. ``host_addresses`` replaces aioice's address list;
    ``allowed_remote_networks`` makes it ignore datagrams from anywhere else, so no
    connectivity check is ever answered towards a disallowed address.
    """
    load_aiortc()
    install_ice_policy_hooks()
    ice_policy.set_default_policy(ice if isinstance(ice, IcePolicy) else IcePolicy.of(ice))


def use_ice_policy(pc: Any, ice: IceConfig | IcePolicy) -> None:
    """Make this RTCPeerConnection's ICE gather only on ``ice``'s host addresses and
    ignore datagrams from outside its allowed networks, whatever the process default or
    other peer connections say. Call before its first setLocalDescription (which
    gathers); right after creating it is simplest."""
    install_ice_policy_hooks()
    policy = ice if isinstance(ice, IcePolicy) else IcePolicy.of(ice)
    for ice_transport in pc._RTCPeerConnection__iceTransports:  # made before this call
        _ice_policies[ice_transport.iceGatherer._connection] = policy
    create = pc._RTCPeerConnection__createDtlsTransport

    def create_dtls_transport() -> Any:
        dtls_transport = create()
        _ice_policies[dtls_transport.transport.iceGatherer._connection] = policy
        return dtls_transport

    pc._RTCPeerConnection__createDtlsTransport = create_dtls_transport


def adopt_from_offer(
    transceiver: Any, offer_sdp: str, codecs: tuple[str, ...], extensions: tuple[str, ...]
) -> None:
    """Keep in the answer these video ``codecs`` (mime types) and header ``extensions``
    (URIs) where the offer lists them, with the offer's payload types and ids: aiortc
    answers only with what it implements. Only this transceiver's negotiated lists
    change (call between setRemoteDescription and createAnswer), not aiortc's module
    tables, which a program's own aiortc peers use too. aiortc's sender still sends its
    first codec (H.264); what rfb sends with these, it writes itself."""
    from aiortc.sdp import SessionDescription

    video = [m for m in SessionDescription.parse(offer_sdp).media if m.kind == "video"]
    if not video:
        return
    offered = video[0].rtp
    have = {c.mimeType.lower() for c in transceiver._codecs}
    for codec in offered.codecs:
        if codec.mimeType.lower() in codecs and codec.mimeType.lower() not in have:
            transceiver._codecs.append(codec)
            have.add(codec.mimeType.lower())
    uris = {e.uri for e in transceiver._headerExtensions}
    for ext in offered.headerExtensions:
        if ext.uri in extensions and ext.uri not in uris:
            transceiver._headerExtensions.append(ext)
            uris.add(ext.uri)


def _is_h264_444(codec: Any) -> bool:
    params = codec.parameters or {}
    return (
        codec.mimeType.lower() == "video/h264"
        and str(params.get("packetization-mode", "0")) == "1"
        and str(params.get("profile-level-id", "")).lower().startswith("f4")
    )


def offers_h264_444(offer_sdp: str) -> bool:
    """Whether the offer's first video section lists H.264 High 4:4:4 (packetization-mode 1)."""
    from aiortc.sdp import SessionDescription

    try:
        video = [m for m in SessionDescription.parse(offer_sdp).media if m.kind == "video"]
    except Exception:  # an unusable offer is refused later, by setRemoteDescription
        return False
    return bool(video) and any(_is_h264_444(c) for c in video[0].rtp.codecs)


def adopt_h264_444(transceiver: Any, offer_sdp: str) -> bool:
    """Answer with the offer's H.264 High 4:4:4 (packetization-mode 1) first, and its RTX;
    True if the offer had it. Call between setRemoteDescription and createAnswer.

    aiortc matches offered codecs against its own module table, which has no 4:4:4, so
    it would drop it. rfb sends pre-encoded access units, which aiortc only packetises:
    the profile is ours to choose. Only this transceiver's negotiated list changes."""
    from aiortc.sdp import SessionDescription

    video = [m for m in SessionDescription.parse(offer_sdp).media if m.kind == "video"]
    if not video:
        return False
    offered = video[0].rtp.codecs
    high444 = next((c for c in offered if _is_h264_444(c)), None)
    if high444 is None:
        return False
    codecs = transceiver._codecs
    ours = next((c for c in codecs if c.mimeType.lower() == "video/h264"), None)
    codec = copy.deepcopy(high444)
    if ours is not None:  # the feedback aiortc implements, where the offer has it too
        codec.rtcpFeedback = [f for f in ours.rtcpFeedback if f in high444.rtcpFeedback]
    rtx = [
        copy.deepcopy(c)
        for c in offered
        if c.mimeType.lower() == "video/rtx" and c.parameters.get("apt") == high444.payloadType
    ]
    transceiver._codecs = [codec, *rtx[:1], *codecs]
    return True


def negotiated_h264_444(transceiver: Any) -> bool:
    """Whether the codec the sender sends (the first negotiated) is H.264 High 4:4:4."""
    codecs = getattr(transceiver, "_codecs", None) or []
    return bool(codecs) and _is_h264_444(codecs[0])


def negotiated_payload_type(transceiver: Any, mime: str) -> int | None:
    """The payload type the remote description gave ``mime`` (None: not negotiated)."""
    for codec in getattr(transceiver, "_codecs", None) or []:
        if codec.mimeType.lower() == mime.lower():
            return int(codec.payloadType)
    return None


def negotiated_extension_id(transceiver: Any, uri: str) -> int | None:
    """The id the remote description gave ``uri`` (None: not negotiated)."""
    for ext in getattr(transceiver, "_headerExtensions", None) or []:
        if ext.uri == uri:
            return int(ext.id)
    return None


def hook_keyframe_requests(sender: Any, on_request: Callable[[], None]) -> None:
    sender._send_keyframe = on_request


def wire_rtp_timestamp(sender: Any) -> int | None:
    """The RTP timestamp of the last packet the sender sent (its random origin included)."""
    value = getattr(sender, "_RTCRtpSender__rtp_timestamp", None)
    return value if isinstance(value, int) else None


class RtcpFeedback:
    """What one RTCP packet told us about this sender's stream."""

    __slots__ = ("highest_sequence", "packets_lost", "remb_bps")

    def __init__(self) -> None:
        self.remb_bps: float | None = None
        self.packets_lost: int | None = None  # cumulative
        self.highest_sequence: int | None = None  # extended: packets expected, cumulative


def hook_rtcp(
    sender: Any,
    on_feedback: Callable[[RtcpFeedback], None],
    nack_to_sender: Callable[[int], int | None] | None = None,
    on_other_nack: Callable[[int], None] | None = None,
) -> None:
    """Call ``on_feedback`` for REMB and receiver reports about ``sender``'s stream,
    then let aiortc handle the packet as usual. ``nack_to_sender``: where rfb renumbers
    the stream (FEC), the number aiortc gave a packet the browser names in a NACK (None:
    not one aiortc can resend); those go to ``on_other_nack`` (rfb resends its own)."""
    from aiortc.rtp import (
        RTCP_PSFB_APP,
        RTCP_RTPFB_NACK,
        RtcpPsfbPacket,
        RtcpRrPacket,
        RtcpRtpfbPacket,
        RtcpSrPacket,
        unpack_remb_fci,
    )

    original: Callable[[Any], Awaitable[None]] = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        fb: RtcpFeedback | None = None
        if (
            nack_to_sender is not None
            and isinstance(packet, RtcpRtpfbPacket)
            and packet.fmt == RTCP_RTPFB_NACK
        ):
            theirs = []
            for seq in packet.lost:
                mapped = nack_to_sender(seq)
                if mapped is not None:
                    theirs.append(mapped)
                elif on_other_nack is not None:
                    on_other_nack(seq)
            packet.lost = theirs
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == sender._ssrc:
                    fb = RtcpFeedback()
                    fb.packets_lost = report.packets_lost
                    fb.highest_sequence = report.highest_sequence
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                bitrate, ssrcs = 0, []
            if sender._ssrc in ssrcs:
                fb = RtcpFeedback()
                fb.remb_bps = float(bitrate)
        if fb is not None:
            on_feedback(fb)
        await original(packet)

    sender._handle_rtcp_packet = handle


class PacedTransport:
    """Stands in for the sender's DTLS transport: media packets leave at the pacer's
    rate (the RTP loop waits for each, so frames wait in the track, not in the network),
    with abs-send-time stamped as they leave and ``extension`` (id, value) added;
    everything else is forwarded."""

    def __init__(
        self,
        inner: Any,
        sender: Any,
        pacer: Pacer,
        clock: Callable[[], float],
        on_frame_start: Callable[[int, float], None] | None = None,
        extension: tuple[int, bytes] | None = None,
        fec: ulpfec.FecEncoder | None = None,
        fec_layout: Callable[[], ulpfec.FecLayout] | None = None,
        on_frame_end: Callable[[int, float], None] | None = None,
    ) -> None:
        from aiortc import clock as aiortc_clock
        from aiortc.rtp import RtpPacket, is_rtcp

        self._inner = inner
        self._sender = sender
        self._is_rtcp = is_rtcp
        self._rtp_packet = RtpPacket
        self._ntp_time = aiortc_clock.current_ntp_time
        self.pacer = pacer
        self._clock = clock
        self._on_frame_start = on_frame_start
        self._on_frame_end = on_frame_end
        self._last_ts: int | None = None
        self._sending: set[asyncio.Future[Any]] = set()
        self.rtx_dropped = 0
        self._extensions = sender._RTCRtpSender__rtp_header_extensions_map
        self._extension = extension
        self.fec = fec  # RED + ULPFEC, where the browser negotiated them
        self._fec_layout = fec_layout or (lambda: ulpfec.NO_FEC)
        self.send_errors = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _send_rtp(self, data: bytes) -> None:
        if self._is_rtcp(data) or len(data) < 12:
            await self._inner._send_rtp(data)
            return
        now = self._clock()
        ssrc = int.from_bytes(data[8:12], "big")
        if ssrc != self._sender._ssrc:
            self._retransmit(data, now)
            return
        delay = self.pacer.reserve(len(data), now)
        if delay > 0:
            await asyncio.sleep(delay)
            data = self._restamp(data)
        if self._extension is not None:  # after _restamp, whose re-serialising drops it
            data = rtp_header.with_header_extension(data, *self._extension)
        ts = int.from_bytes(data[4:8], "big")
        if ts != self._last_ts:
            self._last_ts = ts
            if self._on_frame_start is not None:
                self._on_frame_start(ts, self._clock())
        if data[1] & 0x80 and self._on_frame_end is not None:  # marker: the frame's last
            self._on_frame_end(ts, self._clock())
        if self.fec is None:
            await self._send(data)
            return
        # FEC is computed over the packets as they leave (stamped, extended, renumbered).
        self.fec.layout = self._fec_layout()
        media, *repair = self.fec.media(data)
        await self._send(media)
        for packet in repair:
            delay = self.pacer.reserve(len(packet), self._clock())
            if delay > 0:
                await asyncio.sleep(delay)
                packet = self._restamp(packet)  # its own header only: FEC covers the media
            await self._send(packet)

    async def _send(self, data: bytes) -> None:
        """The one way out of every packet this transport sends (media, FEC, resends)."""
        try:
            await self._inner._send_rtp(data)
        except ConnectionError:  # closed while it waited (a timer's resend): nothing to do
            return
        except ValueError as exc:  # SRTP refused it (too long): lose it, never the stream
            self.send_errors += 1
            if self.send_errors == 1:
                log.warning("rfb: WebRTC packet not sent: %s", exc)

    def _retransmit(self, data: bytes, now: float) -> None:
        """RTX comes from the RTCP receive loop, which must not wait: it is booked in the
        same bucket as media (a burst of NACKs must not flood the path that lost the
        packets) and sent when its turn comes, or dropped when that is so far off that
        the frame is stale (the browser asks for a keyframe instead)."""
        if self.fec is not None:  # it names aiortc's number for the packet; the browser knows ours
            renamed = self.fec.rtx(data)
            if renamed is None:
                self.rtx_dropped += 1
                return
            data = renamed
        self._book(data, now)

    def resend_fec(self, seq: int) -> None:
        """A NACK named one of our FEC packets: send it again, booked like RTX."""
        if self.fec is not None and (packet := self.fec.sent_fec(seq)) is not None:
            self._book(packet, self._clock())

    def _book(self, data: bytes, now: float) -> None:
        """Send a resent packet when the bucket allows, from a timer; drop it when that is
        more than RTX_MAX_WAIT_S off."""
        if self.pacer.queued_s(now) > RTX_MAX_WAIT_S:
            self.rtx_dropped += 1
            return
        delay = self.pacer.reserve(len(data), now)
        if delay <= 0:
            self._spawn(self._send(data))
        else:
            asyncio.get_running_loop().call_later(
                delay, lambda: self._spawn(self._send(self._restamp(data)))
            )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _restamp(self, data: bytes) -> bytes:
        packet = self._rtp_packet.parse(data, self._extensions)
        if packet.extensions.abs_send_time is None:
            return data
        packet.extensions.abs_send_time = (self._ntp_time() >> 14) & 0x00FFFFFF
        out: bytes = packet.serialize(self._extensions)
        return out


def install_pacer(
    sender: Any,
    pacer: Pacer,
    clock: Callable[[], float],
    on_frame_start: Callable[[int, float], None] | None = None,
    extension: tuple[int, bytes] | None = None,
    fec: ulpfec.FecEncoder | None = None,
    fec_layout: Callable[[], ulpfec.FecLayout] | None = None,
    on_frame_end: Callable[[int, float], None] | None = None,
) -> PacedTransport:
    """Put a PacedTransport between ``sender`` and its DTLS transport. Call after
    setRemoteDescription, which gives the sender its (bundled) transport."""
    inner = sender._RTCRtpSender__transport
    paced = PacedTransport(inner, sender, pacer, clock, on_frame_start, extension, fec,
                           fec_layout, on_frame_end)  # fmt: skip
    sender._RTCRtpSender__transport = paced
    return paced


def sync_sender_reports(sender: Any, report_rtp: Callable[[], int | None]) -> None:
    """Make ``sender``'s RTCP sender reports pair NTP *now* with ``report_rtp()``, the wire
    RTP timestamp of now on the stream's clock (transports/audio_track.py), instead of
    aiortc's pair (the last packet's timestamp, the instant it was sent), so that every
    track of a peer connection maps to one clock and the browser lip-syncs them.
    ``RTCRtpSender._run_rtcp`` looks ``_send_rtcp`` up on the instance; the last-SR value
    it keeps for round-trip times is set to match. Left as aiortc made it while
    ``report_rtp()`` is None (the origin is not known yet)."""
    from aiortc import clock as aiortc_clock
    from aiortc.rtp import RtcpSrPacket

    original: Callable[[list[Any]], Awaitable[None]] = sender._send_rtcp

    async def send_rtcp(packets: list[Any]) -> None:
        for packet in packets:
            if isinstance(packet, RtcpSrPacket) and packet.ssrc == sender._ssrc:
                rtp = report_rtp()
                if rtp is not None:
                    ntp = aiortc_clock.current_ntp_time()
                    packet.sender_info.ntp_timestamp = ntp
                    packet.sender_info.rtp_timestamp = rtp
                    sender._RTCRtpSender__lsr = (ntp >> 16) & 0xFFFFFFFF
        await original(packets)

    sender._send_rtcp = send_rtcp


def prefer_opus(transceiver: Any) -> None:
    """Answer an audio section with Opus only (aiortc would also list PCMU/PCMA): rfb
    sends the stream's Opus packets as they are."""
    from aiortc import RTCRtpSender

    caps = RTCRtpSender.getCapabilities("audio").codecs
    transceiver.setCodecPreferences([c for c in caps if c.mimeType.lower() == "audio/opus"])


def rebundle_receiver(pc: Any, transceiver: Any) -> bool:
    """aiortc (1.16, bundlePolicy "balanced") gives a transceiver it creates for an
    offered section (a viewer's microphone) the transport of the first transceiver of its
    kind, marks it bundled, and then, when it moves the bundled transceivers onto the
    BUNDLE group's transport, skips it: it keeps a transport aiortc stops at once, and
    never receives. Call from the ``track`` event (after that move): puts it on the
    transport its bundle peers use (all of rfb's sections are bundled). True when it was
    moved."""
    transports = [t.receiver.transport for t in pc.getTransceivers() if t is not transceiver]
    mine = transceiver.receiver.transport
    if not transports or mine in transports or not getattr(transceiver, "_bundled", False):
        return False
    primary = transports[0]  # the first section's: the BUNDLE group's (rfb's video)
    transceiver.receiver.setTransport(primary)
    transceiver.sender.setTransport(primary)
    return True


def adopt_audio_red(transceiver: Any, offer_sdp: str) -> int | None:
    """Answer the offer's ``audio/red`` (RFC 2198 over our Opus, ``fmtp N/N``) after Opus,
    with the offer's payload type; None where it is not offered. aiortc's sender still
    sends its first codec (Opus); the RED packets are rfb's (transports/audio_red.py).
    Call between setRemoteDescription and createAnswer."""
    from aiortc.sdp import SessionDescription

    audio = [m for m in SessionDescription.parse(offer_sdp).media if m.kind == "audio"]
    opus_pt = negotiated_payload_type(transceiver, "audio/opus")
    if not audio or opus_pt is None:
        return None
    for codec in audio[0].rtp.codecs:
        params = codec.parameters or {}
        red = codec.mimeType.lower() == "audio/red" and f"{opus_pt}/{opus_pt}" in params
        if red and codec.payloadType is not None:
            transceiver._codecs.append(codec)
            return int(codec.payloadType)
    return None


class RedTransport:
    """Stands in for the audio sender's DTLS transport: its Opus packets leave as RED
    while ``packer.enabled`` (audio_red.RedPacker); everything else is forwarded."""

    def __init__(self, inner: Any, packer: Any) -> None:
        from aiortc.rtp import is_rtcp

        self._inner = inner
        self._is_rtcp = is_rtcp
        self.packer = packer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _send_rtp(self, data: bytes) -> None:
        if not self._is_rtcp(data):
            data = self.packer.rewrite(data)
        await self._inner._send_rtp(data)


def install_audio_red(sender: Any, packer: Any) -> RedTransport:
    """Put a RedTransport between the audio ``sender`` and its DTLS transport (after
    setRemoteDescription)."""
    red = RedTransport(sender._RTCRtpSender__transport, packer)
    sender._RTCRtpSender__transport = red
    return red
