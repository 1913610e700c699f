"""The wire protocol: golden vectors byte for byte, round trips, validation."""

from __future__ import annotations

import json

import pytest
from conftest import PDUM_FIXTURES, SHARED_PDUM_FIXTURES

from rfb import protocol
from rfb.protocol import ProtocolError

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
    built = protocol.image_frame_header(
        seq=42, timestamp_us=700000, width=1280, height=720, mime="image/jpeg"
    )
    assert protocol.pack_envelope(built, payload) == packed
    _header, payload, packed = load("video_annexb")
    built = protocol.video_chunk_header(
        seq=7, timestamp_us=16666, width=640, height=480, codec="avc1.42E01F", keyframe=True
    )
    assert protocol.pack_envelope(built, payload) == packed


def test_optional_header_fields_come_last() -> None:
    h = protocol.video_chunk_header(
        seq=1, timestamp_us=2, width=4, height=6, codec="avc1.42C01F", keyframe=False,
        duration_us=33333, pixel_ratio=2.0, color={"matrix": "bt709"},
    )  # fmt: skip
    assert list(h)[-3:] == ["duration_us", "pixel_ratio", "color"]
    assert "pixel_ratio" not in protocol.image_frame_header(
        seq=0, timestamp_us=0, width=1, height=1, mime="image/png"
    )


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
