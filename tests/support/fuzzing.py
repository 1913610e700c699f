"""Hypothesis strategies and checks for fuzzing rfb's parsers: values of every shape,
client control messages and input events (valid, one field wrong, or anything), what an
accepted message satisfies, and SDP offers with the ICE candidate filter's invariants.

Used by the parser fuzzing in tests/unit/ and the live-server fuzzing in
tests/integration/test_fuzz_server.py. Deterministic (``derandomize=True``, no example
database) so CI sees the same examples."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import struct
from collections.abc import Iterator
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from rfb import protocol
from rfb.protocol import ProtocolError
from rfb.transports import ice_policy, webrtc

T = TypeVar("T")


def fuzz(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no explain phase: faster
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
        ],
    )


# ---------------------------------------------------------------------------
# Value strategies

COORD = 4 * protocol.MAX_DIMENSION
CAPS = (protocol.CAP_JPEG, protocol.CAP_PNG, protocol.CAP_WEBP, protocol.CAP_H264)
SPECIAL_NUMBERS: list[int | float] = [
    0, -0.0, 1, -1, 0.5, 0.01, 0.00999, 100, 100.0001, 16, 16.5, 17,
    2**20 - 1, 2**20, 2**32 - 1, 2**32, 2**53 - 1, 2**53, 2**63, 2**64,
    COORD, COORD + 1, -COORD, -COORD - 0.5, 1e7, -1e7, 1e7 + 1,
    1e12, -1e12, -1e12 - 1, 1e13, 1e13 + 1, 1e15, -1e15, 1e16, 1e308, -1e308, 5e-324,
    math.inf, -math.inf, math.nan, 10**400, -(10**400), 2**1024,
]  # fmt: skip

numbers = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS),
    st.integers(),
    st.floats(),  # NaN and infinities too: json.dumps writes them as NaN/Infinity literals
    st.integers(min_value=-(2**2000), max_value=2**2000),
    st.integers(2**1024, 2**1100) | st.integers(-(2**1100), -(2**1024)),  # no float holds it
)
lone_surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
strings = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "x" * 256,
            "x" * 257,
            "é" * 256,
            "🎉" * 256,
            "🎉" * 257,
            "\x00",
            "type",
            "hello",
            *sorted(protocol.EVENT_TYPES),
            *sorted(protocol.MODIFIERS),
            *CAPS,
        ]
    ),
    st.text(min_size=250, max_size=260),
    lone_surrogates,
    st.tuples(st.text(max_size=4), lone_surrogates).map("".join),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
junk = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(strings, c, max_size=4),
    max_leaves=8,
)


def nested_list(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


# Python values of any shape, for validate_input_event (nesting kept printable).
py_junk = st.one_of(junk, st.integers(1, 150).map(nested_list))


def dumps(value: Any) -> str:
    return json.dumps(value)  # allow_nan: NaN/Infinity literals, which json.loads accepts


def nested_text(depth: int, kind: int) -> str:
    if kind == 0:
        return "[" * depth + "]" * depth
    if kind == 1:
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth  # unterminated


# Raw JSON text of a field's value, beyond what json.dumps writes. Nesting depths skip
# the band near the recursion limit, where whether it parses depends on the caller's stack.
RAW_FRAGMENTS = st.one_of(
    st.sampled_from(
        [
            "NaN",
            "-NaN",
            "Infinity",
            "-Infinity",
            "1e400",
            "-1e400",
            "1" + "0" * 400,
            "-" + "9" * 400,
            "9" * 5000,
            "-0",
            "1E2",
            "0.0",
            "1.0e-400",
            "true",
            "null",
            "[]",
            "{}",
            '"\\ud800"',
            '"\\udfff\\ud800"',
            '"a\\u0000b"',
            '"\\u00e9"',
            "[1,]",
            "01",
        ]
    ),
    st.tuples(st.sampled_from([2, 30, 300, 3000, 20000]), st.integers(0, 2)).map(
        lambda t: nested_text(*t)
    ),
)


def fragment(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """A field's value as JSON text: valid, anything, or a raw oddity."""
    return st.one_of(valid.map(dumps), junk.map(dumps), RAW_FRAGMENTS)


