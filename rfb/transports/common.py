"""What every transport does the same way: dispatching viewer messages, stats messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import protocol
from ..access import AuthContext
from ..encoders import convert
from ..encoders.base import CHROMA_420, CHROMA_444
from ..http_messages import HttpRequest
from ..session import Viewer

if TYPE_CHECKING:
    from ..stream import Stream


def dispatch(stream: Stream, viewer: Viewer, msg: protocol.ClientMessage) -> None:
    """Act on one parsed control message from a viewer (hello is the transport's business)."""
    hub = stream.hub
    if isinstance(msg, protocol.Ack):
        hub.ack(viewer.id, msg.seq, msg.decode_queue_size, msg.received_ms)
    elif isinstance(msg, protocol.InputEventMessage):
        stream.inputs.push(viewer.id, msg.event, msg.input_seq)
    elif isinstance(msg, protocol.InputPhoton):  # click-to-photon (session/photon.py)
        stream.inputs.photon.samples.add(viewer.id, msg.input_seq, msg.ms)
    elif isinstance(msg, protocol.SetViewport):
        stream.inputs.push(viewer.id, msg.as_resize_event())
    elif isinstance(msg, (protocol.RequestKeyframe, protocol.DecoderReset)):
        hub.reset(viewer.id)
    elif isinstance(msg, (protocol.RequestControl, protocol.ReleaseControl,
                          protocol.GiveControl, protocol.PresencePointer)):  # fmt: skip
        stream.control(viewer.id, msg)  # the floor and presence (stream.py)
    elif isinstance(msg, (protocol.FileOffer, protocol.FileCancel, protocol.FileAck)):
        stream.files.message(viewer.id, msg)  # files both ways (files.py)
    # Hello: its order is protocol.ConnectionState's (WebSocket), the data channel's own
    # business (WebRTC).
    # FrameShown only means something on WebRTC, whose transport handles it; a WebSocket
    # viewer's acks already say when frames were drawn.


def auth_context(
    request: HttpRequest | None,
    *,
    token: str | None,
    transport: str,
    stream: str,
    hello: dict[str, Any] | None = None,
) -> AuthContext:
    """What an ``authenticate`` hook is shown of the request that opens a viewer (the
    WebSocket upgrade, or the WHEP offer), from whichever server received it."""
    if request is None:
        return AuthContext(token=token, hello=hello, stream=stream, transport=transport)
    return AuthContext(
        token=token,
        headers=dict(request.headers),
        cookies=request.cookies,
        path=request.path_qs,
        query=request.query,
        remote=request.remote,
        hello=hello,
        stream=stream,
        transport=transport,
    )


def config_message(
    stream: Stream,
    viewer: Viewer,
    transport: str,
    size: tuple[int, int] | None = None,
    *,
    view_only: bool = False,
    whep_path: str | None = None,
) -> str:
    """The ``config`` a viewer gets before any frame (WebSocket), or on connect and when
    the frame size changes (WebRTC: ``size``, the frame's new size). ``whep_path``: where
    this stream's WHEP is served, told to a WebSocket viewer."""
    d = stream
    width, height = size or (d.width, d.height)
    # additive: the ICE servers of the stream's WHEP; where WHEP is (WebSocket viewers)
    ice = None if d.webrtc is None else tuple(s.as_dict() for s in d.webrtc.ice.servers())
    whep = whep_path if transport != "webrtc" else None
    if not viewer.is_video:
        return protocol.Config(
            transport=transport,
            width=width,
            height=height,
            mime=viewer.capability,
            client_id=viewer.id,
            view_only=view_only,
            ice_servers=ice,
            webrtc=whep,
            microphone=d.options.microphone,
        ).encode()
    w, h = convert.even_size(width, height)
    group = d.hub.group_of(viewer.id)
    unit = group.latest_unit if group else None
    # Frame headers carry the codec string of the SPS actually produced; until the first
    # unit exists, the one x264 gives for the usual sizes in the group's chroma.
    codec = unit.codec if unit else None
    if codec is None and transport == "webcodecs":
        chroma = group.key.settings.chroma if group else CHROMA_420
        codec = "avc1.F4001F" if chroma == CHROMA_444 else "avc1.42C01F"
    return protocol.Config(
        transport=transport,
        width=w,
        height=h,
        codec=codec,
        color=convert.WEBCODECS_COLOR,
        client_id=viewer.id,
        view_only=view_only,
        ice_servers=ice,
        webrtc=whep,
        microphone=d.options.microphone,
    ).encode()


class StatsTicker:
    """Builds the ``stats`` message for one viewer, about once a second."""

    def __init__(self, stream: Stream, viewer: Viewer) -> None:
        self.stream = stream
        self.viewer = viewer
        self._last_sent = 0
        self._last_t = stream.clock()

    def message(self, webrtc: protocol.StatsWebRtc | None = None) -> str:
        d, v = self.stream, self.viewer
        now = d.clock()
        group = d.hub.group_of(v.id)
        w = v.window(now)
        st = v.stats
        fps_sent = (st.frames_sent - self._last_sent) / max(1e-6, now - self._last_t)
        self._last_sent, self._last_t = st.frames_sent, now

        def ms(x: float | None) -> float | None:
            return None if x is None else round(x, 2)

        adapt = d.hub.adaptation(v.id)
        rung_bitrate = adapt.pop("rung_bitrate", None)
        rung_fps = adapt.pop("rung_fps", None)
        stills = None
        if st.last_still is not None:
            stills = protocol.StatsStills(
                st.exact_stills_sent, st.near_lossless_stills_sent, st.last_still
            )
        return protocol.Stats(
            rtt_ms=ms(st.rtt_ms),
            fps_sent=round(fps_sent, 2),
            fps_acked=round(w["fps_acked"], 2),
            bitrate_bps=round(w["bitrate_bps"]),
            encode_ms=group.median_encode_ms() if group else None,
            decode_queue_size=st.decode_queue_size,
            dropped=st.frames_skipped + st.frames_expired,
            target_bitrate=rung_bitrate or d.options.bitrate or None,
            target_fps=rung_fps or d.options.fps,
            latency_ms=ms(w["latency_ms"]),
            latency_p95_ms=ms(w["latency_p95_ms"]),
            latency_source=w["latency_source"],
            viewers=d.hub.viewer_count,
            client_id=v.id,
            adaptation=protocol.StatsAdaptation.from_figures(adapt) if adapt else None,
            webrtc=webrtc,
            stills=stills,
        ).encode()
