"""The WebRTC transport: the group's H.264 access units as pre-encoded packets on an
aiortc track, and the control/input messages over the ``rfb`` data channel.

A WebRTC viewer is a Viewer of the H.264 group like any WebSocket viewer: it costs
packetisation, never an encode. aiortc only packetises pre-encoded ``av.Packet``s, so
its own keyframe handling does not reach the encoder: PLI/FIR from the browser are wired
to the group's keyframe request here. NACKs are answered from aiortc's RTP history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from .. import protocol
from ..access import Access
from ..audio_in import answer_microphone
from ..encoders.base import CHROMA_420, CHROMA_444
from ..protocol import ProtocolError
from ..rtp import header as rtp_header
from ..rtp import ulpfec
from ..rtp.pacer import Pacer
from ..session import EncodedUnit, Viewer
from ..session.links import LinkKind
from ..signaling import IceConfig, WhepError
from . import aiortc_compat
from .aiortc_compat import RtcpFeedback, WebRtcUnavailable, apply_ice_policy, load_aiortc
from .audio_track import WebRtcAudioLink, offered_audio, sender_report_rtp
from .common import StatsTicker, config_message, dispatch
from .ice_policy import IcePolicy, filter_offer
from .packet_track import packet_track_class

__all__ = ["WebRtcSessions", "WebRtcUnavailable", "WebRtcViewer", "apply_ice_policy",
           "filter_offer", "load_aiortc"]  # fmt: skip

if TYPE_CHECKING:
    from ..stream import Stream, ViewerSession

log = logging.getLogger("rfb")

CONNECT_TIMEOUT_S = 20.0
RTP_CLOCK = 90_000
_SHOWN_WINDOW = 512  # units remembered for frame_shown (~17 s at 30 fps)
CHANNEL_LABEL = "rfb"
PACE_START_BPS = 3e6  # until the first adaptation round says better
START_BITRATE = 1.2e6
LOSS_SPAN_S = 1.0
# An exact still counts as delivered once the data channel has no more than this queued.
_CHANNEL_DRAINED_BYTES = 64 * 1024
_CHANNEL_DRAIN_TIMEOUT_S = 10.0


@dataclass(slots=True)
class _SentUnit:
    """A unit handed to the RTP sender, for its frame_shown report."""

    published_at: float
    nbytes: int
    taken_at: float | None = None  # its first packet out of the pacer
    left_at: float | None = None  # ...and its last

    @property
    def spread(self) -> float | None:
        if self.taken_at is None or self.left_at is None:
            return None
        return self.left_at - self.taken_at


class WebRtcViewer:
    """One WHEP session: a peer connection, its packet track and its data channel."""

    kind = LinkKind.WEBRTC

    def __init__(self, stream: Stream, session_id: str, pc: Any, access: Access) -> None:
        self.stream = stream
        self.id = session_id
        self.access = access
        self.pc = pc
        self.viewer: Viewer | None = None
        self.session: ViewerSession | None = None  # once connected
        self.channel: Any = None
        self.track = packet_track_class()(self._taken)
        self.sender: Any = None  # the RTCRtpSender that packetises self.track
        # The program's sound, where the offer has audio (transports/audio_track.py).
        self.audio: WebRtcAudioLink | None = None
        # Paces the sender's packets (installed once the sender has its transport); the
        # hub sets its rate from this viewer's estimate every adaptation round.
        self.pacer = Pacer(PACE_START_BPS)
        self.paced: aiortc_compat.PacedTransport | None = None  # once the offer is applied
        self._reports: deque[tuple[float, int, int]] = deque()  # (time, lost, expected)
        self._last_rtp = -1
        # For frame_shown: our RTP timestamp -> (publish time, time handed to the RTP
        # sender, bytes) of the units sent, and the random origin aiortc adds to every
        # timestamp on the wire (learnt from the sender).
        self._sent: OrderedDict[int, _SentUnit] = OrderedDict()
        self._unshown_since: float | None = None  # first unit taken after the last report
        self._frame_size: tuple[int, int] | None = None  # what the last config said
        self._rtp_origin: int | None = None
        self._prev_taken_rtp: int | None = None
        self._frame_rtp: tuple[int, int] | None = None  # (frame id, our RTP ts) of the last unit
        self._exact_ids = 0  # data-channel message ids of exact stills
        # Click-to-photon: (our RTP ts, input_seq) of units that first reflect an input,
        # told to the page (protocol.InputFrame) once the wire timestamp is known.
        self._input_notes: deque[tuple[int, int]] = deque(maxlen=64)
        import av  # present wherever aiortc is

        self._av = av
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()
        self.connected = asyncio.Event()
        self.keyframe_requests = 0  # PLI/FIR received
        self.chroma = CHROMA_420  # what the answer negotiated (High 4:4:4 or not)

    # -- ViewerLink ---------------------------------------------------------------------------

    def send_unit(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
        self.viewer = viewer  # set before attach() returns when it sends at once
        if unit.exact:
            self._send_exact(viewer, seq, unit)
            return
        packet = self._av.Packet(unit.data)
        # RTP timestamps follow capture times; a re-encoded IDR of the same frame moves on by
        # one tick so the receiver does not take it for a duplicate.
        rtp = max(unit.timestamp_us * RTP_CLOCK // 1_000_000, self._last_rtp + 1)
        self._last_rtp = rtp
        if self._frame_rtp is None or self._frame_rtp[0] != unit.frame_id:
            self._frame_rtp = (unit.frame_id, rtp)
        packet.pts = rtp
        packet.time_base = Fraction(1, RTP_CLOCK)
        if (stamp := self.stream.inputs.photon.stamps.stamp(viewer.id, unit.inputs)) is not None:
            self._input_notes.append((rtp, stamp))
        self._sent[rtp % 2**32] = _SentUnit(unit.published_at, len(unit.data))
        while len(self._sent) > _SHOWN_WINDOW:
            self._sent.popitem(last=False)
        size = (unit.frame_width, unit.frame_height)
        if unit.frame_width and size != self._frame_size and self.channel is not None:
            # The stream was resized: the view draws every rung at the frame's size.
            self._send_config(viewer, size)
        self.track.push(seq, packet)

    def _send_exact(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
        """An exact still: the WebSocket's image_frame envelope over the data channel, in
        parts (protocol.channel_parts); delivered once the channel has sent it on."""
        ch = self.channel
        if ch is None or ch.readyState != "open":
            viewer.exact_frame_id = None  # it never got there: a later offer may try again
            self.stream.hub.delivered(viewer.id, seq)
            return
        header = protocol.ImageFrameHeader(
            seq=seq, timestamp_us=unit.timestamp_us, width=unit.width, height=unit.height,
            mime=unit.codec, exact=True, rtp_timestamp=self._wire_rtp_of(unit.frame_id),
        )  # fmt: skip
        self._exact_ids += 1
        try:
            for part in protocol.channel_parts(header.pack(unit.data), self._exact_ids):
                ch.send(part)
        except Exception:  # the channel closed under us
            viewer.exact_frame_id = None
            self.stream.hub.delivered(viewer.id, seq)
            return
        self._spawn(self._exact_sent(ch, viewer.id, seq))

    async def _exact_sent(self, ch: Any, viewer_id: str, seq: int) -> None:
        """Credit for an exact still returns once the channel has (nearly) sent it."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CHANNEL_DRAIN_TIMEOUT_S):
                while ch.readyState == "open" and ch.bufferedAmount > _CHANNEL_DRAINED_BYTES:
                    await asyncio.sleep(0.01)
        self.stream.hub.delivered(viewer_id, seq)

    def _wire_rtp_of(self, frame_id: int) -> int | None:
        """The RTP timestamp on the wire of the first unit of ``frame_id`` this link sent
        (so the browser knows which video frames show the picture it has exactly); None
        where not known."""
        if self._frame_rtp is None or self._frame_rtp[0] != frame_id:
            return None
        if self._rtp_origin is None and self._prev_taken_rtp is not None:
            # At rest the sender has long sent the last unit it took: its last wire
            # timestamp is that unit's.
            wire = aiortc_compat.wire_rtp_timestamp(self.sender)
            if isinstance(wire, int) and wire:
                self._rtp_origin = (wire - self._prev_taken_rtp) % 2**32
        if self._rtp_origin is None:
            return None
        return (self._frame_rtp[1] + self._rtp_origin) % 2**32

    def _taken(self, seq: int, rtp: int) -> None:
        # Handed to the RTP sender: on the wire now. Loss is repaired by NACK, not by our
        # flow control, so the unit counts as delivered.
        now = self.stream.clock()
        sent = self._sent.get(rtp % 2**32)
        if sent is not None:
            sent.taken_at = now
        if self._unshown_since is None:
            self._unshown_since = now
        if self.viewer is not None:
            self.stream.hub.delivered(self.viewer.id, seq)
        if self._rtp_origin is None and self._prev_taken_rtp is not None:
            # aiortc sends a frame's packets before it asks the track for the next one, so
            # its last wire timestamp is the previous frame's: origin = wire - ours.
            wire = aiortc_compat.wire_rtp_timestamp(self.sender)
            if isinstance(wire, int):
                self._rtp_origin = (wire - self._prev_taken_rtp) % 2**32
        self._prev_taken_rtp = rtp
        self._send_input_notes(rtp)

    def _send_input_notes(self, taken_rtp: int) -> None:
        """Click-to-photon: tell the page which wire RTP timestamp first reflects each of
        its inputs, for the units taken so far (the first one waits for the origin; the
        page matches a note that comes after its frame was drawn, too)."""
        origin = self._rtp_origin
        while self._input_notes and origin is not None and self._input_notes[0][0] <= taken_rtp:
            ours, seq = self._input_notes.popleft()
            self.send_text(protocol.InputFrame((ours + origin) % 2**32, seq).encode())

    def on_frame_shown(self, wire_rtp: int, received_ms: float | None = None) -> None:
        """The browser drew the frame with this RTP timestamp: publish -> display latency."""
        sent = self._sent_by_wire(wire_rtp)
        if self.viewer is not None and sent is not None:
            self._unshown_since = None
            self.stream.hub.shown(self.viewer.id, sent.published_at, sent.taken_at, sent.nbytes,
                                  received_ms, sent.spread)  # fmt: skip

    def report_rtp(self) -> int | None:
        """For the video's RTCP sender reports: the wire RTP timestamp of now on the
        stream's clock (audio_track.py: both tracks map to one clock)."""
        if self._rtp_origin is None:
            return None
        return sender_report_rtp(self._rtp_origin, self.stream.now_us(), RTP_CLOCK)

    def set_pacing_rate(self, bps: float, now: float) -> None:
        self.pacer.set_rate(bps, now)

    def backlog_bytes(self) -> int:
        """Bytes waiting here for the path: in the pacer, and units behind it."""
        return self.pacer.queued_bytes(self.stream.clock()) + self.track.queued_bytes

    def on_frame_start(self, wire_rtp: int, now: float) -> None:
        """The pacer let a frame's first packet go: that, not the handover, is its send time."""
        sent = self._sent_by_wire(wire_rtp)
        if sent is not None:
            sent.taken_at = now

    def on_frame_end(self, wire_rtp: int, now: float) -> None:
        """...and its last: the path estimate compares that spread with its arrival's."""
        sent = self._sent_by_wire(wire_rtp)
        if sent is not None:
            sent.left_at = now

    def _sent_by_wire(self, wire_rtp: int) -> _SentUnit | None:
        """The unit sent with this RTP timestamp on the wire (aiortc's origin added)."""
        if self._rtp_origin is None:
            return None
        return self._sent.get((wire_rtp - self._rtp_origin) % 2**32)

    def on_rtcp(self, fb: RtcpFeedback) -> None:
        """REMB and receiver reports, for this viewer's path estimate."""
        if self.viewer is None:
            return
        est, now = self.viewer.estimator, self.stream.clock()
        if fb.remb_bps is not None:
            est.on_remb(now, fb.remb_bps)
        if fb.packets_lost is not None and fb.highest_sequence is not None:
            # Chromium puts a receiver report in every RTCP packet it sends (each NACK,
            # each REMB), so each report's own fraction covers a few packets and swings
            # between 0 and 1/3 at 5 % loss: the loss is taken over a second or more.
            reports = self._reports
            reports.append((now, fb.packets_lost, fb.highest_sequence))
            while len(reports) > 1 and now - reports[1][0] >= LOSS_SPAN_S:
                reports.popleft()
            t0, lost0, seq0 = reports[0]
            expected = fb.highest_sequence - seq0
            if now - t0 >= LOSS_SPAN_S and expected >= 20:
                est.on_loss(now, (fb.packets_lost - lost0) / expected)

    def on_fec_nack(self, seq: int) -> None:
        if self.paced is not None:
            self.paced.resend_fec(seq)

    def fec_layout(self) -> ulpfec.FecLayout:
        """The FEC protection now: from the loss the browser reports."""
        if self.viewer is None:
            return ulpfec.NO_FEC
        return ulpfec.layout_for_loss(self.viewer.estimator.loss(self.stream.clock()))

    def outstanding_since(self) -> float | None:
        """For the path estimate: since when units have gone out with no frame shown."""
        return self._unshown_since

    def on_keyframe_request(self) -> None:
        """PLI or FIR from the browser: restart this viewer at the group's next IDR."""
        self.keyframe_requests += 1
        if self.viewer is not None:
            self.stream.hub.reset(self.viewer.id)

    # -- data channel ---------------------------------------------------------------------------

    def _send_config(self, viewer: Viewer, size: tuple[int, int] | None = None) -> None:
        self._frame_size = size or (self.stream.width, self.stream.height)
        self.send_text(
            config_message(
                self.stream,
                viewer,
                "webrtc",
                self._frame_size,
                view_only=self.access.view_only,
            )
        )

    def send_file_bytes(self, data: bytes) -> None:
        """FileLink: one file chunk as a binary data-channel message (one part of the
        exact stills' framing: protocol.channel_parts), in order with the rest."""
        ch = self.channel
        if ch is None or ch.readyState != "open":
            return
        self._exact_ids += 1
        with contextlib.suppress(Exception):
            for part in protocol.channel_parts(data, self._exact_ids):
                ch.send(part)

    def file_backlog(self) -> int:
        """FileLink: what a file chunk waits behind: the channel's queue and the video's."""
        ch = self.channel
        return (ch.bufferedAmount if ch is not None else 0) + self.backlog_bytes()

    def send_text(self, text: str) -> None:
        ch = self.channel
        if ch is not None and ch.readyState == "open":
            with contextlib.suppress(Exception):
                ch.send(text)

    def on_channel(self, channel: Any) -> None:
        if channel.label != CHANNEL_LABEL and not channel.label.startswith(CHANNEL_LABEL + "-"):
            return
        if channel.label == CHANNEL_LABEL:
            self.channel = channel
            if self.viewer is not None:
                self._send_config(self.viewer)

        @channel.on("message")
        def on_message(message: Any) -> None:
            if self.viewer is None:
                return
            try:
                if not isinstance(message, str):
                    # Binary: file chunks (rfb/files.py), each in one message (and
                    # audio_in packets, though the microphone comes as a track here).
                    self.stream.binary_in(self.viewer.id, bytes(message))
                    return
                msg = protocol.parse_client_message(message)
                if isinstance(msg, protocol.FrameShown):
                    self.on_frame_shown(msg.rtp_timestamp, msg.received_ms)
                elif isinstance(msg, protocol.Hello):
                    # rfb's client says hello on the channel too, for the features it
                    # understands (the media needs none: WHEP negotiated it).
                    assert self.session is not None  # set with self.viewer
                    for text in self.session.listen(self.send_text, msg.features):
                        self.send_text(text)
                    # Exact stills come over this channel (send_unit).
                    self.stream.hub.exact_stills_wanted(
                        self.viewer.id, protocol.FEATURE_EXACT_STILL in msg.features
                    )
                else:
                    dispatch(self.stream, self.viewer, msg)
            except ProtocolError as exc:
                log.info(
                    "rfb: closing WebRTC viewer %s (%d): %s", self.id, exc.close_code, exc.reason
                )
                self.stream.closed_for(exc)
                self._spawn(self.close())

    # -- lifecycle --------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    def on_connected(self) -> None:
        if self.viewer is not None or self.closed.is_set():
            return
        # Our view draws every rung at the frame's size (the config says it, and is sent
        # again on a resize); frame_shown reports, not RTP handover, measure the path.
        # It starts no higher than START_BITRATE: a top-rung keyframe sent into a slower
        # path is lost in part, and UDP has no flow control to slow it down (the
        # WebSocket's TCP has, so it starts at the top); the estimate climbs in a second
        # or two where the path allows.
        # Its seat was taken when WHEP answered its offer (or refused it with 429).
        try:
            self.session = self.stream.open_viewer(
                LinkKind.WEBRTC, self, self.access, seat_checked=True, scaled_frames=True,
                acks_measure_path=False, start_bitrate=START_BITRATE, chroma=self.chroma,
            )  # fmt: skip
        except ProtocolError as exc:  # the stream closed meanwhile
            self._spawn(self.close(exc.reason))
            return
        self.viewer = self.session.viewer
        if self.audio is not None:  # its offer had audio: the stream's Opus packets go on it
            self.stream.audio.open(self.viewer.id, self.audio, frozenset({protocol.FEATURE_AUDIO}))
        self.connected.set()
        if self.channel is not None:
            self._send_config(self.viewer)
        self.stream.stats_timer.add(self.viewer.id, self._stats_sender(self.viewer))

    def _stats_sender(self, viewer: Viewer) -> Callable[[], None]:
        ticker = StatsTicker(self.stream, viewer)
        est = viewer.estimator

        def send() -> None:
            if self.closed.is_set():
                return
            self.send_text(
                ticker.message(
                    protocol.StatsWebRtc(
                        keyframe_requests=self.keyframe_requests,
                        remb_bps=None if est.remb_bps is None else round(est.remb_bps),
                        fraction_lost=est.loss_fraction,
                        pacing_bps=round(self.pacer.rate_bps),
                    )
                )
            )

        return send

    async def close(self, reason: str | None = None) -> None:
        if self.closed.is_set():
            return
        if reason is not None:  # say why before the peer connection goes
            self.send_text(protocol.Close(protocol.CLOSE_GOING_AWAY, reason).encode())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):  # let it leave before SCTP is torn down
                    while self.channel is not None and self.channel.bufferedAmount > 0:
                        await asyncio.sleep(0.01)
        self.closed.set()
        if self.viewer is not None:
            self.stream.stats_timer.discard(self.viewer.id)
        if self.session is not None:
            self.session.close()
        self.track.stop()
        if self.audio is not None:
            self.audio.stop()
        await self.pc.close()
        current = asyncio.current_task()
        for t in list(self._tasks):
            if t is not current:
                t.cancel()