def in_range(lo: float, hi: float) -> st.SearchStrategy[int | float]:
    return st.one_of(
        st.floats(lo, hi), st.integers(math.ceil(lo), math.floor(hi)), st.sampled_from([lo, hi])
    )


def short_text(n: int) -> st.SearchStrategy[str]:
    return st.text(max_size=n) | st.just("y" * n)


TOKEN = "fuzz-token"
VIEW_TOKEN = "fuzz-view-token"

supported_lists = st.one_of(
    st.lists(st.sampled_from(CAPS) | short_text(128), max_size=6),
    st.just([protocol.CAP_JPEG] * 64),
)

# The fields of each client message, with a strategy for valid values.
MESSAGE_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "hello": {
        "supported": supported_lists,
        "device_pixel_ratio": in_range(0.01, 100),
        "token": short_text(256) | st.sampled_from([TOKEN, VIEW_TOKEN]),
        "scaled_frames": st.booleans(),
        "view_only": st.booleans(),
    },
    "ack": {
        "seq": st.integers(0, 2**53 - 1),
        "decode_queue_size": st.integers(0, 2**20 - 1),
        "displayed": st.booleans(),
        "received_ms": in_range(-1e15, 1e15),
    },
    "request_keyframe": {"reason": short_text(256)},
    "decoder_reset": {},
    "set_viewport": {
        "width": in_range(0, COORD),
        "height": in_range(0, COORD),
        "pwidth": in_range(0, COORD),
        "pheight": in_range(0, COORD),
        "ratio": in_range(0.01, 100),
    },
    "event": {},  # filled in below: the event strategy
    "frame_shown": {
        "rtp_timestamp": st.integers(0, 2**32 - 1),
        "received_ms": in_range(-1e15, 1e15),
    },
    # The control floor and presence (rfb additions)
    "request_control": {},
    "release_control": {},
    "give_control": {"client_id": short_text(protocol.MAX_CLIENT_ID) | st.just("v1")},
    "presence": {
        "x": in_range(-COORD, COORD),
        "y": in_range(-COORD, COORD),
        "inside": st.booleans(),
    },
}
CONTROL_KINDS = ("request_control", "release_control", "give_control", "presence")
# Files both ways (rfb additions): an upload's offer, a cancel, a download's ack.
file_ids = st.integers(0, protocol.MAX_FILE_ID)
MESSAGE_FIELDS["file_offer"] = {
    "id": file_ids,
    "name": short_text(protocol.MAX_FILE_NAME).filter(bool),
    "size": st.integers(0, 2**53 - 1) | st.integers(0, 1 << 20),
    "mime": short_text(protocol.MAX_MIME) | st.just("text/csv"),
}
MESSAGE_FIELDS["file_cancel"] = {"id": file_ids, "download": st.booleans()}
MESSAGE_FIELDS["file_ack"] = {"id": file_ids, "received": st.integers(0, 2**53 - 1)}
FILE_KINDS = ("file_offer", "file_cancel", "file_ack")
REQUIRED = {
    "file_offer": {"id", "name", "size"},
    "file_cancel": {"id"},
    "file_ack": {"id", "received"},
    "give_control": {"client_id"},
    "presence": {"x", "y"},
    "hello": {"supported"},
    "ack": {"seq"},
    "set_viewport": {"width", "height", "pwidth", "pheight", "ratio"},
    "event": {"event"},
    "frame_shown": {"rtp_timestamp"},
}

