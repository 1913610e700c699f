"""The WebSocket wire protocol, sans I/O (wire-compatible with pdum.rfb 0.x).

Text messages are JSON control messages; binary messages are an envelope:
``uint32 LE header length`` + compact ASCII JSON header + payload.
Nothing here touches a socket or a clock. Every message is a frozen dataclass: a
viewer's are parsed and validated into one (``parse_client_message``); the server's are
constructed by the transports and encoded by their one encoder (``encode()`` to the text,
``pack(payload)`` for a frame header) into the ``str``/``bytes`` a transport sends.
``ConnectionState`` decides the order of a viewer's messages (hello first, once, in time)
from parsed messages and the time it is given. See docs/internals/protocol.md.
"""

from __future__ import annotations

import enum
import json
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

# Capability names a client lists in ``hello``.
CAP_JPEG = "image/jpeg"
CAP_PNG = "image/png"
CAP_WEBP = "image/webp"
CAP_H264 = "webcodecs/h264-annexb"
# rfb addition: listed beside CAP_H264 by a viewer that decodes High 4:4:4 (avc1.F4...).
# It is not a format of its own: the viewer still gets CAP_H264, in 4:4:4 where the
# stream's chroma option allows (session/chroma.py).
CAP_H264_444 = "webcodecs/h264-annexb;chroma=444"
IMAGE_CAPS = (CAP_JPEG, CAP_PNG, CAP_WEBP)


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server sends. browser/src/close-codes.ts mirrors them
    (tests/support/browser_fixtures.py writes them out and both test suites compare)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the server is shutting down
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    TOO_BIG = 1009
    TRY_AGAIN_LATER = 1013  # the server is full (max_viewers, max_pending)
    UNAUTHORIZED = 4401
    UNKNOWN_PATH = 4404


CLOSE_NORMAL = CloseCode.NORMAL
CLOSE_GOING_AWAY = CloseCode.GOING_AWAY
CLOSE_PROTOCOL_ERROR = CloseCode.PROTOCOL_ERROR
CLOSE_UNSUPPORTED_DATA = CloseCode.UNSUPPORTED_DATA
CLOSE_INVALID_PAYLOAD = CloseCode.INVALID_PAYLOAD
CLOSE_POLICY_VIOLATION = CloseCode.POLICY_VIOLATION
CLOSE_TOO_BIG = CloseCode.TOO_BIG
CLOSE_TRY_AGAIN_LATER = CloseCode.TRY_AGAIN_LATER
CLOSE_UNAUTHORIZED = CloseCode.UNAUTHORIZED
CLOSE_UNKNOWN_PATH = CloseCode.UNKNOWN_PATH

# Bounds on what a client may send; a text message past this closes with 1009.
MAX_TEXT_MESSAGE_BYTES = 64 * 1024
MAX_DIMENSION = 16384
MAX_STRING = 256

_HEADER_LEN = struct.Struct("<I")


class ProtocolError(Exception):
    """A peer broke the protocol; ``close_code`` and ``reason`` go into the close frame."""

    def __init__(self, close_code: int, reason: str) -> None:
        super().__init__(reason)
        self.close_code = close_code
        # A close reason must fit in a control frame (123 bytes of UTF-8).
        self.reason = reason.encode("utf-8")[:123].decode("utf-8", "ignore")


# ---------------------------------------------------------------------------
# Binary envelope


def pack_envelope(header: dict[str, Any], payload: bytes | bytearray | memoryview) -> bytes:
    """Pack one binary message: length-prefixed compact JSON header, then the payload."""
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return b"".join((_HEADER_LEN.pack(len(head)), head, payload))


