"""Property-based fuzzing of every parser, and of a live server.

A fuzzed input never escapes a parser as anything but the protocol's own error, and never
kills the server. Parsers: the binary envelope, every client control message, input
events, the WHEP offer check and the WebRTC candidate filter. Server: fuzzed messages and
raw WebSocket frames, first message or after hello, against one server while a healthy
viewer keeps receiving frames.

Deterministic (``derandomize=True``, no example database) so CI sees the same examples.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import itertools
import json
import logging
import math
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import aiohttp
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

import rfb
from rfb import client, encoders, protocol
from rfb.protocol import ProtocolError
from rfb.signaling import WhepError, check_offer
from rfb.signaling.whep import MAX_OFFER_BYTES
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
}
REQUIRED = {
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
            event[name] = draw(EVENT_FIELDS[name])
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
}


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


def same_outcome(a: object, b: object) -> bool:
    if isinstance(a, ProtocolError) and isinstance(b, ProtocolError):
        return (a.close_code, a.reason) == (b.close_code, b.reason)
    return repr(a) == repr(b)  # repr: NaN-free fields compare, events by content


# ---------------------------------------------------------------------------
# 1. The binary envelope


def unpack(data: bytes | bytearray | memoryview) -> tuple[dict[str, Any], bytes] | None:
    try:
        header, payload = protocol.unpack_envelope(data)
    except ProtocolError as exc:
        check_error(exc, {protocol.CLOSE_PROTOCOL_ERROR, protocol.CLOSE_INVALID_PAYLOAD})
        return None
    raw = bytes(data)
    (n,) = struct.unpack_from("<I", raw)
    assert type(header) is dict and type(payload) is bytes
    assert payload == raw[4 + n :]
    assert json.dumps(header) == json.dumps(json.loads(raw[4 : 4 + n]))
    return header, payload


buffers = st.sampled_from([bytes, bytearray, memoryview])


@fuzz(200)
@given(st.binary(max_size=200), buffers)
def test_envelope_arbitrary_bytes(data: bytes, kind: Callable[[bytes], Any]) -> None:
    unpack(kind(data))


@st.composite
def near_envelopes(draw: st.DrawFn) -> bytes:
    header = draw(st.dictionaries(strings, junk, max_size=4) | junk)
    ascii_only = draw(st.booleans())
    head = json.dumps(header, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["keep", "keep", "flip", "cut", "insert", "raw"]))
    if how == "flip" and head:
        i = draw(st.integers(0, len(head) - 1))
        head = head[:i] + bytes([head[i] ^ draw(st.integers(1, 255))]) + head[i + 1 :]
    elif how == "cut":
        head = head[: draw(st.integers(0, len(head)))]
    elif how == "insert":
        i = draw(st.integers(0, len(head)))
        bad = draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc3", b"\x00", b"NaN", b"\\"]))
        head = head[:i] + bad + head[i:]
    elif how == "raw":
        head = draw(RAW_FRAGMENTS).encode()
    length = len(head) + draw(st.sampled_from([0, 0, 0, -1, 1, -4, 1000]))
    if draw(st.integers(0, 9)) == 0:
        length = draw(st.sampled_from([0, 1, 2**31, 2**32 - 1]))
    data = struct.pack("<I", max(0, min(length, 2**32 - 1))) + head + draw(st.binary(max_size=40))
    if draw(st.integers(0, 19)) == 0:
        data = data[: draw(st.integers(0, 5))]
    return data


@fuzz(100)
@given(near_envelopes(), buffers)
def test_envelope_near_valid(data: bytes, kind: Callable[[bytes], Any]) -> None:
    unpack(kind(data))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c, max_size=4),
    max_leaves=10,
)


@fuzz(100)
@given(
    st.dictionaries(
        st.text() | st.tuples(st.text(max_size=3), st.characters(categories=["Cs"])).map("".join),
        json_values,
        max_size=6,
    ),
    st.binary(max_size=600),
    buffers,
)
def test_envelope_round_trip(
    header: dict[str, Any], payload: bytes, kind: Callable[[bytes], Any]
) -> None:
    packed = protocol.pack_envelope(header, kind(payload))
    (n,) = struct.unpack_from("<I", packed)
    assert packed[4 : 4 + n].isascii()
    assert protocol.unpack_envelope(kind(packed)) == (header, payload)


# ---------------------------------------------------------------------------
# 2. Client control messages


@fuzz(200)
@given(st.text(max_size=300) | st.lists(st.text(max_size=8) | lone_surrogates).map("".join))
def test_parse_arbitrary_text(text: str) -> None:
    parse(text)


@fuzz(200)
@given(st.binary(max_size=300))
def test_parse_arbitrary_bytes(data: bytes) -> None:
    parse(data)


@fuzz(150)
@given(junk)
def test_parse_arbitrary_json(value: Any) -> None:
    text = dumps(value)
    assert same_outcome(parse(text), parse(text.encode()))


@fuzz(200)
@given(message_texts() | message_texts(mode="one"))
def test_parse_fuzzed_messages(text: str) -> None:
    outcome = parse(text)
    assert same_outcome(outcome, parse(text.encode()))


@fuzz(120)
@given(message_texts(mode="valid"))
def test_parse_valid_messages(text: str) -> None:
    msg = parse(text)
    assert not isinstance(msg, ProtocolError), (text, msg)


# One field at a time: a valid message of each type with one field replaced (or removed),
# so the parser always reaches it.
POINTER_EVENT = {"type": "wheel", "x": 1, "y": 2, "dx": 0, "dy": 1.5, "inside": True,
                 "pixel_ratio": 2, "button": 0, "buttons": [1], "modifiers": ["Shift"],
                 "timestamp": 12.5}  # fmt: skip
BASE_MESSAGES: dict[str, dict[str, Any]] = {
    "hello": {"type": "hello", "supported": [protocol.CAP_JPEG], "device_pixel_ratio": 1,
              "token": "t", "scaled_frames": False, "view_only": False},
    "ack": {"type": "ack", "seq": 1, "decode_queue_size": 0, "displayed": True,
            "received_ms": 1.5},
    "request_keyframe": {"type": "request_keyframe", "reason": "r"},
    "decoder_reset": {"type": "decoder_reset"},
    "set_viewport": {"type": "set_viewport", "width": 10, "height": 10, "pwidth": 10,
                     "pheight": 10, "ratio": 1},
    "pointer": {"type": "event", "event": POINTER_EVENT},
    "key": {"type": "event", "event": {"type": "key_down", "key": "a", "code": "KeyA"}},
    "char": {"type": "event", "event": {"type": "char", "data": "é"}},
    "frame_shown": {"type": "frame_shown", "rtp_timestamp": 1, "received_ms": 2.0},
}  # fmt: skip
STRING_FIELDS = {"type", "token", "reason", "key", "code", "data"}
FIELD_PATHS = [(name, (key,)) for name, base in BASE_MESSAGES.items() for key in base] + [
    (name, ("event", key))
    for name, base in BASE_MESSAGES.items()
    if "event" in base
    for key in base["event"]
]
FUZZ_MARK = "\x00fuzz\x00"


def field_values(key: str) -> st.SearchStrategy[str | None]:
    """JSON text for a field (None: leave it out), weighted to its own kind."""
    typed = strings if key in STRING_FIELDS else numbers
    return st.one_of(typed.map(dumps), fragment(junk), st.just(None))


@pytest.mark.parametrize("path", FIELD_PATHS, ids=lambda p: f"{p[0]}.{'.'.join(p[1])}")
@fuzz(15)
@given(data=st.data())
def test_parse_each_field(path: tuple[str, tuple[str, ...]], data: st.DataObject) -> None:
    name, keys = path
    msg = json.loads(json.dumps(BASE_MESSAGES[name]))
    assert not isinstance(parse(dumps(msg)), ProtocolError)
    value = data.draw(field_values(keys[-1]), label="value")
    holder = msg if len(keys) == 1 else msg[keys[0]]
    if value is None:
        del holder[keys[-1]]
        text = dumps(msg)
    else:
        holder[keys[-1]] = FUZZ_MARK
        text = dumps(msg).replace(dumps(FUZZ_MARK), value)
    assert same_outcome(parse(text), parse(text.encode()))


@fuzz(100)
@given(message_texts(), st.data())
def test_parse_mutated_text(text: str, data: st.DataObject) -> None:
    """Byte- and character-level damage to a message: cut, insert, lone surrogates."""
    raw = text.encode()
    i = data.draw(st.integers(0, len(raw)))
    how = data.draw(st.sampled_from(["cut", "insert", "surrogate", "pad"]))
    if how == "cut":
        parse(raw[:i])
        parse(text[: min(i, len(text))])
    elif how == "insert":
        parse(raw[:i] + data.draw(st.binary(min_size=1, max_size=4)) + raw[i:])
    elif how == "surrogate":
        parse(raw[:i] + b"\xed\xa0\x80" + raw[i:])  # a lone surrogate, encoded: not UTF-8
        j = min(i, len(text))
        parse(text[:j] + "\ud800" + text[j:])  # one a Python caller could hand over
    else:
        pad = protocol.MAX_TEXT_MESSAGE_BYTES - len(raw) + data.draw(st.integers(-1, 1))
        parse(raw[:-1] + b" " * max(0, pad) + raw[-1:])  # right at the size limit


@pytest.mark.parametrize(
    "text",
    [
        "[" * 30000,
        '{"type":"event","event":' + "[" * 20000 + "0" + "]" * 20000 + "}",
        '{"type":"set_viewport","width":1'
        + "0" * 400
        + ',"height":1,"pwidth":1,"pheight":1,"ratio":1}',
        '{"type":"ack","seq":1,"received_ms":-' + "9" * 400 + "}",
        '{"type":"hello","supported":[],"token":"\\ud800"}',
        '{"type":"hello","supported":[],"token":"\ud800"}',
        '{"type":"ack","seq":' + "9" * 5000 + "}",
    ],
    ids=[
        "deep",
        "deep-event",
        "huge-int",
        "huge-negative",
        "escaped-surrogate",
        "raw-surrogate",
        "too-many-digits",
    ],
)
def test_parse_known_hazards(text: str) -> None:
    assert isinstance(parse(text), ProtocolError)
    with contextlib.suppress(UnicodeEncodeError):
        assert isinstance(parse(text.encode("utf-8", "surrogatepass")), ProtocolError)


# ---------------------------------------------------------------------------
# 3. Input events


def validate(event: Any) -> dict[str, Any] | None:
    try:
        out = protocol.validate_input_event(event)
    except ProtocolError as exc:
        check_error(exc, {protocol.CLOSE_INVALID_PAYLOAD, protocol.CLOSE_POLICY_VIOLATION})
        return None
    assert out is event  # extra fields pass through untouched
    check_event(out)
    return out


@fuzz(150)
@given(events() | events(mode="one"))
def test_validate_fuzzed_events(event: dict[str, Any]) -> None:
    validate(event)


@fuzz(100)
@given(events(mode="valid"))
def test_validate_valid_events(event: dict[str, Any]) -> None:
    assert validate(event) is not None, event


@fuzz(120)
@given(py_junk)
def test_validate_arbitrary_values(value: Any) -> None:
    validate(value)


# ---------------------------------------------------------------------------
# 4. The WHEP SDP boundary

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


@st.composite
def offer_bodies(draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(["sdp", "sdp", "sdp", "binary", "bad-utf8", "huge"]))
    if how == "binary":
        return draw(st.binary(max_size=200))
    body = draw(sdp_texts()).encode("utf-8", "surrogatepass")
    if how == "bad-utf8":
        i = draw(st.integers(0, len(body)))
        return body[:i] + draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc0\xaf"])) + body[i:]
    if how == "huge":
        pad = MAX_OFFER_BYTES - len(body) + draw(st.sampled_from([-1, 0, 1, 10**6]))
        return body + b"a=x\r\n" * (max(0, pad) // 5) + b"a" * (max(0, pad) % 5)
    return body


content_types = st.sampled_from(
    [
        "application/sdp",
        "application/sdp",
        "APPLICATION/SDP; charset=utf-8",
        " application/sdp ",
        "application/sdp;",
        "application/sdp\x00",
        "application/sdpx",
        "text/plain",
        "",
        ";",
        "application/json",
    ]
) | st.text(max_size=30)


def offer_outcome(content_type: str, body: bytes) -> str | None:
    try:
        sdp = check_offer(content_type, body)
    except WhepError as exc:
        assert exc.status in (400, 413, 415), exc.status
        assert isinstance(exc.reason, str) and exc.reason
        return None
    assert isinstance(sdp, str) and sdp == body.decode("utf-8")
    assert len(body) <= MAX_OFFER_BYTES and sdp.startswith("v=0") and "m=video" in sdp
    assert content_type.split(";")[0].strip().lower() == "application/sdp"
    return sdp


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


@fuzz(200)
@given(content_types, offer_bodies())
def test_whep_check_offer(content_type: str, body: bytes) -> None:
    sdp = offer_outcome(content_type, body)
    if sdp is not None:
        check_filter(sdp)
        with allowed_networks("192.168.0.0/16", "::1/128"):
            check_filter(sdp)
            for line in kept_lines(sdp, webrtc.filter_offer(sdp, strip_mdns=False)):
                m = CANDIDATE_HOST.match(line)
                if m and not m.group(1).lower().endswith(".local"):
                    addr = ipaddress.ip_address(m.group(1).split("%")[0])
                    assert addr in ipaddress.ip_network("192.168.0.0/16") or addr.is_loopback


@fuzz(200)
@given(sdp_texts() | st.text(max_size=200))
def test_filter_offer_any_text(sdp: str) -> None:
    """filter_offer on any text at all (aiortc answers whatever check_offer let through)."""
    check_filter(sdp)
    with allowed_networks("10.0.0.0/8"):
        check_filter(sdp)


# ---------------------------------------------------------------------------
# 5. A live server: fuzzed input never kills it


class LiveServer:
    """One server on its own event loop thread, a render loop publishing frames, and a
    healthy viewer counting what it receives; the tests' clients run on that loop too."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="fuzz-server", daemon=True
        )
        self.thread.start()
        self.frame_times: list[float] = []
        self.viewer_error: BaseException | None = None
        self.call(self._start())

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        self.display = await rfb.serve(64, 64, port=0, token=TOKEN, view_token=VIEW_TOKEN)
        self.session = aiohttp.ClientSession()
        self._tasks = [asyncio.create_task(self._publish()), asyncio.create_task(self._watch())]
        deadline = time.monotonic() + 10
        while not self.frame_times and time.monotonic() < deadline and not self.viewer_error:
            await asyncio.sleep(0.02)
        assert self.frame_times, f"the healthy viewer got no frame: {self.viewer_error!r}"

    async def _publish(self) -> None:
        frame = np.zeros((64, 64, 3), np.uint8)
        n = 0
        while True:
            frame[:, :, 0] = n % 256
            frame[n % 64, :, 1] = 255
            self.display.publish(frame)
            n += 1
            await asyncio.sleep(1 / 30)

    async def _watch(self) -> None:
        try:
            async with client.connect(
                self.display.ws_url, [protocol.CAP_JPEG], token=TOKEN
            ) as viewer:
                while True:
                    await viewer.next_frame(timeout=5)
                    self.frame_times.append(time.monotonic())
        except BaseException as exc:
            self.viewer_error = exc
            raise

    async def _stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        await self.session.close()
        await self.display.aclose()

    def close(self) -> None:
        try:
            self.call(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    async def _settled(self) -> tuple[int, str]:
        deadline = time.monotonic() + 5
        while self.display.client_count != 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        async with self.session.get(self.display.url + "health") as resp:
            return self.display.client_count, await resp.text()

    def assert_healthy(self, since: float) -> None:
        """The healthy viewer kept receiving frames since ``since``; the fuzzed ones are
        all gone; the server answers /health."""
        assert self.viewer_error is None, repr(self.viewer_error)
        count, health = self.call(self._settled())
        assert count == 1, f"{count} viewers left (only the healthy one should be)"
        assert health == "ok"
        times = [since, *(t for t in self.frame_times if t >= since), time.monotonic()]
        assert len(times) > 3, "the healthy viewer got no frames during the fuzzing"
        gap = max(b - a for a, b in itertools.pairwise(times))
        assert gap < 3.0, f"the healthy viewer waited {gap:.1f} s for a frame"


class ErrorLog(logging.Handler):
    """Collects ERROR records: an exception escaping a handler or a task is logged."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    server = LiveServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    assert not handler.records, [
        (r.name, r.getMessage(), r.exc_text or r.exc_info) for r in handler.records
    ]


ACCEPTED = (-1, "")
END = '{"type":"fuzz_end"}'  # closes an open connection with a known code and reason
END_CLOSE = (protocol.CLOSE_POLICY_VIOLATION, "unknown message type 'fuzz_end'")
H264 = encoders.unavailable_reason(protocol.CAP_H264) is None


def expect_first(text: str) -> tuple[int, str]:
    """What the server does with this first message: close (code, reason) or ACCEPTED."""
    msg = parse(text)
    if isinstance(msg, ProtocolError):
        return msg.close_code, msg.reason
    if not isinstance(msg, protocol.Hello):
        return protocol.CLOSE_PROTOCOL_ERROR, "the first message must be hello"
    if msg.token not in (TOKEN, VIEW_TOKEN):
        return protocol.CLOSE_UNAUTHORIZED, "unauthorized"
    if protocol.negotiate(msg.supported, h264_available=H264) is None:
        return protocol.CLOSE_UNSUPPORTED_DATA, "no supported transport"
    return ACCEPTED


def expect_next(message: str | bytes) -> tuple[int, str]:
    """What the server does with a message after hello."""
    if isinstance(message, bytes):
        return protocol.CLOSE_UNSUPPORTED_DATA, "binary messages are not accepted"
    msg = parse(message)
    if isinstance(msg, ProtocolError):
        return msg.close_code, msg.reason
    if isinstance(msg, protocol.Hello):
        return protocol.CLOSE_PROTOCOL_ERROR, "hello sent twice"
    return ACCEPTED


async def until_close(
    ws: aiohttp.ClientWebSocketResponse, *, config: bool = False
) -> tuple[int, str]:
    """Read to the server's close frame (code, reason); ``config``: stop at the config
    message instead, and fail if the server closes first."""
    async with asyncio.timeout(5):
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                if config and json.loads(msg.data).get("type") == "config":
                    return ACCEPTED
            elif msg.type == aiohttp.WSMsgType.CLOSE:
                assert not config, f"closed instead of config: {msg.data} {msg.extra!r}"
                return int(msg.data), str(msg.extra or "")
            elif msg.type != aiohttp.WSMsgType.BINARY:
                raise AssertionError(f"no close frame: {msg.type.name} {msg.data!r}")


def check_close(got: tuple[int, str], want: tuple[int, str], size: int = 0) -> None:
    """``size``: the UTF-8 bytes of the message that decided ``want``."""
    code, reason = got
    assert 1000 <= code <= 4999, got
    if want[0] == protocol.CLOSE_TOO_BIG:  # aiohttp refuses it, with no reason
        assert code == protocol.CLOSE_TOO_BIG, (got, want)
    else:
        assert got == want
        assert reason


async def send(ws: aiohttp.ClientWebSocketResponse, message: str | bytes) -> None:
    with contextlib.suppress(ConnectionError, aiohttp.ClientError):  # closed already
        if isinstance(message, bytes):
            await ws.send_bytes(message)
        else:
            await ws.send_str(message)


async def session_after_hello(live: LiveServer, messages: list[str | bytes]) -> tuple[int, str]:
    async with live.session.ws_connect(live.display.ws_url, max_msg_size=0) as ws:
        await ws.send_str(protocol.build_hello([protocol.CAP_JPEG], token=TOKEN))
        await until_close(ws, config=True)
        for message in messages:
            await send(ws, message)
        await send(ws, END)
        return await until_close(ws)


async def session_first(live: LiveServer, first: str | bytes, accepted: bool) -> tuple[int, str]:
    async with live.session.ws_connect(live.display.ws_url, max_msg_size=0) as ws:
        await send(ws, first)
        if accepted:
            await until_close(ws, config=True)
            await send(ws, END)
        return await until_close(ws)


# Over the wire a text message is valid UTF-8: no lone surrogates, written raw.
wire_text = st.one_of(
    message_texts(),
    message_texts(mode="valid"),
    message_texts(mode="one"),
    junk.map(dumps),
    st.text(max_size=100),
    st.sampled_from(
        [
            "[" * 30000,
            "{" * 20,
            '{"type":"event","event":' + "[" * 20000 + "]" * 20000 + "}",
            '{"type":"set_viewport","width":1'
            + "0" * 400
            + ',"height":1,"pwidth":1,"pheight":1,"ratio":1}',
            '{"type":"hello","supported":["image/jpeg"],"token":"\\ud800"}',
            " " * (protocol.MAX_TEXT_MESSAGE_BYTES - 2) + "{}",
            " " * (protocol.MAX_TEXT_MESSAGE_BYTES - 1) + "{}",
        ]
    ),
)
wire_message = wire_text | st.binary(max_size=64)


@fuzz(80)
@given(st.lists(wire_message, min_size=1, max_size=3))
def _after_hello(live: LiveServer, messages: list[str | bytes]) -> None:
    want, sent, size = END_CLOSE, [], 0
    for message in messages:
        sent.append(message)
        size = len(message) if isinstance(message, bytes) else len(message.encode())
        if (want := expect_next(message)) != ACCEPTED:
            break
    else:
        want = END_CLOSE
    got = live.call(session_after_hello(live, sent))
    event("all accepted" if want == END_CLOSE else f"close {got[0]}")
    check_close(got, want, size)


def test_server_survives_fuzzed_messages(live: LiveServer, errors: ErrorLog) -> None:
    since = time.monotonic()
    _after_hello(live)
    live.assert_healthy(since)


@st.composite
def first_messages(draw: st.DrawFn) -> str | bytes:
    token = draw(st.sampled_from([TOKEN, VIEW_TOKEN]))  # a token that lets it in, mostly
    force = {"token": dumps(token)}
    valid = message_texts(kinds=("hello",), mode="valid", force=force)
    one = message_texts(kinds=("hello",), mode="one", force=force)
    text = draw(st.one_of(valid, one, message_texts(kinds=("hello",)), wire_message))
    if isinstance(text, str) and draw(st.integers(0, 3)) == 0:
        with contextlib.suppress(ValueError, KeyError, TypeError, RecursionError):
            obj = json.loads(text)
            if isinstance(obj, dict) and obj.get("type") == "hello":
                obj["token"] = token
                text = json.dumps(obj)
    return text


@fuzz(80)
@given(first_messages())
def _first(live: LiveServer, first: str | bytes) -> None:
    want = expect_first(first) if isinstance(first, str) else expect_next(first)
    got = live.call(session_first(live, first, accepted=want == ACCEPTED))
    event("admitted" if want == ACCEPTED else f"close {got[0]}")
    size = len(first) if isinstance(first, bytes) else len(first.encode())
    check_close(got, END_CLOSE if want == ACCEPTED else want, size)


def test_server_survives_fuzzed_first_message(live: LiveServer, errors: ErrorLog) -> None:
    since = time.monotonic()
    _first(live)
    live.assert_healthy(since)


# Raw WebSocket frames: reserved opcodes and bits, unmasked, fragmented, invalid UTF-8,
# oversized control frames, bad close codes, garbage between frames.


def ws_frame(
    opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    b1 = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode, b1 | n])
    elif n < 1 << 16:
        head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode, b1 | 126]) + struct.pack("!H", n)
    else:
        head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode, b1 | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = b"\x5a\x3c\x96\xe1"
    stream = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + key + masked


HELLO_FRAME = ws_frame(1, protocol.build_hello([protocol.CAP_JPEG], token=TOKEN).encode())
END_FRAME = ws_frame(1, END.encode())
# Completes any frame still owed bytes (aiohttp refuses data frames of 64 KiB or more and
# control frames over 125 bytes at their header), then ends in a frame with reserved bits.
FILL = b"\xff" * (protocol.MAX_TEXT_MESSAGE_BYTES + 16)

close_payloads = st.builds(
    lambda code, reason: struct.pack("!H", code) + reason,
    st.sampled_from(
        [1000, 1001, 1002, 999, 1004, 1005, 1006, 1015, 1016, 2999, 3000, 4999, 5000, 65535]
    ),
    st.binary(max_size=8) | st.just(b"\xed\xa0\x80"),
) | st.binary(max_size=2)
frame_payloads = st.one_of(
    st.binary(max_size=40),
    wire_text.filter(lambda t: len(t) < 300).map(str.encode),
    st.sampled_from([b"\xff", b"\xed\xa0\x80", b'{"type":"ack","seq":1}\xc3', b"x" * 126]),
    close_payloads,
)
raw_frames = st.one_of(
    st.builds(
        ws_frame,
        opcode=st.sampled_from([0, 1, 1, 2, 3, 7, 8, 9, 10, 11, 15]),
        payload=frame_payloads,
        fin=st.booleans() | st.just(True),
        rsv=st.sampled_from([0, 0, 0, 1, 2, 4, 7]),
        mask=st.booleans() | st.just(True),
    ),
    st.binary(min_size=1, max_size=16),  # garbage
    st.builds(
        lambda n: bytes([0x81, 0xFF]) + struct.pack("!Q", n) + b"\0" * 4,
        st.sampled_from([2**16, 2**31, 2**63, 2**64 - 1]),
    ),
)


async def read_server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    try:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await reader.readexactly(8))
        return b0 & 0x0F, await reader.readexactly(n)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


async def raw_session(live: LiveServer, hello: bool, frames: list[bytes]) -> tuple[int, str] | None:
    """Send raw bytes after the upgrade; the server's close frame (code, reason), or None
    when it hung up without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", live.display.port)
    try:
        key = base64.b64encode(b"fuzz-fuzz-fuzz!!").decode()
        writer.write(
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{live.display.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        writer.write((HELLO_FRAME if hello else b"") + b"".join(frames) + END_FRAME + FILL)
        async with asyncio.timeout(5):
            while (frame := await read_server_frame(reader)) is not None:
                opcode, payload = frame
                if opcode == 8:
                    assert len(payload) >= 2, payload
                    (code,) = struct.unpack_from("!H", payload)
                    return code, payload[2:].decode("utf-8")
            return None
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@fuzz(80)
@given(st.booleans(), st.lists(raw_frames, min_size=1, max_size=3))
def _raw(live: LiveServer, hello: bool, frames: list[bytes]) -> None:
    got = live.call(raw_session(live, hello, frames))
    event(f"close {got and got[0]}")
    assert got is not None, "the server hung up without a close frame"
    code, _ = got
    assert 1000 <= code <= 4999 and code not in (1005, 1006, 1015), got


def test_server_survives_raw_frames(live: LiveServer, errors: ErrorLog) -> None:
    since = time.monotonic()
    _raw(live)
    live.assert_healthy(since)