EVENT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "x": in_range(-COORD, COORD),
    "y": in_range(-COORD, COORD),
    "inside": st.booleans(),
    "pixel_ratio": in_range(0.01, 100),
    "button": in_range(0, 16),
    "buttons": st.lists(st.integers(0, 16), max_size=8),
    "dx": in_range(-1e7, 1e7),
    "dy": in_range(-1e7, 1e7),
    "key": short_text(256),
    "code": short_text(256),
    "data": short_text(256),
    "text": short_text(256),
    "pointer_id": st.integers(0, 2**31 - 1),
    "pointer_type": st.sampled_from(sorted(protocol.POINTER_TYPES)),
    "pressure": in_range(0, 1),
    "tilt_x": in_range(-90, 90),
    "tilt_y": in_range(-90, 90),
    "locked": st.booleans(),
    "modifiers": st.lists(st.sampled_from(sorted(protocol.MODIFIERS)), max_size=8),
    "timestamp": in_range(-1e12, 1e13),
}
# A gamepad's fields (its "buttons" are objects, not a pointer's button numbers).
gamepad_buttons = st.fixed_dictionaries(
    {"pressed": st.booleans(), "value": in_range(0, 1)}, optional={"touched": st.booleans()}
)
GAMEPAD_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "index": st.integers(0, protocol.MAX_GAMEPADS - 1),
    "connected": st.booleans(),
    "id": short_text(256),
    "mapping": st.sampled_from(["", "standard", "xr-standard"]) | short_text(32),
    "buttons": st.lists(gamepad_buttons, max_size=protocol.MAX_GAMEPAD_BUTTONS),
    "axes": st.lists(in_range(-1, 1), max_size=protocol.MAX_GAMEPAD_AXES),
}
# Gamepad states a viewer must not send: each closes it (1008).
bad_gamepad_values: dict[str, st.SearchStrategy[Any]] = {
    "index": st.sampled_from([-1, protocol.MAX_GAMEPADS, 2**40, 1.5, True, None, "0"]),
    "connected": st.sampled_from([0, 1, None, "true"]),
    "id": st.just("x" * 257),
    "mapping": st.just("m" * 33),
    "buttons": st.one_of(
        st.lists(gamepad_buttons, min_size=protocol.MAX_GAMEPAD_BUTTONS + 1, max_size=40),
        st.sampled_from([math.nan, math.inf, -0.5, 1.5]).map(
            lambda v: [{"pressed": True, "value": v}]
        ),
        st.sampled_from([[1], [None], [{"value": 1}], [{"pressed": 1, "value": 1}]]),
    ),
    "axes": st.one_of(
        st.lists(in_range(-1, 1), min_size=protocol.MAX_GAMEPAD_AXES + 1, max_size=24),
        st.sampled_from([math.nan, math.inf, -math.inf, 1.01, -2, True, "0"]).map(lambda v: [v]),
    ),
}


@st.composite
def bad_gamepad_events(draw: st.DrawFn) -> dict[str, Any]:
    """A gamepad event valid but for one field (NaN, out of range, too many buttons...)."""
    event = {"type": "gamepad", "index": 0, "connected": True}
    event.update({k: draw(v) for k, v in GAMEPAD_FIELDS.items() if draw(st.booleans())})
    name = draw(st.sampled_from(sorted(bad_gamepad_values)))
    event[name] = draw(bad_gamepad_values[name])
    return event


def field_values(kind: str, name: str) -> st.SearchStrategy[Any]:
    """Valid values of one field of an event of this kind."""
    if kind == "gamepad" and name in GAMEPAD_FIELDS:
        return GAMEPAD_FIELDS[name]
    return EVENT_FIELDS[name]


POINTER_FIELDS = ("x", "y", "inside", "pixel_ratio", "button", "buttons",
                  "pointer_id", "pointer_type", "pressure", "tilt_x", "tilt_y")  # fmt: skip


def event_fields(kind: str) -> tuple[tuple[str, ...], set[str]]:
    """(fields this event type reads, the required ones)."""
    fields: tuple[str, ...] = ("modifiers", "timestamp")
    required: set[str] = set()
    if kind in protocol.POINTER_EVENTS or kind == "wheel":
        fields += POINTER_FIELDS
        required |= {"x", "y"}
    if kind == "wheel":
        fields += ("dx", "dy")
        required |= {"dx", "dy"}
    if kind in protocol.KEY_EVENTS:
        fields += ("key", "code")
        required.add("key")
    if kind == "char":
        fields += ("data",)
    if kind == "pointer_move":
        fields += ("locked", "dx", "dy")  # pointer lock's relative motion
    if kind == "message":
        fields += ("data",)
        required.add("data")
    if kind == "clipboard":
        fields += ("text",)
        required.add("text")
    if kind == "gamepad":
        fields += tuple(GAMEPAD_FIELDS)
        required |= {"index", "connected"}
    return fields, required