def unpack_envelope(data: bytes | bytearray | memoryview) -> tuple[dict[str, Any], bytes]:
    """Split a binary message into its header dict and payload bytes."""
    view = memoryview(data)
    if len(view) < 4:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "binary message shorter than 4 bytes")
    (n,) = _HEADER_LEN.unpack_from(view, 0)
    if len(view) < 4 + n:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"header length {n} exceeds message")
    try:
        header = json.loads(bytes(view[4 : 4 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # deep nesting recurses
        raise ProtocolError(CLOSE_INVALID_PAYLOAD, f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "header is not a JSON object")
    return header, bytes(view[4 + n :])


def _frame_size(
    header: dict[str, Any], width: int, height: int, frame_size: tuple[int, int] | None
) -> None:
    """rfb addition: a picture coded smaller than the frame (a lower rung of the quality
    ladder) says the frame's size, which viewers draw it at and map input to. Sent only to
    viewers that said ``scaled_frames`` in hello."""
    if frame_size is not None and frame_size != (width, height):
        header["frame_width"], header["frame_height"] = frame_size


@dataclass(frozen=True, slots=True)
class ImageFrameHeader:
    """The header of a binary message carrying one encoded image."""

    seq: int
    timestamp_us: int
    width: int
    height: int
    mime: str
    pixel_ratio: float = 1.0  # sent only when not 1
    # The frame's size when the picture is coded smaller (sent only when it differs).
    frame_size: tuple[int, int] | None = None
    # rfb addition: the resting frame bit-exact (a lossless PNG at full size), drawn over
    # the video; sent only when true.
    exact: bool = False
    # rfb addition, WebRTC only: the RTP timestamp (on the wire) of the video frame this
    # picture shows exactly; the client draws no video frame of that timestamp over it.
    rtp_timestamp: int | None = None
    # rfb addition, per viewer (click-to-photon): the newest input number of this viewer
    # that the frame reflects, sent only on the first frame that does (session/photon.py).
    input_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        header: dict[str, Any] = {
            "type": "image_frame",
            "seq": self.seq,
            "timestamp_us": self.timestamp_us,
            "width": self.width,
            "height": self.height,
            "mime": self.mime,
        }
        if self.pixel_ratio != 1.0:
            header["pixel_ratio"] = self.pixel_ratio
        _frame_size(header, self.width, self.height, self.frame_size)
        if self.exact:
            header["exact"] = True
        if self.rtp_timestamp is not None:
            header["rtp_timestamp"] = self.rtp_timestamp
        if self.input_seq is not None:
            header["input_seq"] = self.input_seq
        return header

    def pack(self, payload: bytes | bytearray | memoryview) -> bytes:
        """The binary message: this header, then ``payload``."""
        return pack_envelope(self.as_dict(), payload)


@dataclass(frozen=True, slots=True)
class VideoChunkHeader:
    """The header of a binary message carrying one H.264 access unit (Annex B)."""

    seq: int
    timestamp_us: int
    width: int
    height: int
    codec: str
    keyframe: bool
    duration_us: int | None = None
    pixel_ratio: float = 1.0  # sent only when not 1
    color: Mapping[str, Any] | None = None  # rfb sends it on keyframes
    # The frame's size when the picture is coded smaller (sent only when it differs).
    frame_size: tuple[int, int] | None = None
    # rfb addition, per viewer (click-to-photon): as ImageFrameHeader.input_seq.
    input_seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        header: dict[str, Any] = {
            "type": "video_chunk",
            "seq": self.seq,
            "timestamp_us": self.timestamp_us,
            "width": self.width,
            "height": self.height,
            "codec": self.codec,
            "bitstream": "annexb",
            "keyframe": self.keyframe,
        }
        if self.duration_us is not None:
            header["duration_us"] = self.duration_us
        if self.pixel_ratio != 1.0:
            header["pixel_ratio"] = self.pixel_ratio
        if self.color:
            header["color"] = dict(self.color)
        _frame_size(header, self.width, self.height, self.frame_size)
        if self.input_seq is not None:
            header["input_seq"] = self.input_seq
        return header

    def pack(self, payload: bytes | bytearray | memoryview) -> bytes:
        """The binary message: this header, then ``payload``."""
        return pack_envelope(self.as_dict(), payload)


FrameHeader = ImageFrameHeader | VideoChunkHeader

# rfb addition, WebRTC: a binary message too big for one data-channel message (an exact
# still) goes over the ``rfb`` channel in parts of at most CHANNEL_PART_MAX bytes (what
# aiortc's SCTP and Chromium both carry): each part is an 8-byte prefix, u32 LE message
# id, u16 LE part index, u16 LE part count, then the next slice of the message.
CHANNEL_PART_MAX = 64 * 1024
CHANNEL_PART_PREFIX = 8


def channel_parts(message: bytes, message_id: int) -> list[bytes]:
    """``message`` as data-channel parts (see CHANNEL_PART_MAX); ValueError when it would
    take more than 65535."""
    step = CHANNEL_PART_MAX - CHANNEL_PART_PREFIX
    count = max(1, -(-len(message) // step))
    if count > 0xFFFF:
        raise ValueError(f"message of {len(message)} bytes is too big for the data channel")
    head = struct.Struct("<IHH")
    mid = message_id & 0xFFFFFFFF
    return [head.pack(mid, i, count) + message[i * step : (i + 1) * step] for i in range(count)]


# ---------------------------------------------------------------------------
# Client -> server control messages


@dataclass(frozen=True, slots=True)
class Hello:
    supported: tuple[str, ...]
    device_pixel_ratio: float
    token: str | None
    # rfb addition: the client draws pictures coded smaller than the frame at the frame's
    # size (frame_width/frame_height) and maps input to frame pixels, so it may be given
    # the ladder's scaled rungs. 0.x clients do not say it and get full-size rungs only.
    scaled_frames: bool = False
    # rfb addition: the viewer asks to watch only; its input is then never delivered.
    view_only: bool = False
    # rfb addition: the server -> viewer messages it understands (FEATURES); a 0.x client
    # says none and is sent none of them.
    features: frozenset[str] = frozenset()
    # The message as sent, unknown fields included (what an authenticate hook is shown).
    fields: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Ack:
    seq: int
    decode_queue_size: int
    displayed: bool
    # rfb addition: when the client received the frame, in ms on its own clock (any
    # origin); the path estimate uses the spacing, free of decode time.
    received_ms: float | None = None


@dataclass(frozen=True, slots=True)
class RequestKeyframe:
    reason: str


@dataclass(frozen=True, slots=True)
class DecoderReset:
    pass


@dataclass(frozen=True, slots=True)
class SetViewport:
    width: float
    height: float
    pwidth: int
    pheight: int
    ratio: float

    def as_resize_event(self) -> dict[str, Any]:
        return {
            "type": "resize",
            "width": self.width,
            "height": self.height,
            "pwidth": self.pwidth,
            "pheight": self.pheight,
            "ratio": self.ratio,
        }


@dataclass(frozen=True, slots=True)
class InputEventMessage:
    event: dict[str, Any]
    # rfb addition (click-to-photon): the viewer's number for this input, growing per
    # connection; optional (pdum.rfb clients send none, and get no samples).
    input_seq: int | None = None


@dataclass(frozen=True, slots=True)
class InputPhoton:
    """rfb addition (click-to-photon): the viewer drew the first frame that reflects its
    input ``input_seq``, ``ms`` after it sent that input (session/photon.py)."""

    input_seq: int
    ms: float


@dataclass(frozen=True, slots=True)
class InputFrame:
    """rfb addition, WebRTC, server -> viewer on the data channel (click-to-photon): the
    video frame with this RTP timestamp (on the wire) is the first this viewer gets that
    reflects its input ``input_seq``; later frames reflect it too."""

    rtp_timestamp: int
    input_seq: int

    def as_dict(self) -> dict[str, Any]:
        return {"type": "input_frame", "rtp_timestamp": self.rtp_timestamp,
                "input_seq": self.input_seq}  # fmt: skip

    def encode(self) -> str:
        return dumps(self.as_dict())


@dataclass(frozen=True, slots=True)
class FrameShown:
    """WebRTC: the browser drew the frame with this RTP timestamp (rfb addition)."""

    rtp_timestamp: int
    received_ms: float | None = None  # when its last packet arrived, client clock (ms)


@dataclass(frozen=True, slots=True)
class RequestControl:
    """Ask for the control floor (rfb addition; streams with ``control="exclusive"``)."""


@dataclass(frozen=True, slots=True)
class ReleaseControl:
    """Let go of the floor, or withdraw a waiting request (rfb addition)."""


@dataclass(frozen=True, slots=True)
class GiveControl:
    """The holder hands the floor to another viewer (rfb addition)."""

    client_id: str


@dataclass(frozen=True, slots=True)
class PresencePointer:
    """Where this viewer's pointer is, in frame pixels, for the others' views (rfb
    addition; streams with ``presence=True``); ``inside`` false: it left the view."""

    x: float
    y: float
    inside: bool = True


# rfb addition: files both ways (docs/internals/protocol.md, "Files"). Upload: the viewer
# offers a file (``file_offer``), the server accepts or refuses it (``file_status``), then
# the viewer sends binary ``file_chunk`` envelopes in order, at most FILE_WINDOW bytes ahead
# of the server's acks. Download: the server offers (``file_offer``), sends chunks, the
# viewer acks them (``file_ack``). Either side may cancel (``file_cancel``).
FEATURE_FILES = "files"
FILE_CHUNK_MAX = 60 * 1024  # payload bytes of one file_chunk (its envelope fits 64 KiB)
MAX_BINARY_MESSAGE_BYTES = 64 * 1024  # a binary message from a client, envelope included
FILE_WINDOW = 4 * FILE_CHUNK_MAX  # bytes sent and not yet acknowledged, either way
MAX_FILE_ID = 2**31 - 1
MAX_FILE_SIZE = 2**53 - 1
MAX_FILE_NAME = 255  # characters
MAX_MIME = 127


@dataclass(frozen=True, slots=True)
class FileOffer:
    """A viewer offers a file (rfb addition): its ``id`` (the viewer's choice, unique among
    its uploads in progress), ``name``, ``size`` in bytes and ``mime`` type."""

    id: int
    name: str
    size: int
    mime: str = ""


@dataclass(frozen=True, slots=True)
class FileCancel:
    """A viewer abandons an upload of its own, or refuses a download (rfb addition)."""

    id: int
    download: bool = False  # the id is the server's (a download)


@dataclass(frozen=True, slots=True)
class FileAck:
    """A viewer received ``received`` bytes of a download so far (rfb addition)."""

    id: int
    received: int


@dataclass(frozen=True, slots=True)
class FileChunk:
    """One binary ``file_chunk``: ``data`` belongs at ``offset`` of upload ``id``."""

    id: int
    offset: int
    data: bytes


FileMessage = FileOffer | FileCancel | FileAck


def _file_id(msg: dict[str, Any], where: str) -> int:
    value = _get(msg, "id", int, where)
    if not 0 <= value <= MAX_FILE_ID:
        raise _bad(f"{where}: field 'id' out of range [0, {MAX_FILE_ID}]")
    return int(value)


def _file_count(msg: dict[str, Any], key: str, where: str) -> int:
    value = _get(msg, key, int, where)
    if not 0 <= value <= MAX_FILE_SIZE:
        raise _bad(f"{where}: field {key!r} out of range [0, 2**53 - 1]")
    return int(value)


def _parse_file_message(kind: str, msg: dict[str, Any]) -> FileMessage:
    if kind == "file_offer":
        name = _string(msg, "name", kind, limit=MAX_FILE_NAME)
        mime = _string(msg, "mime", kind, required=False, limit=MAX_MIME)
        assert name is not None
        return FileOffer(_file_id(msg, kind), name, _file_count(msg, "size", kind), mime or "")
    if kind == "file_cancel":
        download = _opt(msg, "download", bool, kind)
        return FileCancel(_file_id(msg, kind), bool(download))
    return FileAck(_file_id(msg, kind), _file_count(msg, "received", kind))


# rfb addition: the viewer's microphone, binary ``audio_in`` envelopes (one Opus packet
# each; rfb/session/audio_in.py, docs/internals/protocol.md).
AUDIO_IN_MAX = 4000  # payload bytes of one audio_in packet (Opus: 1275 per 20 ms frame)
AUDIO_IN_RATES = frozenset({8000, 12000, 16000, 24000, 48000})  # Opus's rates
AUDIO_IN_DURATION_US = (2_500, 120_000)  # Opus frames: 2.5 ms .. 120 ms
MAX_AUDIO_SEQ = 2**53 - 1


@dataclass(frozen=True, slots=True)
class AudioIn:
    """One binary ``audio_in`` from a viewer: an Opus packet of its microphone, its first
    sample captured at ``timestamp_us`` on the viewer's clock."""

    seq: int
    timestamp_us: int
    duration_us: int
    sample_rate: int
    channels: int
    data: bytes
    codec: str = "opus"

    def as_dict(self) -> dict[str, Any]:
        return {"type": "audio_in", "seq": self.seq, "timestamp_us": self.timestamp_us,
                "duration_us": self.duration_us, "codec": self.codec,
                "sample_rate": self.sample_rate, "channels": self.channels}  # fmt: skip

    def pack(self) -> bytes:
        return pack_envelope(self.as_dict(), self.data)


def _parse_audio_in(header: dict[str, Any], payload: bytes) -> AudioIn:
    where = "audio_in"
    if len(payload) > AUDIO_IN_MAX:
        raise ProtocolError(CLOSE_TOO_BIG, f"audio_in packet of {len(payload)} bytes is too big")
    if not payload:
        raise _bad(f"{where}: empty packet")
    codec = _string(header, "codec", where)
    if codec != "opus":
        raise ProtocolError(CLOSE_UNSUPPORTED_DATA, f"{where}: codec {codec!r} is not 'opus'")
    seq = _get(header, "seq", int, where)
    if not 0 <= seq <= MAX_AUDIO_SEQ:
        raise _bad(f"{where}: field 'seq' out of range [0, 2**53 - 1]")
    ts = _get(header, "timestamp_us", int, where)
    if not -MAX_AUDIO_SEQ <= ts <= MAX_AUDIO_SEQ:
        raise _bad(f"{where}: field 'timestamp_us' out of range")
    lo, hi = AUDIO_IN_DURATION_US
    duration = _get(header, "duration_us", int, where)
    if not lo <= duration <= hi:
        raise _bad(f"{where}: field 'duration_us' out of range [{lo}, {hi}]")
    rate = _get(header, "sample_rate", int, where)
    if rate not in AUDIO_IN_RATES:
        raise _bad(f"{where}: field 'sample_rate' must be one of {sorted(AUDIO_IN_RATES)}")
    channels = _get(header, "channels", int, where)
    if channels not in (1, 2):
        raise _bad(f"{where}: field 'channels' must be 1 or 2")
    return AudioIn(int(seq), int(ts), int(duration), int(rate), int(channels), bytes(payload))


def parse_client_binary(data: bytes | bytearray | memoryview) -> FileChunk | AudioIn:
    """Parse one binary message from a viewer: a ``file_chunk`` envelope (``uint32 LE N``
    + N bytes of header JSON ``{"type":"file_chunk","id","offset"}`` + the chunk), or an
    ``audio_in`` one (header ``{"type":"audio_in","seq","timestamp_us","duration_us",
    "codec":"opus","sample_rate","channels"}`` + one Opus packet). Raises ProtocolError:
    1009 over MAX_BINARY_MESSAGE_BYTES, a chunk over FILE_CHUNK_MAX or a packet over
    AUDIO_IN_MAX, 1002/1007 for a broken envelope, 1003 for another kind of message or
    codec, 1008 for a bad field."""
    if len(data) > MAX_BINARY_MESSAGE_BYTES:
        raise ProtocolError(CLOSE_TOO_BIG, f"binary message of {len(data)} bytes is too big")
    header, payload = unpack_envelope(data)
    if header.get("type") == "audio_in":
        return _parse_audio_in(header, payload)
    if header.get("type") != "file_chunk":
        raise ProtocolError(CLOSE_UNSUPPORTED_DATA, "binary message is not a file chunk")
    if len(payload) > FILE_CHUNK_MAX:
        raise ProtocolError(CLOSE_TOO_BIG, f"file chunk of {len(payload)} bytes is too big")
    where = "file_chunk"
    return FileChunk(_file_id(header, where), _file_count(header, "offset", where), payload)


ControlMessage = RequestControl | ReleaseControl | GiveControl
ClientMessage = (
    Hello | Ack | RequestKeyframe | DecoderReset | SetViewport | InputEventMessage | FrameShown
    | InputPhoton | RequestControl | ReleaseControl | GiveControl | PresencePointer | FileMessage
)  # fmt: skip

# Input event types of the renderview vocabulary (jupyter_rfb / rendercanvas).
POINTER_EVENTS = frozenset(
    {"pointer_move", "pointer_down", "pointer_up", "pointer_enter", "pointer_leave", "double_click"}
)
KEY_EVENTS = frozenset({"key_down", "key_up"})
POINTER_TYPES = frozenset({"mouse", "touch", "pen"})  # PointerEvent.pointerType
# rfb additions: an application message (``data``: any JSON) and a viewer's paste.
# rfb addition: one gamepad's state (Gamepad API), sent by the viewer when it changes.
GAMEPAD_EVENT = "gamepad"
EVENT_TYPES = POINTER_EVENTS | KEY_EVENTS | {"wheel", "char", "message", "clipboard", GAMEPAD_EVENT}
MAX_CLIPBOARD = 60_000  # characters of pasted text in one clipboard event
MAX_GAMEPADS = 4  # pad indexes 0..3, as browsers number them
MAX_GAMEPAD_BUTTONS = 32
MAX_GAMEPAD_AXES = 16
MAX_GAMEPAD_MAPPING = 32  # "", "standard", "xr-standard"
# Server -> viewer messages a client may announce in hello's ``features`` (rfb additions).
NOTICE_FEATURES = frozenset(
    {"messages", "cursor", "clipboard", "pointer_lock", "control", "presence"}
)
MAX_CLIENT_ID = 64  # characters of a client id a viewer names (give_control)
# The client draws an image_frame with "exact": true (an exact still) over its video.
FEATURE_EXACT_STILL = "exact_still"
# rfb addition: the client plays the program's sound (binary ``audio_chunk`` messages).
FEATURE_AUDIO = "audio"
FEATURES = NOTICE_FEATURES | {FEATURE_EXACT_STILL, FEATURE_FILES, FEATURE_AUDIO}
MODIFIERS = frozenset({"Shift", "Control", "Alt", "Meta"})


def _bad(reason: str) -> ProtocolError:
    return ProtocolError(CLOSE_POLICY_VIOLATION, reason)


def _get(obj: dict[str, Any], key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise _bad(f"{where}: missing field {key!r}")
    value = obj[key]
    # bool is an int subclass; a JSON true is never a valid number here.
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise _bad(f"{where}: field {key!r} has the wrong type")
    if not isinstance(value, kinds):
        raise _bad(f"{where}: field {key!r} has the wrong type")
    return value


def _opt(obj: dict[str, Any], key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    return _get(obj, key, kinds, where) if key in obj else None


def _number(
    obj: dict[str, Any], key: str, where: str, lo: float, hi: float, required: bool = True
) -> float | None:
    if not required and key not in obj:
        return None
    value = _get(obj, key, (int, float), where)
    # Range first: math.isfinite raises OverflowError on an int too big for a float.
    if not lo <= value <= hi or not math.isfinite(value):
        raise _bad(f"{where}: field {key!r} out of range [{lo}, {hi}]")
    return value


def _string(
    obj: dict[str, Any], key: str, where: str, required: bool = True, limit: int = MAX_STRING
) -> str | None:
    value = _get(obj, key, str, where) if required else _opt(obj, key, str, where)
    if value is not None and len(value) > limit:
        raise _bad(f"{where}: field {key!r} longer than {limit}")
    # A "\ud800" escape decodes to a lone surrogate, which no UTF-8 consumer can encode.
    if value is not None and not value.isascii() and any("\ud800" <= c <= "\udfff" for c in value):
        raise ProtocolError(CLOSE_INVALID_PAYLOAD, f"{where}: field {key!r} is not valid Unicode")
    return value


def _int_list(obj: dict[str, Any], key: str, where: str) -> None:
    if key not in obj:
        return
    value = _get(obj, key, list, where)
    if len(value) > 8 or not all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 16 for b in value
    ):
        raise _bad(f"{where}: field {key!r} must be a short list of button numbers")


def _modifiers(obj: dict[str, Any], where: str) -> None:
    if "modifiers" not in obj:
        return
    value = _get(obj, "modifiers", list, where)
    if len(value) > 8 or not all(isinstance(m, str) and m in MODIFIERS for m in value):
        raise _bad(f"{where}: modifiers must be a list of {sorted(MODIFIERS)}")


def _gamepad(event: dict[str, Any], where: str) -> None:
    """A gamepad's state: ``index`` (0..3), ``connected``, and optionally ``id``,
    ``mapping``, ``buttons`` (at most 32 of ``{"pressed", "value"}`` with ``touched``?,
    value 0..1) and ``axes`` (at most 16 numbers, -1..1)."""
    index = _get(event, "index", int, where)
    if not 0 <= index < MAX_GAMEPADS:
        raise _bad(f"{where}: field 'index' out of range [0, {MAX_GAMEPADS - 1}]")
    _get(event, "connected", bool, where)
    _string(event, "id", where, required=False)
    _string(event, "mapping", where, required=False, limit=MAX_GAMEPAD_MAPPING)
    buttons = _opt(event, "buttons", list, where)
    if buttons is not None:
        if len(buttons) > MAX_GAMEPAD_BUTTONS:
            raise _bad(f"{where}: more than {MAX_GAMEPAD_BUTTONS} buttons")
        for button in buttons:
            if not isinstance(button, dict):
                raise _bad(f"{where}: a button must be an object with 'pressed' and 'value'")
            _get(button, "pressed", bool, f"{where} button")
            _number(button, "value", f"{where} button", 0, 1)
            _opt(button, "touched", bool, f"{where} button")
    axes = _opt(event, "axes", list, where)
    if axes is not None:
        if len(axes) > MAX_GAMEPAD_AXES:
            raise _bad(f"{where}: more than {MAX_GAMEPAD_AXES} axes")
        for axis in axes:
            # bool is an int; NaN and the infinities are not in range.
            if isinstance(axis, bool) or not isinstance(axis, (int, float)) or not -1 <= axis <= 1:
                raise _bad(f"{where}: an axis must be a finite number in [-1, 1]")


def validate_input_event(event: Any) -> dict[str, Any]:
    """Check one renderview input event; extra fields pass through untouched."""
    if not isinstance(event, dict):
        raise _bad("event: 'event' must be an object")
    kind = _string(event, "type", "event")
    if kind not in EVENT_TYPES:
        raise _bad(f"event: unknown event type {kind!r}")
    where = f"event {kind}"
    coord = float(4 * MAX_DIMENSION)
    if kind in POINTER_EVENTS or kind == "wheel":
        _number(event, "x", where, -coord, coord)
        _number(event, "y", where, -coord, coord)
        _opt(event, "inside", bool, where)
        _number(event, "pixel_ratio", where, 0.01, 100, required=False)
        _number(event, "button", where, 0, 16, required=False)
        _int_list(event, "buttons", where)
        # Touch and pen: each finger is its own pointer_id; pressure 0..1, tilt in degrees.
        if "pointer_id" in event:
            pid = _get(event, "pointer_id", int, where)
            if not 0 <= pid <= 2**31 - 1:
                raise _bad(f"{where}: field 'pointer_id' out of range [0, 2147483647]")
        ptype = _string(event, "pointer_type", where, required=False)
        if ptype is not None and ptype not in POINTER_TYPES:
            raise _bad(f"{where}: unknown pointer_type {ptype!r} (one of {sorted(POINTER_TYPES)})")
        _number(event, "pressure", where, 0, 1, required=False)
        _number(event, "tilt_x", where, -90, 90, required=False)
        _number(event, "tilt_y", where, -90, 90, required=False)
    if kind == "wheel":
        _number(event, "dx", where, -1e7, 1e7)
        _number(event, "dy", where, -1e7, 1e7)
    if kind in KEY_EVENTS:
        _string(event, "key", where)
        _string(event, "code", where, required=False)
    if kind == "char":
        _string(event, "data", where, required=False)
    if kind == "message" and "data" not in event:
        raise _bad(f"{where}: missing field 'data'")  # any JSON; the message size bounds it
    if kind == "clipboard":
        _string(event, "text", where, limit=MAX_CLIPBOARD)
    if kind == GAMEPAD_EVENT:
        _gamepad(event, where)
    if kind == "pointer_move":
        # Pointer lock: relative motion in CSS pixels while the pointer is locked.
        _opt(event, "locked", bool, where)
        _number(event, "dx", where, -1e7, 1e7, required=False)
        _number(event, "dy", where, -1e7, 1e7, required=False)
    _modifiers(event, where)
    _number(event, "timestamp", where, -1e12, 1e13, required=False)
    return event


MAX_PHOTON_MS = 600_000.0  # an input_photon sample longer than 10 minutes is nonsense


def _input_seq(msg: dict[str, Any], where: str) -> int:
    seq = _get(msg, "input_seq", int, where)
    if not 0 <= seq < 2**53:
        raise _bad(f"{where}: 'input_seq' out of range")
    return int(seq)


# The ack exactly as the browser (protocol.ts) and build_ack write it: parsed without the
# JSON decoder, since every viewer sends one per frame. Anything else, or a value out of
# range, takes the full path below (same result, same errors).
_ACK_FAST = re.compile(
    r'\{"type":"ack","seq":(0|[1-9][0-9]{0,15}),"decode_queue_size":(0|[1-9][0-9]{0,6}),'
    r'"displayed":(true|false)(?:,"received_ms":(-?(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,17})?))?\}'
)


def fast_ack(text: str) -> tuple[int, int, bool, float | None] | None:
    """An ack in the browser's exact shape, as (seq, decode_queue_size, displayed,
    received_ms): what ``parse_client_message`` would make of it. None for any other text
    (which parse_client_message then parses, or refuses, in full)."""
    m = _ACK_FAST.fullmatch(text)
    if m is None:
        return None
    seq, dq = int(m[1]), int(m[2])
    received: float | None = None
    if m[4] is not None:
        received = float(m[4]) if "." in m[4] else int(m[4])
        if not -1e15 <= received <= 1e15:
            return None
    if seq >= 2**53 or dq >= 1 << 20:
        return None
    return seq, dq, m[3] == "true", received


def _fast_ack(text: str) -> Ack | None:
    fields = fast_ack(text)
    return None if fields is None else Ack(*fields)


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse and validate one text message from a viewer.

    Raises ProtocolError with the close code the connection should be closed with.
    Unknown extra fields are ignored (peers extend the protocol additively);
    unknown message types, missing fields, wrong types and out-of-range values are errors.
    """
    if isinstance(text, str) and text.startswith('{"type":"ack",'):
        ack = _fast_ack(text)
        if ack is not None:
            return ack
    # surrogatepass: a str holding a lone surrogate is measured, not a UnicodeEncodeError.
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > MAX_TEXT_MESSAGE_BYTES:
        raise ProtocolError(CLOSE_TOO_BIG, f"text message of {size} bytes is too big")
    try:
        msg = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: deep nesting
        raise ProtocolError(CLOSE_INVALID_PAYLOAD, "control message is not valid JSON") from None
    if not isinstance(msg, dict):
        raise _bad("control message must be a JSON object")
    kind = _string(msg, "type", "message")
    if kind == "hello":
        supported = _get(msg, "supported", list, "hello")
        if len(supported) > 64 or not all(isinstance(c, str) and len(c) <= 128 for c in supported):
            raise _bad("hello: 'supported' must be a list of capability strings")
        dpr = _number(msg, "device_pixel_ratio", "hello", 0.01, 100, required=False)
        token = _string(msg, "token", "hello", required=False)
        scaled = _opt(msg, "scaled_frames", bool, "hello")
        view_only = _opt(msg, "view_only", bool, "hello")
        features = _opt(msg, "features", list, "hello") or []
        if len(features) > 16 or not all(isinstance(f, str) and len(f) <= 32 for f in features):
            raise _bad("hello: 'features' must be a short list of feature names")
        return Hello(
            tuple(supported), float(dpr or 1.0), token, bool(scaled), bool(view_only),
            frozenset(features) & FEATURES, msg,
        )  # fmt: skip
    if kind == "ack":
        seq = _get(msg, "seq", int, "ack")
        if not 0 <= seq < 2**53:
            raise _bad("ack: 'seq' out of range")
        dq = _opt(msg, "decode_queue_size", int, "ack") or 0
        if not 0 <= dq < 1 << 20:
            raise _bad("ack: 'decode_queue_size' out of range")
        displayed = _opt(msg, "displayed", bool, "ack")
        received = _number(msg, "received_ms", "ack", -1e15, 1e15, required=False)
        return Ack(seq, dq, True if displayed is None else displayed, received)
    if kind == "request_keyframe":
        return RequestKeyframe(_string(msg, "reason", "request_keyframe", required=False) or "")
    if kind == "decoder_reset":
        return DecoderReset()
    if kind == "set_viewport":
        w = "set_viewport"
        width = _number(msg, "width", w, 0, 4 * MAX_DIMENSION)
        height = _number(msg, "height", w, 0, 4 * MAX_DIMENSION)
        pwidth = _number(msg, "pwidth", w, 0, 4 * MAX_DIMENSION)
        pheight = _number(msg, "pheight", w, 0, 4 * MAX_DIMENSION)
        ratio = _number(msg, "ratio", w, 0.01, 100)
        return SetViewport(width, height, int(pwidth), int(pheight), float(ratio))  # type: ignore[arg-type]
    if kind == "event":
        event = validate_input_event(msg.get("event"))
        if "input_seq" not in msg:
            return InputEventMessage(event)
        return InputEventMessage(event, _input_seq(msg, "event"))
    if kind == "input_photon":
        seq = _input_seq(msg, "input_photon")
        ms = _number(msg, "ms", "input_photon", 0, MAX_PHOTON_MS)
        return InputPhoton(seq, float(ms))  # type: ignore[arg-type]
    if kind == "frame_shown":
        rtp = _get(msg, "rtp_timestamp", int, "frame_shown")
        if not 0 <= rtp < 2**32:
            raise _bad("frame_shown: 'rtp_timestamp' must be a 32-bit RTP timestamp")
        received = _number(msg, "received_ms", "frame_shown", -1e15, 1e15, required=False)
        return FrameShown(rtp, received)
    if kind == "request_control":
        return RequestControl()
    if kind == "release_control":
        return ReleaseControl()
    if kind == "give_control":
        to = _string(msg, "client_id", "give_control", limit=MAX_CLIENT_ID)
        assert to is not None
        return GiveControl(to)
    if kind == "presence":
        coord = float(4 * MAX_DIMENSION)
        x = _number(msg, "x", "presence", -coord, coord)
        y = _number(msg, "y", "presence", -coord, coord)
        inside = _opt(msg, "inside", bool, "presence")
        return PresencePointer(float(x), float(y), inside is not False)  # type: ignore[arg-type]
    if kind in ("file_offer", "file_cancel", "file_ack"):
        return _parse_file_message(kind, msg)
    raise _bad(f"unknown message type {kind!r}")


# ---------------------------------------------------------------------------
# Connection state


HELLO_TIMEOUT_S = 10.0


class ConnectionState:
    """The order of a WebSocket viewer's messages, sans I/O: ``hello`` first, only once,
    and within ``hello_timeout`` seconds of the connection opening.

    The transport waits at most ``hello_wait(now)`` for the first message, hands every
    parsed message to ``receive`` (which raises ProtocolError with the close code and
    reason when the order is wrong or the hello late), and calls ``expired()`` when its
    wait ran out. All times are seconds on the caller's clock."""

    __slots__ = ("deadline", "greeted")

    def __init__(self, opened_at: float, hello_timeout: float = HELLO_TIMEOUT_S) -> None:
        self.deadline = opened_at + hello_timeout
        self.greeted = False  # hello accepted

    def hello_wait(self, now: float) -> float | None:
        """How long the transport may still wait for hello; None once it came."""
        return None if self.greeted else max(0.0, self.deadline - now)

    def timed_out(self, now: float) -> bool:
        """No hello, and its time is up."""
        return not self.greeted and now >= self.deadline

    def expired(self) -> ProtocolError:
        """The error to close with when the wait for hello ran out."""
        return ProtocolError(CLOSE_PROTOCOL_ERROR, "no hello received")

    def check(self, now: float) -> None:
        """Raise ProtocolError (1002) if hello has not come in time."""
        if self.timed_out(now):
            raise self.expired()

    def receive(self, msg: ClientMessage, now: float) -> ClientMessage:
        """Accept ``msg`` (returned) or raise ProtocolError: anything before hello, a late
        hello or a second one closes with 1002."""
        if self.greeted:
            if isinstance(msg, Hello):
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "hello sent twice")
            return msg
        self.check(now)
        if not isinstance(msg, Hello):
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "the first message must be hello")
        self.greeted = True
        return msg


# ---------------------------------------------------------------------------
# Server -> client control messages: one frozen dataclass per message, each with one
# encoder (``encode()``, the text sent); golden vectors in tests/fixtures/server-messages/.


def dumps(msg: dict[str, Any]) -> str:
    """Compact JSON, non-ASCII escaped (config, stats, close; clients' own messages)."""
    return json.dumps(msg, separators=(",", ":"))


def _dumps_notice(msg: dict[str, Any]) -> str:
    """What the application says to viewers: compact UTF-8 JSON (no NaN), at most
    MAX_TEXT_MESSAGE_BYTES. TypeError for what is not JSON, ValueError over the bound."""
    try:
        text = json.dumps(msg, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"a message to viewers must be JSON: {exc}") from None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_MESSAGE_BYTES:
        raise ValueError(f"message of {size} bytes is over the {MAX_TEXT_MESSAGE_BYTES}-byte limit")
    return text


@dataclass(frozen=True, slots=True)
class Config:
    """``config``: what the viewer will receive, before any frame (WebRTC: on connect and
    when the frame size changes). Optional fields are sent only when set."""

    transport: str  # "image" | "webcodecs" | "webrtc"
    width: int
    height: int
    codec: str | None = None  # video: the WebCodecs codec string
    pixel_ratio: float = 1.0  # 0.x: sent only when not 1
    color: Mapping[str, Any] | None = None  # video: the colour description
    # rfb additions
    mime: str | None = None  # image transport: the image format
    client_id: str | None = None  # the id this viewer's input events carry
    view_only: bool = False  # its input will not be delivered (sent only when true)
    # The STUN/TURN servers of the stream's WHEP, as RTCIceServer dicts ([] when none);
    # None when the stream serves no WebRTC.
    ice_servers: tuple[Mapping[str, Any], ...] | None = None
    webrtc: str | None = None  # WebSocket viewers: where the stream's WHEP is served
    microphone: bool = False  # the stream takes the viewers' microphones (sent only when true)

    def as_dict(self) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "config",
            "transport": self.transport,
            "width": self.width,
            "height": self.height,
            "coords": "frame-pixels",
        }
        if self.codec is not None:
            msg["codec"] = self.codec
        if self.pixel_ratio != 1.0:
            msg["pixel_ratio"] = self.pixel_ratio
        if self.color:
            msg["color"] = dict(self.color)
        if self.mime is not None:
            msg["mime"] = self.mime
        if self.client_id is not None:
            msg["client_id"] = self.client_id
        if self.view_only:
            msg["view_only"] = True
        if self.ice_servers is not None:
            msg["ice_servers"] = [dict(s) for s in self.ice_servers]
        if self.webrtc is not None:
            msg["webrtc"] = self.webrtc
        if self.microphone:
            msg["microphone"] = True
        return msg

    def encode(self) -> str:
        return dumps(self.as_dict())


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, looked up once (every viewer's stats each second asks)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


@dataclass(frozen=True, slots=True)
class StatsAdaptation:
    """The adaptation figures in ``stats`` (rfb addition; absent for a viewer the hub
    no longer knows). The rung's target bitrate and fps are Stats' target_* fields."""

    rung: int  # this viewer's rung, 0 = top, among the ones it may use
    rungs: int
    target_rung: int | None
    rung_width: int
    rung_height: int
    rung_quality: int | None  # image rungs
    estimate_bps: int | None
    queue_ms: float | None
    rung_switches: int
    adapt_reason: str | None

    @classmethod
    def from_figures(cls, figures: Mapping[str, Any]) -> StatsAdaptation:
        """From ``Hub.adaptation()``'s figures (those it has beyond these are not sent)."""
        return cls(*(figures[name] for name in _field_names(cls)))


@dataclass(frozen=True, slots=True)
class StatsWebRtc:
    """What ``stats`` adds over WebRTC (rfb addition)."""

    keyframe_requests: int  # PLI/FIR from the browser
    remb_bps: int | None  # the browser's last REMB
    fraction_lost: float | None  # from its last receiver report
    pacing_bps: int


@dataclass(frozen=True, slots=True)
class StatsStills:
    """The stills this viewer was sent (rfb addition; in ``stats`` once it had one)."""

    exact_stills_sent: int  # the resting frame bit-exact (lossless PNG)
    near_lossless_stills_sent: int  # the still encoder's (CRF IDR, high-quality image)
    last_still: str | None  # "exact" | "near_lossless"


@dataclass(frozen=True, slots=True)
class Stats:
    """``stats``, about once a second. The 0.x fields, then rfb's; every field is sent
    (``null`` when not known), the adaptation and WebRTC groups when given."""

    rtt_ms: float | None
    fps_sent: float
    fps_acked: float
    bitrate_bps: int
    encode_ms: float | None
    decode_queue_size: int
    dropped: int
    target_bitrate: int | None
    target_fps: float
    # rfb additions
    latency_ms: float | None
    latency_p95_ms: float | None
    latency_source: str | None  # "ack" | "shown" | None
    viewers: int
    client_id: str
    adaptation: StatsAdaptation | None = None
    webrtc: StatsWebRtc | None = None
    stills: StatsStills | None = None

    def as_dict(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "stats"}
        for name in _field_names(type(self)):
            if name not in ("adaptation", "webrtc", "stills"):
                msg[name] = getattr(self, name)
        for group in (self.adaptation, self.webrtc, self.stills):
            if group is not None:
                msg.update((name, getattr(group, name)) for name in _field_names(type(group)))
        return msg

    def encode(self) -> str:
        return dumps(self.as_dict())


@dataclass(frozen=True, slots=True)
class Close:
    """``close`` (rfb addition, WebRTC data channel): why the server is about to close the
    peer connection (the WebSocket says it in its close frame)."""

    code: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"type": "close", "code": int(self.code), "reason": self.reason}

    def encode(self) -> str:
        return dumps(self.as_dict())


# CSS cursor keywords (CSS UI 4): what a ``cursor`` message may name.
CURSORS = frozenset(
    [
        "auto",
        "default",
        "none",
        "context-menu",
        "help",
        "pointer",
        "progress",
        "wait",
        "cell",
        "crosshair",
        "text",
        "vertical-text",
        "alias",
        "copy",
        "move",
        "no-drop",
        "not-allowed",
        "grab",
        "grabbing",
        "all-scroll",
        "col-resize",
        "row-resize",
        "n-resize",
        "e-resize",
        "s-resize",
        "w-resize",
        "ne-resize",
        "nw-resize",
        "se-resize",
        "sw-resize",
        "ew-resize",
        "ns-resize",
        "nesw-resize",
        "nwse-resize",
        "zoom-in",
        "zoom-out",
    ]
)
CURSOR_IMAGE_URL = re.compile(r"data:image/(png|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=]+")
MAX_CURSOR_IMAGE_BYTES = 32 * 1024  # a data: URL of a PNG, at most 128x128 in practice
MAX_HOTSPOT = 1024

# What the application says to viewers (rfb additions). Each goes only to viewers that
# listed its ``feature`` in hello's ``features``; encode() raises TypeError for what is
# not JSON and ValueError over MAX_TEXT_MESSAGE_BYTES.


@dataclass(frozen=True, slots=True)
class AppMessage:
    """``message``: any JSON the application sends (``display.send``)."""

    feature: ClassVar[str] = "messages"
    data: Any

    def as_dict(self) -> dict[str, Any]:
        return {"type": "message", "data": self.data}

    def encode(self) -> str:
        return _dumps_notice(self.as_dict())


@dataclass(frozen=True, slots=True)
class Cursor:
    """``cursor``: a CSS cursor name, or an image (a base64 ``data:`` URL) with its
    hotspot, ``cursor`` then being what the browser shows where it cannot. Checked here:
    ValueError for what a viewer must not be sent."""

    feature: ClassVar[str] = "cursor"
    cursor: str = "default"
    image: str | None = None
    hotspot: tuple[int, int] = (0, 0)  # sent with an image only

    def __post_init__(self) -> None:
        if self.cursor not in CURSORS:
            raise ValueError(
                f"unknown cursor {self.cursor!r}: a CSS cursor name such as 'crosshair'"
            )
        if self.image is None:
            return
        if not isinstance(self.image, str) or not CURSOR_IMAGE_URL.fullmatch(self.image):
            raise ValueError("cursor image must be PNG bytes or a base64 data: URL of an image")
        if len(self.image) > MAX_CURSOR_IMAGE_BYTES:
            raise ValueError(f"cursor image over {MAX_CURSOR_IMAGE_BYTES} bytes")
        x, y = self.hotspot
        ok = all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= MAX_HOTSPOT for c in (x, y)
        )
        if not ok:
            raise ValueError(
                f"cursor hotspot must be two ints in 0..{MAX_HOTSPOT}, got {self.hotspot!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "cursor", "cursor": self.cursor}
        if self.image is not None:
            msg["image"] = self.image
            msg["hotspot"] = list(self.hotspot)
        return msg

    def encode(self) -> str:
        return _dumps_notice(self.as_dict())


@dataclass(frozen=True, slots=True)
class Clipboard:
    """``clipboard``: text for the viewer's clipboard."""

    feature: ClassVar[str] = "clipboard"
    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"clipboard text must be a str, got {type(self.text).__name__}")

    def as_dict(self) -> dict[str, Any]:
        return {"type": "clipboard", "text": self.text}

    def encode(self) -> str:
        return _dumps_notice(self.as_dict())


@dataclass(frozen=True, slots=True)
class PointerLock:
    """``pointer_lock``: lock the pointer to the view (at the user's next click), or
    release it."""

    feature: ClassVar[str] = "pointer_lock"
    lock: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"type": "pointer_lock", "lock": bool(self.lock)}

    def encode(self) -> str:
        return _dumps_notice(self.as_dict())


@dataclass(frozen=True, slots=True)
class ControlState:
    """``control``: who holds the stream's control floor now (rfb addition). Sent on every
    change and on joining; ``holder``: a client id or null (nobody, or the application
    when ``app`` is true); ``name``: the holder's display name; ``waiting``: the client
    ids in line for it. ``refused``: sent to one viewer whose request was refused, why."""

    feature: ClassVar[str] = "control"
    mode: str
    holder: str | None = None
    app: bool = False
    name: str | None = None
    waiting: tuple[str, ...] = ()
    reason: str | None = None  # why it last changed (request, idle, released, ...)
    refused: str | None = None

    def as_dict(self) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "control",
            "mode": self.mode,
            "holder": self.holder,
            "app": self.app,
            "name": self.name,
            "waiting": list(self.waiting),
        }
        if self.reason is not None:
            msg["reason"] = self.reason
        if self.refused is not None:
            msg["refused"] = self.refused
        return msg

    def encode(self) -> str:
        return _dumps_notice(self.as_dict())


