"""The wire protocol (rfb/protocol.py): golden vectors byte for byte (pdum.rfb's and one
file per server message type), round trips, validation, the hello-first ConnectionState,
and every parser fuzzed (hypothesis): the envelope, client messages, input events."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfb import protocol
from rfb.protocol import ProtocolError

from support.events import pad
from support.fuzzing import (
    RAW_FRAGMENTS,
    bad_gamepad_events,
    check_error,
    check_event,
    dumps,
    events,
    fragment,
    fuzz,
    junk,
    lone_surrogates,
    message_texts,
    numbers,
    parse,
    py_junk,
    same_outcome,
    strings,
)
from support.paths import FIXTURES, PDUM_FIXTURES, SHARED_PDUM_FIXTURES

FIXTURE_NAMES = sorted(p.stem for p in PDUM_FIXTURES.glob("*.json"))


def load(name: str) -> tuple[dict, bytes, bytes]:
    spec = json.loads((PDUM_FIXTURES / f"{name}.json").read_text())
    packed = (PDUM_FIXTURES / f"{name}.bin").read_bytes()
    assert packed.hex() == spec["packedHex"]
    return spec["header"], bytes.fromhex(spec["payloadHex"]), packed


def test_fixture_copy_matches_shared() -> None:
    if not SHARED_PDUM_FIXTURES.is_dir():
        pytest.skip("../shared/compat is not beside this checkout")
    for p in SHARED_PDUM_FIXTURES.iterdir():
        assert (PDUM_FIXTURES / p.name).read_bytes() == p.read_bytes(), p.name


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_golden_pack(name: str) -> None:
    header, payload, packed = load(name)
    assert protocol.pack_envelope(header, payload) == packed


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_golden_unpack(name: str) -> None:
    header, payload, packed = load(name)
    got_header, got_payload = protocol.unpack_envelope(packed)
    assert got_header == header
    assert list(got_header) == list(header)  # key order survives
    assert got_payload == payload


def test_builders_match_golden_vectors() -> None:
    header, payload, packed = load("image_jpeg")
    assert header["seq"] == 42
    built = protocol.ImageFrameHeader(
        seq=42, timestamp_us=700000, width=1280, height=720, mime="image/jpeg"
    ).as_dict()
    assert protocol.pack_envelope(built, payload) == packed
    _header, payload, packed = load("video_annexb")
    built = protocol.VideoChunkHeader(
        seq=7, timestamp_us=16666, width=640, height=480, codec="avc1.42E01F", keyframe=True
    ).as_dict()
    assert protocol.pack_envelope(built, payload) == packed


def test_optional_header_fields_come_last() -> None:
    h = protocol.VideoChunkHeader(
        seq=1, timestamp_us=2, width=4, height=6, codec="avc1.42C01F", keyframe=False,
        duration_us=33333, pixel_ratio=2.0, color={"matrix": "bt709"},
    ).as_dict()  # fmt: skip
    assert list(h)[-3:] == ["duration_us", "pixel_ratio", "color"]
    assert "pixel_ratio" not in protocol.ImageFrameHeader(
        seq=0, timestamp_us=0, width=1, height=1, mime="image/png"
    ).as_dict()


@pytest.mark.parametrize("payload", [b"", b"\x00\x01\x02" * 1000])
def test_round_trip(payload: bytes) -> None:
    header = {"type": "image_frame", "seq": 3, "note": "naïve ✓"}
    packed = protocol.pack_envelope(header, payload)
    assert b"\\u00ef" in packed  # non-ASCII escaped as in 0.x
    assert protocol.unpack_envelope(packed) == (header, payload)
    assert protocol.unpack_envelope(memoryview(packed)) == (header, payload)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", 1002),
        (b"\x05\x00", 1002),
        (b"\x10\x00\x00\x00{}", 1002),
        (b"\x02\x00\x00\x00{x", 1007),
        (b"\x02\x00\x00\x00[]", 1002),
    ],
)
def test_unpack_rejects_bad_envelopes(data: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as err:
        protocol.unpack_envelope(data)
    assert err.value.close_code == code


def test_parse_valid_messages() -> None:
    hello = protocol.parse_client_message(
        '{"type":"hello","supported":["image/jpeg","webcodecs/h264-annexb"],'
        '"device_pixel_ratio":1,"token":"t","future_field":1}'
    )
    assert hello == protocol.Hello(("image/jpeg", "webcodecs/h264-annexb"), 1.0, "t")
    assert protocol.parse_client_message(
        '{"type":"ack","seq":5,"decode_queue_size":1,"displayed":true}'
    ) == protocol.Ack(5, 1, True)
    assert protocol.parse_client_message(
        '{"type":"request_keyframe","reason":"gap"}'
    ) == protocol.RequestKeyframe("gap")
    assert protocol.parse_client_message('{"type":"decoder_reset"}') == protocol.DecoderReset()
    vp = protocol.parse_client_message(
        '{"type":"set_viewport","width":640.5,"height":480,"pwidth":1281,"pheight":960,"ratio":2}'
    )
    assert isinstance(vp, protocol.SetViewport)
    assert vp.as_resize_event() == {
        "type": "resize", "width": 640.5, "height": 480, "pwidth": 1281, "pheight": 960,
        "ratio": 2.0,
    }  # fmt: skip
    ev = protocol.parse_client_message(
        json.dumps({"type": "event", "event": {
            "type": "pointer_down", "x": 10.5, "y": 20, "inside": True, "pixel_ratio": 2,
            "button": 1, "buttons": [1], "modifiers": ["Shift"], "timestamp": 12.5}})
    )  # fmt: skip
    assert isinstance(ev, protocol.InputEventMessage)
    assert ev.event["x"] == 10.5 and ev.event["modifiers"] == ["Shift"]
    key = protocol.parse_client_message(
        '{"type":"event","event":{"type":"key_down","key":"A","code":"KeyA",'
        '"modifiers":["Shift"],"timestamp":1}}'
    )
    assert isinstance(key, protocol.InputEventMessage)
    wheel = protocol.parse_client_message(
        '{"type":"event","event":{"type":"wheel","x":1,"y":2,"dx":0,"dy":-48}}'
    )
    assert isinstance(wheel, protocol.InputEventMessage)


def test_parse_frame_shown() -> None:
    msg = protocol.parse_client_message('{"type":"frame_shown","rtp_timestamp":4294967295}')
    assert msg == protocol.FrameShown(4294967295)


BAD_MESSAGES = [
    ("not json", 1007),
    ("[1,2]", 1008),
    ('"hello"', 1008),
    ("{}", 1008),
    ('{"type":5}', 1008),
    ('{"type":"subscribe"}', 1008),
    ('{"type":"hello"}', 1008),
    ('{"type":"hello","supported":"image/jpeg"}', 1008),
    ('{"type":"hello","supported":[1]}', 1008),
    ('{"type":"hello","supported":[],"device_pixel_ratio":"2"}', 1008),
    ('{"type":"ack"}', 1008),
    ('{"type":"ack","seq":"1"}', 1008),
    ('{"type":"ack","seq":true}', 1008),
    ('{"type":"ack","seq":-1}', 1008),
    ('{"type":"ack","seq":1.5}', 1008),
    ('{"type":"ack","seq":1,"displayed":"yes"}', 1008),
    ('{"type":"set_viewport","width":1,"height":1,"pwidth":1,"pheight":1}', 1008),
    ('{"type":"set_viewport","width":-1,"height":1,"pwidth":1,"pheight":1,"ratio":1}', 1008),
    ('{"type":"set_viewport","width":1e400,"height":1,"pwidth":1,"pheight":1,"ratio":1}', 1008),
    ('{"type":"event"}', 1008),
    ('{"type":"event","event":[]}', 1008),
    ('{"type":"event","event":{"type":"explode"}}', 1008),
    ('{"type":"event","event":{"type":"pointer_move","x":1}}', 1008),
    ('{"type":"event","event":{"type":"pointer_move","x":"1","y":2}}', 1008),
    ('{"type":"event","event":{"type":"pointer_move","x":1,"y":2,"buttons":[99]}}', 1008),
    ('{"type":"event","event":{"type":"pointer_move","x":1,"y":2,"modifiers":["Hyper"]}}', 1008),
    ('{"type":"event","event":{"type":"wheel","x":1,"y":2,"dx":1}}', 1008),
    ('{"type":"event","event":{"type":"key_down","code":"KeyA"}}', 1008),
    ('{"type":"event","event":{"type":"key_down","key":"' + "A" * 300 + '"}}', 1008),
    ('{"type":"request_keyframe","reason":5}', 1008),
    ('{"type":"frame_shown"}', 1008),
    ('{"type":"frame_shown","rtp_timestamp":4294967296}', 1008),
    ('{"type":"frame_shown","rtp_timestamp":-1}', 1008),
    ('{"type":"frame_shown","rtp_timestamp":"7"}', 1008),
    ('{"type":"ack","seq":1,"pad":"' + "x" * 70000 + '"}', 1009),
]


@pytest.mark.parametrize(("text", "code"), BAD_MESSAGES)
def test_parse_rejects_malformed(text: str, code: int) -> None:
    with pytest.raises(ProtocolError) as err:
        protocol.parse_client_message(text)
    assert err.value.close_code == code
    assert err.value.reason


def test_close_reason_fits_a_control_frame() -> None:
    err = ProtocolError(1008, "é" * 200)
    assert len(err.reason.encode()) <= 123


@pytest.mark.parametrize(
    ("supported", "h264", "force", "expected"),
    [
        (
            ["image/jpeg", "image/png", "webcodecs/h264-annexb"],
            True,
            False,
            "webcodecs/h264-annexb",
        ),
        (["image/jpeg", "image/png", "webcodecs/h264-annexb"], False, False, "image/jpeg"),
        (["image/jpeg", "image/png", "webcodecs/h264-annexb"], True, True, "image/jpeg"),
        (["image/png", "image/webp"], True, False, "image/png"),
        (["image/webp"], True, False, "image/webp"),
        (["video/vp9"], True, False, None),
        ([], True, False, None),
    ],
)
def test_negotiation_order(supported, h264, force, expected) -> None:
    assert protocol.negotiate(supported, h264_available=h264, force_image=force) == expected


def test_negotiation_prefers_the_servers_image_format() -> None:
    caps = ["image/jpeg", "image/png", "image/webp"]
    assert protocol.negotiate(caps, h264_available=False, preferred_image="image/webp") == (
        "image/webp"
    )


def test_touch_and_pen_fields_are_checked_and_named() -> None:
    ok = {"type": "pointer_down", "x": 1, "y": 2, "pointer_id": 7, "pointer_type": "pen",
          "pressure": 0.4, "tilt_x": -30, "tilt_y": 90}  # fmt: skip
    assert protocol.validate_input_event(dict(ok)) == ok
    for field, value, words in [
        ("pointer_type", "nose", "unknown pointer_type 'nose'"),
        ("pointer_id", -1, "'pointer_id' out of range"),
        ("pointer_id", 1.5, "'pointer_id' has the wrong type"),
        ("pressure", 1.5, "'pressure' out of range"),
        ("tilt_x", 91, "'tilt_x' out of range"),
    ]:
        with pytest.raises(protocol.ProtocolError, match=words) as err:
            protocol.validate_input_event({**ok, field: value})
        assert err.value.close_code == 1008


def test_a_gamepad_state_is_checked_and_passed_through() -> None:
    ok = pad(2, pressed=True, axis=-0.25)
    ok["buttons"][1]["touched"] = True
    assert protocol.validate_input_event(dict(ok)) == ok
    gone = {"type": "gamepad", "index": 3, "connected": False, "buttons": [], "axes": []}
    assert protocol.validate_input_event(dict(gone)) == gone
    # The whole text of a full pad (32 buttons, 16 axes) as the browser sends it parses.
    full = {**ok, "buttons": [{"pressed": True, "value": 1}] * 32, "axes": [1, -1.0] * 8}
    assert protocol.parse_client_message(protocol.dumps({"type": "event", "event": full}))


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("index", 4, "'index' out of range"),
        ("index", -1, "'index' out of range"),
        ("index", True, "'index' has the wrong type"),
        ("connected", 1, "'connected' has the wrong type"),
        ("buttons", [{"pressed": True, "value": 0}] * 33, "more than 32 buttons"),
        ("buttons", [{"pressed": True, "value": math.nan}], "'value' out of range"),
        ("buttons", [{"pressed": True, "value": 1.5}], "'value' out of range"),
        ("buttons", [{"value": 1}], "missing field 'pressed'"),
        ("buttons", [1], "a button must be an object"),
        ("axes", [0.0] * 17, "more than 16 axes"),
        ("axes", [math.nan], "an axis must be a finite number"),
        ("axes", [-math.inf], "an axis must be a finite number"),
        ("axes", [1.001], "an axis must be a finite number"),
        ("axes", [True], "an axis must be a finite number"),
        ("id", "x" * 257, "'id' longer than 256"),
        ("mapping", "m" * 33, "'mapping' longer than 32"),
    ],
)
def test_a_bad_gamepad_state_closes_with_1008_and_a_reason(field: str, value: Any,
                                                           words: str) -> None:  # fmt: skip
    with pytest.raises(protocol.ProtocolError, match=words) as err:
        protocol.validate_input_event({**pad(), field: value})
    assert err.value.close_code == 1008
    # As a viewer sends it: NaN and Infinity are JSON literals Python's parser accepts.
    text = json.dumps({"type": "event", "event": {**pad(), field: value}})
    with pytest.raises(protocol.ProtocolError) as err:
        protocol.parse_client_message(text)
    assert err.value.close_code == 1008


@fuzz(150)
@given(bad_gamepad_events())
def test_fuzzed_bad_gamepad_states_are_refused(event: dict[str, Any]) -> None:
    assert validate(event) is None, event


# ---------------------------------------------------------------------------
# Server -> client messages: golden vectors, one file per message type, read by the
# TypeScript tests too (browser/tests/server-messages.test.ts).

SERVER_FIXTURES = FIXTURES / "server-messages"
COLOR = {"primaries": "bt709", "transfer": "iec61966-2-1", "matrix": "smpte170m",
         "full_range": False, "bit_depth": 8}  # fmt: skip
ICE = (
    {"urls": ["stun:stun.example.org:3478"]},
    {"urls": ["turn:turn.example.org:3478?transport=udp",
              "turn:turn.example.org:3478?transport=tcp"],
     "username": "1700000000:rfb", "credential": "VxDDhmo7vt/Ds+AK5zbM5maPmiw="},
)  # fmt: skip
PNG_1PX_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNg+M/"
    "A8B8ABQACAeIhe8YAAAAASUVORK5CYII="
)


def _stats(**over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        rtt_ms=1.93, fps_sent=30.0, fps_acked=29.5, bitrate_bps=620000, encode_ms=5.412,
        decode_queue_size=0, dropped=3, target_bitrate=None, target_fps=30.0, latency_ms=7.8,
        latency_p95_ms=9.94, latency_source="ack", viewers=2, client_id="v3",
    )  # fmt: skip
    return {**fields, **over}


ADAPT_IMAGE = protocol.StatsAdaptation(
    rung=1, rungs=3, target_rung=None, rung_width=960, rung_height=540, rung_quality=70,
    estimate_bps=1834000, queue_ms=12.5, rung_switches=2, adapt_reason="congested",
)  # fmt: skip
ADAPT_VIDEO = protocol.StatsAdaptation(
    rung=0, rungs=4, target_rung=1, rung_width=1280, rung_height=720, rung_quality=None,
    estimate_bps=None, queue_ms=None, rung_switches=0, adapt_reason=None,
)  # fmt: skip

# (type, case name) -> the dataclass that must encode to the fixture's bytes.
SERVER_MESSAGES: dict[tuple[str, str], object] = {
    ("config", "image"): protocol.Config(
        "image", 1280, 720, mime="image/jpeg", client_id="v4"),
    ("config", "webcodecs_over_websocket"): protocol.Config(
        "webcodecs", 1280, 720, codec="avc1.42C01F", color=COLOR, client_id="v3",
        view_only=True, ice_servers=ICE, webrtc="/cam/whep"),
    ("config", "webrtc_before_first_unit"): protocol.Config(
        "webrtc", 640, 480, codec=None, color=COLOR, client_id="v7", ice_servers=()),
    ("config", "pdum_0x_pixel_ratio"): protocol.Config(
        "image", 3, 5, pixel_ratio=1.5, mime="image/png", client_id="vé"),
    ("stats", "websocket_image_rung"): protocol.Stats(
        **_stats(), adaptation=ADAPT_IMAGE),
    ("stats", "webrtc"): protocol.Stats(
        **_stats(latency_source="shown", target_bitrate=2000000, client_id="v9"),
        adaptation=ADAPT_VIDEO,
        webrtc=protocol.StatsWebRtc(keyframe_requests=4, remb_bps=2500000,
                                    fraction_lost=0.0125, pacing_bps=3125000),
    ),
    ("stats", "before_any_ack_no_adaptation"): protocol.Stats(**_stats(
        rtt_ms=None, fps_sent=0.0, fps_acked=0.0, bitrate_bps=0, encode_ms=None,
        latency_ms=None, latency_p95_ms=None, latency_source=None, viewers=1, dropped=0,
    )),
    ("stats", "at_rest_exact_still"): protocol.Stats(**_stats(
        fps_sent=0.0, fps_acked=0.0, bitrate_bps=0, latency_ms=None, latency_p95_ms=None,
        latency_source=None, viewers=1, dropped=0,
    ), stills=protocol.StatsStills(1, 0, "exact")),
    ("message", "object"): protocol.AppMessage({"speed": 2, "label": "vitesse é ✓"}),
    ("message", "null"): protocol.AppMessage(None),
    ("message", "list"): protocol.AppMessage([1, 2.5, "two", True, {"k": []}]),
    ("cursor", "name"): protocol.Cursor("crosshair"),
    ("cursor", "image"): protocol.Cursor("pointer", PNG_1PX_URL, (3, 4)),
    ("clipboard", "text"): protocol.Clipboard('copied ✓\n"quoted" 😀'),
    ("pointer_lock", "lock"): protocol.PointerLock(True),
    ("pointer_lock", "release"): protocol.PointerLock(False),
    ("close", "going_away"): protocol.Close(protocol.CLOSE_GOING_AWAY, "server shutting down"),
    ("control", "held"): protocol.ControlState(
        "exclusive", "v3", False, "Alice é", ("v5", "v7"), "request"),
    ("control", "shared"): protocol.ControlState("shared"),
    ("control", "by_app"): protocol.ControlState("exclusive", None, True, None, ("v5",), "app"),
    ("control", "refused_view_only"): protocol.ControlState(
        "exclusive", "v3", False, "Alice é", (), "idle", "view_only"),
    ("viewers", "two"): protocol.Viewers((
        protocol.ViewerInfo("v3", "Alice é", "websocket", "drive", True),
        protocol.ViewerInfo("v4", None, "webrtc", "view", False)), True),
    ("viewers", "empty"): protocol.Viewers(()),
    ("pointers", "moves"): protocol.Pointers(
        (("v3", 12.25, 40.0, True), ("v4", -3.0, 7.5, False))),
    ("file_offer", "csv"): protocol.FileOfferOut(3, "résumé.csv", 5242880, "text/csv"),
    ("file_offer", "empty"): protocol.FileOfferOut(4, "empty.bin", 0, "application/octet-stream"),
    ("file_status", "accepted"): protocol.FileStatus(
        1, "accepted", received=0, window=8 * 61440, chunk=61440),
    ("file_status", "progress"): protocol.FileStatus(1, "progress", received=61440),
    ("file_status", "done"): protocol.FileStatus(1, "done", received=20971520),
    ("file_status", "refused_too_big"): protocol.FileStatus(
        2, "refused", reason="too_big", max_bytes=33554432),
    ("file_status", "failed_timeout"): protocol.FileStatus(
        5, "failed", received=122880, reason="timeout"),
    ("file_chunk", "second_chunk"): protocol.FileChunkHeader(3, 61440),
    ("image_frame", "jpeg"): protocol.ImageFrameHeader(0, 0, 1280, 720, "image/jpeg"),
    ("image_frame", "scaled_rung"): protocol.ImageFrameHeader(
        17, 566666, 960, 540, "image/webp", frame_size=(1280, 720)),
    ("image_frame", "pixel_ratio_same_size"): protocol.ImageFrameHeader(
        2, 66666, 64, 64, "image/png", pixel_ratio=2.5, frame_size=(64, 64)),
    ("image_frame", "exact_still"): protocol.ImageFrameHeader(
        5, 1233333, 640, 480, "image/png", exact=True),
    ("image_frame", "exact_still_webrtc"): protocol.ImageFrameHeader(
        6, 1233333, 640, 480, "image/png", exact=True, rtp_timestamp=3735928559),
    ("image_frame", "jpeg_input_seq"): protocol.ImageFrameHeader(
        4, 133333, 1280, 720, "image/jpeg", input_seq=7),
    ("video_chunk", "keyframe_scaled"): protocol.VideoChunkHeader(
        1, 33333, 640, 360, "avc1.42C01E", True, duration_us=33333, color=COLOR,
        frame_size=(1280, 720)),
    ("video_chunk", "delta"): protocol.VideoChunkHeader(
        2, 66666, 1280, 720, "avc1.42C01F", False, duration_us=33333),
    ("video_chunk", "no_duration"): protocol.VideoChunkHeader(
        0, 0, 2, 2, "avc1.42C00A", True),
    ("video_chunk", "delta_input_seq"): protocol.VideoChunkHeader(
        3, 99999, 1280, 720, "avc1.42C01F", False, duration_us=33333, input_seq=42),
    ("input_frame", "note"): protocol.InputFrame(3735928559, 42),
    ("audio_chunk", "mono"): protocol.AudioChunkHeader(0, 1233333, 20000, 1),
    ("audio_chunk", "stereo"): protocol.AudioChunkHeader(41, 2053333, 20000, 2),
}  # fmt: skip


def server_cases() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(SERVER_FIXTURES.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert path.stem == doc["type"]
        out += [(doc["type"], case) for case in doc["cases"]]
    return out


def test_every_server_message_type_has_golden_vectors() -> None:
    got = {(kind, case["name"]) for kind, case in server_cases()}
    assert got == set(SERVER_MESSAGES)
    kinds = {kind for kind, _ in got}
    assert kinds == {"config", "stats", "message", "cursor", "clipboard", "pointer_lock",
                     "close", "image_frame", "video_chunk", "audio_chunk", "control", "viewers",
                     "pointers", "file_offer", "file_status", "file_chunk",
                     "input_frame"}  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "case"), server_cases(), ids=[f"{k}-{c['name']}" for k, c in server_cases()]
)
def test_server_messages_encode_to_the_golden_bytes(kind: str, case: dict) -> None:
    msg = SERVER_MESSAGES[(kind, case["name"])]
    if "text" in case:  # a control message: the text, byte for byte
        assert isinstance(msg, protocol.ServerMessage)
        assert msg.encode() == case["text"]
        assert protocol.encode_server_message(msg) == case["text"]
        assert json.loads(case["text"]) == case["message"]
        assert list(msg.as_dict()) == list(case["message"])  # key order
        assert msg.as_dict()["type"] == kind
    else:  # a binary envelope's header
        assert isinstance(msg, protocol.ImageFrameHeader | protocol.VideoChunkHeader
                          | protocol.AudioChunkHeader | protocol.FileChunkHeader)
        payload = bytes.fromhex(case["payloadHex"])
        assert msg.pack(payload).hex() == case["packedHex"]
        assert list(msg.as_dict()) == list(case["header"])
        assert protocol.unpack_envelope(bytes.fromhex(case["packedHex"])) == (
            case["header"], payload)  # fmt: skip


def test_server_messages_are_frozen_and_slotted() -> None:
    for msg in SERVER_MESSAGES.values():
        assert dataclasses.is_dataclass(msg) and not hasattr(msg, "__dict__"), type(msg)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(msg, dataclasses.fields(msg)[0].name, None)


def test_config_optional_fields_are_sent_only_when_set() -> None:
    bare = protocol.Config("image", 1, 1).as_dict()
    assert bare == {"type": "config", "transport": "image", "width": 1, "height": 1,
                    "coords": "frame-pixels"}  # fmt: skip
    full = protocol.Config("webrtc", 2, 2, view_only=False, ice_servers=(), webrtc=None)
    assert "view_only" not in full.as_dict() and full.as_dict()["ice_servers"] == []


def test_stats_adaptation_from_the_hubs_figures() -> None:
    figures = {"rung": 1, "rungs": 3, "target_rung": None, "rung_width": 960,
               "rung_height": 540, "rung_fps": 15.0, "rung_bitrate": None, "rung_quality": 70,
               "estimate_bps": 1834000, "queue_ms": 12.5, "rung_switches": 2,
               "adapt_reason": "congested"}  # fmt: skip
    assert protocol.StatsAdaptation.from_figures(figures) == ADAPT_IMAGE
    with pytest.raises(KeyError):
        protocol.StatsAdaptation.from_figures({"rung": 0})


# ---------------------------------------------------------------------------
# Connection state: hello first, only once, in time (on a fake clock, no sockets)

HELLO = protocol.Hello(("image/jpeg",), 1.0, None)
ACK = protocol.Ack(0, 0, True)


def test_hello_first_then_anything_but_hello() -> None:
    state = protocol.ConnectionState(opened_at=100.0, hello_timeout=10.0)
    assert not state.greeted
    assert state.hello_wait(100.0) == 10.0 and state.hello_wait(103.5) == 6.5
    assert state.receive(HELLO, 109.9) is HELLO
    assert state.greeted and state.hello_wait(200.0) is None
    assert not state.timed_out(1e9)  # no deadline once greeted
    state.check(1e9)
    for msg in (ACK, protocol.DecoderReset(), protocol.RequestKeyframe("gap")):
        assert state.receive(msg, 1e9) is msg
    with pytest.raises(ProtocolError) as err:
        state.receive(HELLO, 300.0)
    assert (err.value.close_code, err.value.reason) == (1002, "hello sent twice")


@pytest.mark.parametrize(
    "first",
    [ACK, protocol.DecoderReset(), protocol.SetViewport(1, 1, 1, 1, 1.0),
     protocol.InputEventMessage({"type": "key_down", "key": "a"}), protocol.FrameShown(1)],
)  # fmt: skip
def test_anything_before_hello_closes_with_1002(first: protocol.ClientMessage) -> None:
    state = protocol.ConnectionState(opened_at=0.0, hello_timeout=10.0)
    with pytest.raises(ProtocolError) as err:
        state.receive(first, 1.0)
    assert (err.value.close_code, err.value.reason) == (1002, "the first message must be hello")
    assert not state.greeted


def test_no_hello_in_time_closes_with_1002() -> None:
    state = protocol.ConnectionState(opened_at=50.0, hello_timeout=0.3)
    assert not state.timed_out(50.29)
    state.check(50.29)
    assert state.timed_out(50.3) and state.hello_wait(51.0) == 0.0
    with pytest.raises(ProtocolError) as err:
        state.check(50.3)
    assert (err.value.close_code, err.value.reason) == (1002, "no hello received")
    with pytest.raises(ProtocolError, match="no hello received"):
        state.receive(HELLO, 50.31)  # a late hello is not accepted
    assert not state.greeted
    expired = state.expired()  # the transport's wait ran out
    assert (expired.close_code, expired.reason) == (1002, "no hello received")


def test_the_default_hello_timeout_is_ten_seconds() -> None:
    state = protocol.ConnectionState(opened_at=0.0)
    assert protocol.HELLO_TIMEOUT_S == 10.0 and state.hello_wait(0.0) == 10.0


def test_close_message_is_valid_json() -> None:
    # What a WebRTC viewer gets on its data channel before the peer connection ends.
    bye = {"type": "close", "code": protocol.CLOSE_GOING_AWAY, "reason": "server shutting down"}
    assert json.loads(protocol.dumps(bye)) == bye


# -- fuzzed (hypothesis, derandomised): anything but ProtocolError escaping is a failure ---
# The envelope, every client control message and input events; the strategies and the
# checks of what an accepted message satisfies are in support/fuzzing.py.


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
def test_parse_fuzzed_valid_messages(text: str) -> None:
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