@st.composite
def events(draw: st.DrawFn, mode: str = "fuzz") -> dict[str, Any]:
    """An input event. ``mode``: "fuzz" (fields valid, missing or anything), "valid"
    (every field valid, required ones present) or "one" (valid but for one field)."""
    types = st.sampled_from(sorted(protocol.EVENT_TYPES))
    kind = draw(types if mode != "fuzz" else types | strings)
    fields, required = event_fields(kind) if kind in protocol.EVENT_TYPES else ((), set())
    target = draw(st.sampled_from(fields)) if mode == "one" else None
    event: dict[str, Any] = {}
    if mode != "fuzz" or draw(st.integers(0, 9)):
        event["type"] = kind
    else:
        event["type"] = draw(py_junk)
    for name in fields:
        if name == target:
            how = "junk"
        elif mode == "fuzz":
            how = draw(st.sampled_from(["valid", "omit", "junk"]))
        elif name in required:
            how = "valid"
        else:
            how = draw(st.sampled_from(["valid", "valid", "omit"]))
        if how == "valid":
            event[name] = draw(field_values(kind, name))
        elif how == "junk":
            event[name] = draw(py_junk | st.sampled_from(SPECIAL_NUMBERS))
    if mode == "fuzz":  # fields of other event types, and unknown ones: passed through
        for name in draw(st.lists(st.sampled_from(sorted(EVENT_FIELDS)), max_size=2)):
            event[name] = draw(EVENT_FIELDS[name] | py_junk)
    for name in draw(st.lists(strings, max_size=2)):
        if name not in EVENT_FIELDS and name != "type":
            event[name] = draw(junk)
    return event


MESSAGE_FIELDS["event"] = {"event": events(mode="valid")}


@st.composite
def message_texts(
    draw: st.DrawFn,
    kinds: tuple[str, ...] = tuple(MESSAGE_FIELDS),
    mode: str = "fuzz",
    force: dict[str, str] | None = None,
) -> str:
    """One control message as JSON text, fields in any order, duplicates included.

    ``mode``: "fuzz" (each field valid, missing, mistyped or a raw oddity; extra fields),
    "valid" (every field valid, required ones present) or "one" (valid but for one field,
    so the parser reaches it). ``force``: JSON text for fields that are not mutated."""
    kind = draw(st.sampled_from(kinds))
    spec = MESSAGE_FIELDS[kind]
    target = draw(st.sampled_from(list(spec))) if mode == "one" and spec else None
    parts: list[tuple[str, str]] = []
    if mode != "fuzz" or draw(st.integers(0, 9)):
        parts.append(("type", dumps(kind)))
    else:
        parts.append(("type", draw(fragment(strings))))
    for name, good in spec.items():
        if name == "event" and mode != "valid":
            good = events()
        if name == target:
            how = "mutant"
        elif mode == "fuzz":
            how = draw(st.sampled_from(["valid", "valid", "omit", "mutant"]))
        elif force and name in force:
            how = "force"
        elif name in REQUIRED.get(kind, ()):
            how = "valid"
        else:
            how = draw(st.sampled_from(["valid", "omit"]))
        if how == "valid":
            parts.append((name, dumps(draw(good))))
        elif how == "mutant":
            parts.append((name, draw(fragment(good))))
        elif how == "force" and force:
            parts.append((name, force[name]))
    if mode == "fuzz":
        for name in draw(st.lists(strings, max_size=2)):
            parts.append((name, draw(fragment(junk))))
    parts = draw(st.permutations(parts))
    return "{" + ",".join(f"{dumps(k)}:{v}" for k, v in parts) + "}"


# ---------------------------------------------------------------------------
# What an accepted message or event satisfies


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite_in(value: Any, lo: float, hi: float) -> bool:
    return is_number(value) and lo <= value <= hi and math.isfinite(value)


def is_int(value: Any, lo: int, hi: int) -> bool:
    return type(value) is int and lo <= value < hi


def good_string(value: Any, n: int = protocol.MAX_STRING) -> bool:
    return isinstance(value, str) and len(value) <= n