@dataclass(frozen=True, slots=True)
class ViewerInfo:
    """One line of ``viewers``."""

    client_id: str
    name: str | None  # the principal's display name (None without one)
    transport: str  # "websocket" | "webrtc"
    role: str  # "drive" | "view"
    control: bool  # holds the floor (shared streams: every viewer that drives)

    def as_dict(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "name": self.name, "transport": self.transport,
                "role": self.role, "control": self.control}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Viewers:
    """``viewers``: who is watching (rfb addition), sent on joins, leaves and floor
    changes; ``pointers``: whether the stream shares pointers (``presence=True``), so
    that the viewer sends its own."""

    feature: ClassVar[str] = "presence"
    viewers: tuple[ViewerInfo, ...]
    pointers: bool = False
    total: int | None = None  # how many watch, where ``viewers`` names only the first

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "viewers", "viewers": [v.as_dict() for v in self.viewers],
                             "pointers": self.pointers}  # fmt: skip
        if self.total is not None:
            d["total"] = self.total
        return d

    def encode(self) -> str:
        return _dumps_notice(self.as_dict())


@dataclass(frozen=True, slots=True)
class Pointers:
    """``pointers``: other viewers' pointers in frame pixels (rfb addition; at most 15 a
    second), each ``[client_id, x, y, inside]``; a viewer skips its own."""

    feature: ClassVar[str] = "presence"
    pointers: tuple[tuple[str, float, float, bool], ...]

    def as_dict(self) -> dict[str, Any]:
        pointers = [[c, round(x, 1), round(y, 1), i] for c, x, y, i in self.pointers]
        return {"type": "pointers", "pointers": pointers}

    def encode(self) -> str:
        return _dumps_notice(self.as_dict())


