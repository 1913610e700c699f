"""The control floor's and presence's client messages (rfb/protocol.py): parsed into their
dataclasses, and malformed ones refused with 1008 (or 1007 for invalid Unicode), fuzzed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from rfb import protocol

from support.fuzzing import control_messages


def parse(**msg: object) -> protocol.ClientMessage:
    return protocol.parse_client_message(json.dumps(msg))


def test_control_messages_parse() -> None:
    assert parse(type="request_control") == protocol.RequestControl()
    assert parse(type="release_control", extra=1) == protocol.ReleaseControl()
    assert parse(type="give_control", client_id="v3") == protocol.GiveControl("v3")
    assert parse(type="presence", x=1, y=2.5) == protocol.PresencePointer(1.0, 2.5, True)
    assert parse(type="presence", x=1, y=2, inside=False).inside is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("msg", "words"),
    [
        ({"type": "give_control"}, "missing field 'client_id'"),
        ({"type": "give_control", "client_id": 3}, "wrong type"),
        ({"type": "give_control", "client_id": "v" * 65}, "longer than 64"),
        ({"type": "presence", "x": 1}, "missing field 'y'"),
        ({"type": "presence", "x": "1", "y": 1}, "wrong type"),
        ({"type": "presence", "x": 1e9, "y": 1}, "out of range"),
        ({"type": "presence", "x": True, "y": 1}, "wrong type"),
        ({"type": "presence", "x": 1, "y": 1, "inside": "no"}, "wrong type"),
    ],
)
def test_malformed_control_messages_close_with_1008(msg: dict, words: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=words) as err:
        protocol.parse_client_message(json.dumps(msg))
    assert err.value.close_code == protocol.CLOSE_POLICY_VIOLATION


def test_a_client_id_that_is_not_unicode_closes_with_1007() -> None:
    with pytest.raises(protocol.ProtocolError) as err:
        protocol.parse_client_message('{"type":"give_control","client_id":"\\ud800"}')
    assert err.value.close_code == protocol.CLOSE_INVALID_PAYLOAD


def test_the_new_features_may_be_announced() -> None:
    hello = parse(type="hello", supported=["image/png"], features=["control", "presence", "x"])
    assert hello.features == {"control", "presence"}  # type: ignore[union-attr]


@given(control_messages())
def test_any_control_message_parses_or_is_refused_with_a_close_code(text: str) -> None:
    try:
        msg = protocol.parse_client_message(text)
    except protocol.ProtocolError as exc:
        assert exc.close_code in (1007, 1008, 1009)
        return
    assert isinstance(msg, (protocol.RequestControl, protocol.ReleaseControl,
                            protocol.GiveControl, protocol.PresencePointer))  # fmt: skip