def text_field(value: Any) -> bool:
    """A string field the parser vouches for: short, and text a UTF-8 consumer (a token
    compare, the application) can encode: no lone surrogate from a "\\ud800" escape."""
    if not good_string(value):
        return False
    value.encode("utf-8")  # UnicodeEncodeError: a failure, with the value in the traceback
    return True


def check_error(exc: ProtocolError, codes: set[int]) -> None:
    assert exc.close_code in codes, (exc.close_code, exc.reason)
    assert 1000 <= exc.close_code <= 4999
    assert isinstance(exc.reason, str) and exc.reason
    assert len(exc.reason.encode("utf-8")) <= 123  # fits a close frame


def check_event(event: dict[str, Any]) -> None:
    kind = event["type"]
    assert kind in protocol.EVENT_TYPES
    if kind in protocol.POINTER_EVENTS or kind == "wheel":
        assert finite_in(event["x"], -COORD, COORD)
        assert finite_in(event["y"], -COORD, COORD)
        assert "inside" not in event or type(event["inside"]) is bool
        assert "pixel_ratio" not in event or finite_in(event["pixel_ratio"], 0.01, 100)
        assert "button" not in event or finite_in(event["button"], 0, 16)
        if "buttons" in event:
            b = event["buttons"]
            assert type(b) is list and len(b) <= 8 and all(is_int(x, 0, 17) for x in b)
    if kind == "wheel":
        assert finite_in(event["dx"], -1e7, 1e7)
        assert finite_in(event["dy"], -1e7, 1e7)
    if kind in protocol.KEY_EVENTS:
        assert text_field(event["key"])
        assert "code" not in event or text_field(event["code"])
    if kind == "char":
        assert "data" not in event or text_field(event["data"])
    if kind in protocol.POINTER_EVENTS:
        assert "pointer_id" not in event or is_int(event["pointer_id"], 0, 2**31)
        assert "pointer_type" not in event or event["pointer_type"] in protocol.POINTER_TYPES
        assert "pressure" not in event or finite_in(event["pressure"], 0, 1)
        for tilt in ("tilt_x", "tilt_y"):
            assert tilt not in event or finite_in(event[tilt], -90, 90)
    if kind == "pointer_move":
        assert "locked" not in event or type(event["locked"]) is bool
        for d in ("dx", "dy"):
            assert d not in event or finite_in(event[d], -1e7, 1e7)
    if kind == "message":
        assert "data" in event
    if kind == "clipboard":
        assert type(event["text"]) is str and len(event["text"]) <= protocol.MAX_CLIPBOARD
    if kind == "gamepad":
        assert is_int(event["index"], 0, protocol.MAX_GAMEPADS)
        assert type(event["connected"]) is bool
        assert "id" not in event or text_field(event["id"])
        assert "mapping" not in event or good_string(event["mapping"], 32)
        if "buttons" in event:
            b = event["buttons"]
            assert type(b) is list and len(b) <= protocol.MAX_GAMEPAD_BUTTONS
            for button in b:
                assert type(button["pressed"]) is bool and finite_in(button["value"], 0, 1)
                assert "touched" not in button or type(button["touched"]) is bool
        if "axes" in event:
            a = event["axes"]
            assert type(a) is list and len(a) <= protocol.MAX_GAMEPAD_AXES
            assert all(finite_in(x, -1, 1) for x in a)
    if "modifiers" in event:
        m = event["modifiers"]
        assert type(m) is list and len(m) <= 8 and all(x in protocol.MODIFIERS for x in m)
    assert "timestamp" not in event or finite_in(event["timestamp"], -1e12, 1e13)


MESSAGE_TYPES: dict[str, type] = {
    "hello": protocol.Hello,
    "ack": protocol.Ack,
    "request_keyframe": protocol.RequestKeyframe,
    "decoder_reset": protocol.DecoderReset,
    "set_viewport": protocol.SetViewport,
    "event": protocol.InputEventMessage,
    "frame_shown": protocol.FrameShown,
    "request_control": protocol.RequestControl,
    "file_offer": protocol.FileOffer,
    "file_cancel": protocol.FileCancel,
    "file_ack": protocol.FileAck,
    "release_control": protocol.ReleaseControl,
    "give_control": protocol.GiveControl,
    "presence": protocol.PresencePointer,
}


