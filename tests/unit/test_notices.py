"""What the application says to viewers (rfb/notices.py), sans I/O: only viewers that
announced a kind get it, a newcomer gets the current cursor, bad notices are refused.
(Over a real WebSocket: tests/integration/test_notices.py.)"""

from __future__ import annotations

import json

import pytest

from rfb import protocol
from rfb.notices import Notices, cursor_message

ALL = tuple(sorted(protocol.FEATURES))
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2217bc60000000049454e44ae426082"
)


def test_only_viewers_that_announced_a_kind_get_it() -> None:
    n = Notices()
    got: dict[str, list[dict]] = {"new": [], "old": [], "cursor-only": []}
    n.open("new", lambda t: got["new"].append(json.loads(t)), frozenset(ALL))
    n.open("old", lambda t: got["old"].append(json.loads(t)), frozenset())  # pdum.rfb 0.x
    n.open("cursor-only", lambda t: got["cursor-only"].append(json.loads(t)),
           frozenset({"cursor"}))  # fmt: skip
    assert n.send(protocol.AppMessage([1, "é"])) == 1
    assert n.send(cursor_message("crosshair")) == 2
    assert got["new"] == [{"type": "message", "data": [1, "é"]},
                          {"type": "cursor", "cursor": "crosshair"}]  # fmt: skip
    assert got["old"] == []
    assert got["cursor-only"] == [{"type": "cursor", "cursor": "crosshair"}]
    assert n.send(protocol.AppMessage(2), client_id="old") == 0
    with pytest.raises(KeyError, match="no viewer 'gone'"):
        n.send(protocol.AppMessage(2), client_id="gone")
    assert n.send(protocol.Clipboard("x")) == 1 and n.send(protocol.PointerLock(False)) == 1
    assert got["new"][-2:] == [{"type": "clipboard", "text": "x"},
                               {"type": "pointer_lock", "lock": False}]  # fmt: skip
    assert got["cursor-only"] == [{"type": "cursor", "cursor": "crosshair"}]
    assert n.sent == {"messages": 1, "cursor": 2, "clipboard": 1, "pointer_lock": 1}


def test_each_notice_is_sent_for_its_hello_feature() -> None:
    kinds = (protocol.AppMessage, protocol.Cursor, protocol.Clipboard, protocol.PointerLock,
             protocol.ControlState, protocol.Viewers, protocol.Pointers)  # fmt: skip
    assert {k.feature for k in kinds} == protocol.NOTICE_FEATURES
    assert protocol.NOTICE_FEATURES | {protocol.FEATURE_EXACT_STILL, protocol.FEATURE_FILES} == (
        protocol.FEATURES - {getattr(protocol, "FEATURE_AUDIO", "")}
    )  # audio: binary audio_chunk messages, not a notice (its own test)


def test_a_newcomer_gets_the_current_cursor_its_own_first() -> None:
    n = Notices()
    n.send(cursor_message("grab"))  # before anyone is watching
    seen: list[dict] = []
    first = n.open("a", lambda t: seen.append(json.loads(t)), frozenset({"cursor"}))
    assert [json.loads(t) for t in first] == [{"type": "cursor", "cursor": "grab"}]
    n.send(cursor_message("text"), client_id="a")
    assert seen == [{"type": "cursor", "cursor": "text"}]
    n.close("a")  # its own cursor goes with it
    first = n.open("a", lambda t: seen.append(json.loads(t)), frozenset({"cursor"}))
    assert [json.loads(t) for t in first] == [{"type": "cursor", "cursor": "grab"}]
    assert n.open("b", seen.append, frozenset({"messages"})) == []  # did not ask for cursors


def test_bad_notices_are_refused_with_what_is_wrong() -> None:
    n = Notices()
    with pytest.raises(TypeError, match="must be JSON"):
        n.send(protocol.AppMessage(object()))
    with pytest.raises(TypeError, match="must be JSON"):
        n.send(protocol.AppMessage(float("nan")))  # no NaN literal for a browser's JSON.parse
    with pytest.raises(ValueError, match="over the 65536-byte limit"):
        n.send(protocol.AppMessage("x" * 70_000))
    with pytest.raises(TypeError, match="must be a str"):
        protocol.Clipboard(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown cursor 'hand'"):
        cursor_message("hand")
    with pytest.raises(ValueError, match="must be a PNG"):
        cursor_message("pointer", image=b"GIF89a")
    with pytest.raises(ValueError, match="data: URL"):
        cursor_message("pointer", image="javascript:alert(1)")
    with pytest.raises(ValueError, match="hotspot"):
        cursor_message("pointer", image=PNG_1PX, hotspot=(-1, 0))
    with pytest.raises(ValueError, match="hotspot"):
        protocol.Cursor("pointer", "data:image/png;base64,AA==", (True, 0))  # a bool is no int
    with pytest.raises(ValueError, match="over 32768 bytes"):
        cursor_message("pointer", image="data:image/png;base64," + "A" * 32768)
    msg = cursor_message("pointer", image=PNG_1PX, hotspot=(3, 4))
    assert msg.image is not None and msg.image.startswith("data:image/png;base64,")
    assert msg.as_dict()["hotspot"] == [3, 4]
    # A name alone sends no hotspot; an image's hotspot defaults to its top-left corner.
    assert json.loads(cursor_message("wait").encode()) == {"type": "cursor", "cursor": "wait"}
    assert protocol.Cursor("grab", msg.image).as_dict()["hotspot"] == [0, 0]


def test_state_is_sent_to_listeners_now_and_to_newcomers_first() -> None:
    n = Notices()
    n.set_state(protocol.ControlState("exclusive", "v1"))  # before anyone is watching
    seen: list[dict] = []
    first = n.open("a", lambda t: seen.append(json.loads(t)), frozenset({"control"}))
    assert [json.loads(t)["holder"] for t in first] == ["v1"]
    assert n.open("b", seen.append, frozenset()) == []  # a 0.x client: nothing
    assert n.set_state(protocol.ControlState("exclusive", "v2")) == 1
    assert [m["holder"] for m in seen] == ["v2"]
    assert n.listening("a", "control") and not n.listening("b", "control")