class WebRtcSessions:
    """The WHEP SessionFactory: answers offers with peer connections fed by the hub."""

    def __init__(self, stream: Stream, ice: IceConfig, max_sessions: int = 32) -> None:
        load_aiortc()
        aiortc_compat.end_consent_checks_after_close()
        self.stream = stream
        self.ice = ice
        self.max_sessions = max_sessions
        self.sessions: dict[str, WebRtcViewer] = {}
        self.ice_policy = IcePolicy.of(ice)  # this server's peer connections follow it
        apply_ice_policy(ice)  # the process default (other aiortc peers), as before

    def _configuration(self) -> Any:
        from aiortc import RTCConfiguration, RTCIceServer

        servers = [
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in self.ice.servers()
        ]
        return RTCConfiguration(iceServers=servers)

    async def create(self, offer_sdp: str, grant: Any = None) -> tuple[str, str]:
        from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

        if self.stream.closed:
            raise WhepError(503, "server shutting down")
        if len(self.sessions) >= self.max_sessions:
            self.stream.refused["max_webrtc_sessions"] += 1
            raise WhepError(429, f"too many WebRTC sessions (at most {self.max_sessions})")
        if (full := self.stream.full()) is not None:
            raise WhepError(429, full)
        pc = RTCPeerConnection(self._configuration())
        aiortc_compat.use_ice_policy(pc, self.ice_policy)
        session_id = secrets.token_urlsafe(12)
        if not isinstance(grant, Access):  # not admitted by the server's policy
            raise WhepError(401, "missing or wrong bearer token")
        peer = WebRtcViewer(self.stream, session_id, pc, grant)
        self.sessions[session_id] = peer
        try:
            # The transceiver exists before the offer is applied, so that aiortc answers
            # with our codec preference (H.264, packetization-mode 1) although Chromium
            # lists VP8 first.
            transceiver = pc.addTransceiver(peer.track, direction="sendonly")
            peer.sender = transceiver.sender
            caps = RTCRtpSender.getCapabilities("video").codecs
            h264 = [
                c
                for c in caps
                if c.mimeType.lower() == "video/h264"
                and c.parameters.get("packetization-mode") == "1"
            ]
            transceiver.setCodecPreferences(h264 + [c for c in caps if c.name == "rtx"])
            # The program's sound where the offer receives audio (Opus): the same packets as
            # the WebSocket's, on a track of the same MediaStream as the video.
            audio_dir = offered_audio(offer_sdp)
            if audio_dir in ("recvonly", "sendrecv") and "opus/48000" in offer_sdp.lower():
                link = peer.audio = WebRtcAudioLink()
                direction = "sendonly" if audio_dir == "recvonly" else "sendrecv"
                audio = pc.addTransceiver(link.track, direction=direction)
                link.sender = audio.sender
                aiortc_compat.prefer_opus(audio)
                aiortc_compat.sync_sender_reports(
                    audio.sender, lambda: link.report_rtp(self.stream.now_us())
                )

            @pc.on("track")
            def on_track(track: Any) -> None:  # a viewer's microphone (rfb/audio_in.py)
                answer_microphone(self.stream, peer, pc, track)

            try:
                await pc.setRemoteDescription(
                    RTCSessionDescription(
                        sdp=filter_offer(
                            offer_sdp, self.ice.strip_mdns_candidates, self.ice_policy
                        ),
                        type="offer",
                    )
                )
            except Exception as exc:
                raise WhepError(400, f"unusable SDP offer: {exc}") from None
            # What aiortc cannot answer with but rfb writes itself, where offered:
            # RED + ULPFEC (rtp/ulpfec.py) and the playout-delay extension (rtp/header.py).
            aiortc_compat.adopt_from_offer(
                transceiver, offer_sdp, (ulpfec.RED_MIME, ulpfec.ULPFEC_MIME),
                (rtp_header.PLAYOUT_DELAY_URI,),
            )  # fmt: skip
            if peer.audio is not None and self.stream.options.fec:  # RED for the sound
                peer.audio.use_red(audio, offer_sdp, self.stream.clock)
            # High 4:4:4 first where the viewer offers it and the chroma option allows.
            if self.stream.chroma_for(aiortc_compat.offers_h264_444(offer_sdp)) == CHROMA_444:
                aiortc_compat.adopt_h264_444(transceiver, offer_sdp)
            # aiortc's own PLI and REMB handling only reaches encoders it runs itself.
            sender: Any = transceiver.sender
            aiortc_compat.hook_keyframe_requests(sender, peer.on_keyframe_request)
            fec = self._fec_encoder(transceiver, sender)
            aiortc_compat.hook_rtcp(sender, peer.on_rtcp, fec.theirs if fec else None,
                                    peer.on_fec_nack)  # fmt: skip
            aiortc_compat.sync_sender_reports(sender, peer.report_rtp)
            peer.paced = aiortc_compat.install_pacer(
                sender, peer.pacer, self.stream.clock, peer.on_frame_start,
                self._playout_delay(transceiver), fec, peer.fec_layout, peer.on_frame_end,
            )  # fmt: skip

            @pc.on("datachannel")
            def on_datachannel(channel: Any) -> None:
                peer.on_channel(channel)

            @pc.on("connectionstatechange")
            async def on_state() -> None:
                state = pc.connectionState
                if state == "connected":
                    peer.on_connected()
                elif state in ("failed", "closed"):
                    await self._end(session_id)

            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
            if "H264" not in pc.localDescription.sdp:
                raise WhepError(400, "no H.264 codec in common with the offer")
            if aiortc_compat.negotiated_h264_444(transceiver):
                peer.chroma = CHROMA_444
        except WhepError:
            await self._end(session_id)
            raise
        except Exception as exc:
            await self._end(session_id)
            log.exception("rfb: WHEP offer failed")
            raise WhepError(400, f"could not answer the offer: {exc}") from None
        peer._spawn(self._watch(session_id))
        return session_id, pc.localDescription.sdp

    def _fec_encoder(self, transceiver: Any, sender: Any) -> ulpfec.FecEncoder | None:
        """RED + ULPFEC for this viewer, where its offer had both (Chromium's does)."""
        if not self.stream.options.fec:
            return None
        red_pt = aiortc_compat.negotiated_payload_type(transceiver, ulpfec.RED_MIME)
        fec_pt = aiortc_compat.negotiated_payload_type(transceiver, ulpfec.ULPFEC_MIME)
        if red_pt is None or fec_pt is None:
            return None
        abs_id = aiortc_compat.negotiated_extension_id(transceiver, rtp_header.ABS_SEND_TIME_URI)
        mutable = frozenset(() if abs_id is None else (abs_id,))  # zeroed before FEC, as Chromium
        return ulpfec.FecEncoder(red_pt, fec_pt, secrets.randbelow(1 << 16), mutable_ids=mutable)

    def _playout_delay(self, transceiver: Any) -> tuple[int, bytes] | None:
        """The playout-delay element for this viewer's packets, where it was offered."""
        delay = self.stream.options.playout_delay_ms
        if delay is None:
            return None
        ext_id = aiortc_compat.negotiated_extension_id(transceiver, rtp_header.PLAYOUT_DELAY_URI)
        return None if ext_id is None else (ext_id, rtp_header.playout_delay_value(*delay))

    async def _watch(self, session_id: str) -> None:
        """End sessions that never connect."""
        peer = self.sessions.get(session_id)
        if peer is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(peer.connected.wait(), CONNECT_TIMEOUT_S)
            return
        await self._end(session_id)

    async def _end(self, session_id: str, reason: str | None = None) -> bool:
        peer = self.sessions.pop(session_id, None)
        if peer is None:
            return False
        await peer.close(reason)
        return True

    async def delete(self, session_id: str) -> bool:
        return await self._end(session_id)

    async def aclose(self, reason: str | None = None) -> None:
        await asyncio.gather(*(self._end(sid, reason) for sid in list(self.sessions)))