def control_messages(mode: str = "fuzz") -> st.SearchStrategy[str]:
    """The control floor's and presence's messages (request, release, give, presence)."""
    return message_texts(kinds=CONTROL_KINDS, mode=mode)


def check_message(msg: protocol.ClientMessage, text: str | bytes) -> None:
    raw = json.loads(text)
    assert type(msg) is MESSAGE_TYPES[raw["type"]]
    if isinstance(msg, protocol.Hello):
        assert type(msg.supported) is tuple and len(msg.supported) <= 64
        assert all(good_string(c, 128) for c in msg.supported)
        assert type(msg.device_pixel_ratio) is float
        assert finite_in(msg.device_pixel_ratio, 0.01, 100)
        assert msg.token is None or text_field(msg.token)
        assert type(msg.scaled_frames) is bool and type(msg.view_only) is bool
    elif isinstance(msg, protocol.Ack):
        assert is_int(msg.seq, 0, 2**53)
        assert is_int(msg.decode_queue_size, 0, 2**20)
        assert type(msg.displayed) is bool
        assert msg.received_ms is None or finite_in(msg.received_ms, -1e15, 1e15)
    elif isinstance(msg, protocol.RequestKeyframe):
        assert text_field(msg.reason)
    elif isinstance(msg, protocol.SetViewport):
        assert finite_in(msg.width, 0, COORD) and finite_in(msg.height, 0, COORD)
        assert is_int(msg.pwidth, 0, COORD + 1) and is_int(msg.pheight, 0, COORD + 1)
        assert type(msg.ratio) is float and finite_in(msg.ratio, 0.01, 100)
        json.dumps(msg.as_resize_event(), allow_nan=False)
    elif isinstance(msg, protocol.InputEventMessage):
        assert dumps(msg.event) == dumps(raw["event"])
        check_event(msg.event)
    elif isinstance(msg, protocol.FrameShown):
        assert is_int(msg.rtp_timestamp, 0, 2**32)
        assert msg.received_ms is None or finite_in(msg.received_ms, -1e15, 1e15)
    elif isinstance(msg, protocol.GiveControl):
        assert good_string(msg.client_id, protocol.MAX_CLIENT_ID) and text_field(msg.client_id)
    elif isinstance(msg, protocol.PresencePointer):
        assert type(msg.x) is float and finite_in(msg.x, -COORD, COORD)
        assert type(msg.y) is float and finite_in(msg.y, -COORD, COORD)
        assert type(msg.inside) is bool
    elif isinstance(msg, protocol.FileOffer):
        assert is_int(msg.id, 0, protocol.MAX_FILE_ID + 1) and is_int(msg.size, 0, 2**53)
        assert good_string(msg.name, protocol.MAX_FILE_NAME) and text_field(msg.name)
        assert good_string(msg.mime, protocol.MAX_MIME) and text_field(msg.mime)
    elif isinstance(msg, protocol.FileCancel):
        assert is_int(msg.id, 0, protocol.MAX_FILE_ID + 1) and type(msg.download) is bool
    elif isinstance(msg, protocol.FileAck):
        assert is_int(msg.id, 0, protocol.MAX_FILE_ID + 1) and is_int(msg.received, 0, 2**53)


def parse(text: str | bytes) -> protocol.ClientMessage | ProtocolError:
    """parse_client_message's outcome; anything but ProtocolError escapes (a failure)."""
    try:
        msg = protocol.parse_client_message(text)
    except ProtocolError as exc:
        check_error(
            exc,
            {
                protocol.CLOSE_INVALID_PAYLOAD,
                protocol.CLOSE_POLICY_VIOLATION,
                protocol.CLOSE_TOO_BIG,
            },
        )
        return exc
    check_message(msg, text)
    return msg


def file_messages(mode: str = "fuzz") -> st.SearchStrategy[str]:
    """Files' text messages (file_offer, file_cancel, file_ack)."""
    return message_texts(kinds=FILE_KINDS, mode=mode)