@dataclass(frozen=True, slots=True)
class FileStatus:
    """``file_status`` (rfb addition): what became of a viewer's upload ``id``. ``status``:
    ``accepted`` (send chunks: at most ``window`` bytes ahead of the acks, ``chunk`` bytes
    each), ``progress`` (an ack: ``received`` bytes taken), ``done`` (all of it; the
    application has it), ``refused`` (``reason``: ``disabled``, ``view_only``,
    ``control``, ``too_big``, ``busy``, ``refused``; ``max_bytes``: the stream's limit),
    ``failed`` (``reason``: ``timeout``, ``closed``). Sent to the uploader only."""

    id: int
    status: str
    received: int | None = None
    reason: str | None = None
    max_bytes: int | None = None
    window: int | None = None
    chunk: int | None = None

    def as_dict(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": "file_status", "id": self.id, "status": self.status}
        for name in ("received", "reason", "max_bytes", "window", "chunk"):
            value = getattr(self, name)
            if value is not None:
                msg[name] = value
        return msg

    def encode(self) -> str:
        return _dumps_notice(self.as_dict())


@dataclass(frozen=True, slots=True)
class FileOfferOut:
    """``file_offer`` (rfb addition, to viewers that listed ``files``): the application
    sends a file (``display.send_file``); its chunks follow as binary ``file_chunk``
    envelopes, in order, and the viewer acks them with ``file_ack``."""

    feature: ClassVar[str] = FEATURE_FILES
    id: int
    name: str
    size: int
    mime: str

    def as_dict(self) -> dict[str, Any]:
        return {"type": "file_offer", "id": self.id, "name": self.name, "size": self.size,
                "mime": self.mime}  # fmt: skip

    def encode(self) -> str:
        return _dumps_notice(self.as_dict())


@dataclass(frozen=True, slots=True)
class FileChunkHeader:
    """The header of a binary ``file_chunk`` envelope, both ways: ``data`` of file ``id``
    at ``offset`` (upload ids are the viewer's, download ids the server's)."""

    id: int
    offset: int

    def as_dict(self) -> dict[str, Any]:
        return {"type": "file_chunk", "id": self.id, "offset": self.offset}

    def pack(self, payload: bytes | bytearray | memoryview) -> bytes:
        return pack_envelope(self.as_dict(), payload)


@dataclass(frozen=True, slots=True)
class AudioChunkHeader:
    """The header of a binary ``audio_chunk`` message: one Opus packet (``duration_us`` of
    sound, 20 ms) whose first sample plays at ``timestamp_us`` on the frames' clock. Sent
    only to viewers that announced ``audio`` in hello. ``seq`` counts the stream's packets:
    a gap is a packet this viewer was not sent (dropped as late)."""

    seq: int
    timestamp_us: int
    duration_us: int
    channels: int
    codec: str = "opus"
    sample_rate: int = 48000

    def as_dict(self) -> dict[str, Any]:
        return {"type": "audio_chunk", "seq": self.seq, "timestamp_us": self.timestamp_us,
                "duration_us": self.duration_us, "codec": self.codec,
                "sample_rate": self.sample_rate, "channels": self.channels}  # fmt: skip

    def pack(self, payload: bytes | bytearray | memoryview) -> bytes:
        return pack_envelope(self.as_dict(), payload)


Notice = AppMessage | Cursor | Clipboard | PointerLock | ControlState | Viewers | Pointers
ServerMessage = Config | Stats | Close | Notice | FileStatus | FileOfferOut | InputFrame


def encode_server_message(msg: ServerMessage) -> str:
    """The text of one server -> client control message."""
    return msg.encode()


def build_hello(
    supported: list[str] | tuple[str, ...],
    device_pixel_ratio: float = 1,
    token: str | None = None,
    scaled_frames: bool = False,
    view_only: bool = False,
    features: tuple[str, ...] = (),
) -> str:
    """A client's ``hello`` (used by Python viewers, benchmarks and tests)."""
    msg: dict[str, Any] = {
        "type": "hello",
        "supported": list(supported),
        "device_pixel_ratio": device_pixel_ratio,
    }
    if token is not None:
        msg["token"] = token
    if scaled_frames:
        msg["scaled_frames"] = True
    if view_only:
        msg["view_only"] = True
    if features:
        msg["features"] = list(features)
    return dumps(msg)


def build_ack(seq: int, decode_queue_size: int = 0, received_ms: float | None = None) -> str:
    msg: dict[str, Any] = {
        "type": "ack",
        "seq": seq,
        "decode_queue_size": decode_queue_size,
        "displayed": True,
    }
    if received_ms is not None:
        msg["received_ms"] = round(received_ms, 3)
    return dumps(msg)


# ---------------------------------------------------------------------------
# Negotiation


def negotiate(
    supported: tuple[str, ...] | list[str],
    *,
    h264_available: bool,
    force_image: bool = False,
    preferred_image: str = CAP_JPEG,
) -> str | None:
    """Pick the capability a viewer will get, in 0.x order; None means no shared format."""
    offered = set(supported)
    if CAP_H264 in offered and h264_available and not force_image:
        return CAP_H264
    for cap in (preferred_image, CAP_PNG, CAP_JPEG, CAP_WEBP):
        if cap in offered:
            return cap
    return None