chunk_headers = st.one_of(
    st.fixed_dictionaries({"type": st.just("file_chunk"), "id": file_ids,
                           "offset": st.integers(0, 2**53 - 1) | st.integers(0, 1 << 20)}),
    st.fixed_dictionaries({"type": st.just("file_chunk"),
                           "id": file_ids | st.sampled_from([-1, 2**31, 1.5, True, None, "1"]),
                           "offset": st.sampled_from([-1, 2**53, 0.5, False, None, "0", 0])}),
    st.fixed_dictionaries({"type": st.sampled_from(["image_frame", "file", "", 7]), "id": file_ids,
                           "offset": st.just(0)}),
    st.dictionaries(strings, junk, max_size=3),
)  # fmt: skip


@st.composite
def file_chunks(draw: st.DrawFn) -> bytes:
    """A binary message from a viewer: mostly file_chunk envelopes (good or bad headers,
    small or oversized payloads), sometimes a broken envelope."""
    kind = draw(st.integers(0, 9))
    if kind == 0:  # a broken envelope: short, or a header length past the message
        return draw(st.binary(max_size=8)) if draw(st.booleans()) else (
            struct.pack("<I", draw(st.integers(5, 2**32 - 1))) + b"{}")  # fmt: skip
    if kind == 1:  # a header that is not JSON
        head = draw(st.binary(min_size=1, max_size=12))
        return struct.pack("<I", len(head)) + head
    header = draw(chunk_headers)
    size = draw(st.sampled_from([0, 1, 100, protocol.FILE_CHUNK_MAX, protocol.FILE_CHUNK_MAX + 1]))
    return protocol.pack_envelope(header, b"\x5a" * size)


audio_in_headers = st.one_of(
    st.fixed_dictionaries({"type": st.just("audio_in"), "seq": st.integers(0, 2**53 - 1),
                           "timestamp_us": st.integers(-(2**53) + 1, 2**53 - 1),
                           "duration_us": st.sampled_from([2_500, 10_000, 20_000, 60_000, 120_000]),
                           "codec": st.just("opus"),
                           "sample_rate": st.sampled_from(sorted(protocol.AUDIO_IN_RATES)),
                           "channels": st.sampled_from([1, 2])}),
    st.fixed_dictionaries({"type": st.just("audio_in"),
                           "seq": st.sampled_from([-1, 2**53, 1.5, True, None, "0", 0]),
                           "timestamp_us": st.sampled_from([0, 2**60, 0.5, None, "0"]),
                           "duration_us": st.sampled_from([0, 2_499, 120_001, 20_000.0, 20_000]),
                           "codec": st.sampled_from(["opus", "pcm", "", None, 1]),
                           "sample_rate": st.sampled_from([48_000, 44_100, 0, -1, True, "48000"]),
                           "channels": st.sampled_from([0, 1, 2, 3, True, 1.0])}),
    st.dictionaries(st.sampled_from(["type", "seq", "timestamp_us", "duration_us", "codec",
                                     "sample_rate", "channels"]), junk, max_size=7).map(
        lambda d: {**d, "type": "audio_in"}),
)  # fmt: skip


@st.composite
def audio_ins(draw: st.DrawFn) -> bytes:
    """A viewer's binary ``audio_in`` (microphone) message: good or bad headers, empty,
    small or oversized payloads."""
    header = draw(audio_in_headers)
    size = draw(st.sampled_from([0, 1, 80, protocol.AUDIO_IN_MAX, protocol.AUDIO_IN_MAX + 1]))
    return protocol.pack_envelope(header, b"\xfc" * size)


def parse_binary(data: bytes) -> protocol.FileChunk | protocol.AudioIn | ProtocolError:
    """parse_client_binary's outcome; anything but ProtocolError escapes (a failure)."""
    try:
        chunk = protocol.parse_client_binary(data)
    except ProtocolError as exc:
        check_error(exc, {protocol.CLOSE_PROTOCOL_ERROR, protocol.CLOSE_UNSUPPORTED_DATA,
                          protocol.CLOSE_INVALID_PAYLOAD, protocol.CLOSE_POLICY_VIOLATION,
                          protocol.CLOSE_TOO_BIG})  # fmt: skip
        return exc
    if isinstance(chunk, protocol.AudioIn):
        assert is_int(chunk.seq, 0, 2**53) and is_int(chunk.duration_us, 2_500, 120_001)
        assert chunk.sample_rate in protocol.AUDIO_IN_RATES and chunk.channels in (1, 2)
        assert type(chunk.data) is bytes and 0 < len(chunk.data) <= protocol.AUDIO_IN_MAX
        return chunk
    assert is_int(chunk.id, 0, protocol.MAX_FILE_ID + 1) and is_int(chunk.offset, 0, 2**53)
    assert type(chunk.data) is bytes and len(chunk.data) <= protocol.FILE_CHUNK_MAX
    assert len(data) <= protocol.MAX_BINARY_MESSAGE_BYTES
    return chunk


def same_outcome(a: object, b: object) -> bool:
    if isinstance(a, ProtocolError) and isinstance(b, ProtocolError):
        return (a.close_code, a.reason) == (b.close_code, b.reason)
    return repr(a) == repr(b)  # repr: NaN-free fields compare, events by content


# ---------------------------------------------------------------------------
# SDP offers and the ICE candidate filter

SDP_LINES = [
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "a=group:BUNDLE 0 1", "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0",
    "a=recvonly", "a=sendonly", "a=sendrecv", "a=inactive", "a=recvonly ", "a=mid:0",
    "a=rtpmap:96 H264/90000", "a=rtpmap:97 VP8/90000", "a=rtpmap:96 h264/90000",
    "a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    "a=candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host",
    "a=candidate:2 1 udp 2122260223 6f1c2d.local 54321 typ host",
    "a=candidate:3 1 tcp 1518280447 ::1 9 typ host tcptype active",
    "a=candidate:4 1 udp 1 fe80::1%eth0 9 typ host", "A=CANDIDATE:5 1 UDP 1 X.LOCAL 9 TYP HOST",
    "a=candidate:6 1 udp 1 10.0.0.1 9 typ srflx raddr 0.0.0.0 rport 0",
    "a=candidate:7 1 udp 1 999.1.1.1 9 typ host", "a=candidate:8 1 udp 1 %%% 9 typ host",
    "a=candidate:", "a=end-of-candidates", "a=ice-ufrag:abcd", "a=setup:actpass", "",
]  # fmt: skip
sdp_line = st.sampled_from(SDP_LINES) | st.text(max_size=30)
sdp_eol = st.sampled_from(["\r\n", "\r\n", "\n", "\r", "\x0b", "\x1c", "\u2028", ""])


@st.composite
def sdp_texts(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.tuples(sdp_line, sdp_eol), max_size=25))
    text = "".join(a + b for a, b in lines)
    if draw(st.integers(0, 3)):
        text = "v=0\r\n" + text
    return text


def kept_lines(sdp: str, out: str) -> list[str]:
    """The input lines the filter kept, matched in order against its output."""
    kept, pos = [], 0
    for line in sdp.splitlines(keepends=True):
        if out.startswith(line, pos):
            kept.append(line)
            pos += len(line)
    assert pos == len(out), "the output is not a selection of the offer's lines"
    return kept


CANDIDATE_HOST = ice_policy._CANDIDATE


def check_filter(sdp: str) -> None:
    lines = sdp.splitlines(keepends=True)
    for strip_mdns in (True, False):
        out = webrtc.filter_offer(sdp, strip_mdns=strip_mdns)
        assert isinstance(out, str) and len(out) <= len(sdp)
        kept = kept_lines(sdp, out)
        # Lines that are not candidates always stay.
        others = [x for x in lines if not x.lower().startswith("a=candidate:")]
        assert [x for x in kept if not x.lower().startswith("a=candidate:")] == others
        if strip_mdns:
            for line in kept:
                m = CANDIDATE_HOST.match(line)
                assert not (m and m.group(1).lower().endswith(".local")), line
        assert webrtc.filter_offer(out, strip_mdns=strip_mdns) == out  # idempotent


@contextlib.contextmanager
def allowed_networks(*nets: str) -> Iterator[None]:
    saved = ice_policy._networks
    ice_policy._networks = [ipaddress.ip_network(n) for n in nets]
    try:
        yield
    finally:
        ice_policy._networks = saved
