"""The microphone's sans-I/O pieces: parse_client_binary's audio_in, the per-viewer gate
(roles, floor, packets and bytes per second), the bounded chunk queue, dtype views."""

from __future__ import annotations

import numpy as np
import pytest

from rfb import protocol
from rfb.protocol import ProtocolError
from rfb.session.audio_in import (
    MAX_BYTES_PER_S,
    MAX_PACKETS_PER_S,
    AudioInChunk,
    ChunkQueue,
    MicGate,
    MicVerdict,
    as_dtype,
    check_dtype,
)

GOOD = protocol.AudioIn(3, 1_000, 20_000, 48000, 1, b"\xf8\xff\xfe")


def test_an_audio_in_round_trips() -> None:
    assert protocol.parse_client_binary(GOOD.pack()) == GOOD
    assert protocol.parse_client_binary(
        protocol.pack_envelope({**GOOD.as_dict(), "extra": 1}, b"x")
    ) == protocol.AudioIn(3, 1_000, 20_000, 48000, 1, b"x")
    # file chunks still parse
    chunk = protocol.parse_client_binary(protocol.FileChunkHeader(1, 0).pack(b"ab"))
    assert chunk == protocol.FileChunk(1, 0, b"ab")


@pytest.mark.parametrize(
    ("change", "payload", "code", "says"),
    [
        ({"codec": "aac"}, b"x", 1003, "codec 'aac' is not 'opus'"),
        ({"seq": -1}, b"x", 1008, "'seq' out of range"),
        ({"seq": 2**53}, b"x", 1008, "'seq' out of range"),
        ({"seq": 1.0}, b"x", 1008, "'seq' has the wrong type"),
        ({"duration_us": 2_499}, b"x", 1008, "'duration_us' out of range"),
        ({"sample_rate": 44_100}, b"x", 1008, "'sample_rate' must be one of"),
        ({"channels": 0}, b"x", 1008, "'channels' must be 1 or 2"),
        ({"channels": True}, b"x", 1008, "'channels' has the wrong type"),
        ({"timestamp_us": 2**60}, b"x", 1008, "'timestamp_us' out of range"),
        ({}, b"", 1008, "empty packet"),
        ({}, b"x" * (protocol.AUDIO_IN_MAX + 1), 1009, "too big"),
    ],
)
def test_a_bad_audio_in_names_what_is_wrong(change, payload, code, says) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProtocolError) as err:
        protocol.parse_client_binary(protocol.pack_envelope({**GOOD.as_dict(), **change}, payload))
    assert err.value.close_code == code and says in err.value.reason, err.value.reason


def test_the_browsers_golden_message_parses() -> None:
    """browser/tests/microphone.test.ts packs these bytes with microphone.ts."""
    golden = bytes.fromhex(
        "760000007b2274797065223a22617564696f5f696e222c22736571223a372c2274696d657374616d70"
        "5f7573223a313233343536372c226475726174696f6e5f7573223a32303030302c22636f646563223a"
        "226f707573222c2273616d706c655f72617465223a34383030302c226368616e6e656c73223a317df8fffe"
    )
    want = protocol.AudioIn(7, 1234567, 20000, 48000, 1, b"\xf8\xff\xfe")
    assert protocol.parse_client_binary(golden) == want and want.pack() == golden


def test_missing_fields_are_named() -> None:
    for key in ("seq", "timestamp_us", "duration_us", "codec", "sample_rate", "channels"):
        header = GOOD.as_dict()
        del header[key]
        with pytest.raises(ProtocolError, match=f"missing field '{key}'"):
            protocol.parse_client_binary(protocol.pack_envelope(header, b"x"))


def test_roles_and_the_floor() -> None:
    assert MicGate(0, enabled=False, view_only=False).admit(10, 0) is MicVerdict.DISABLED
    assert MicGate(0, enabled=True, view_only=True).admit(10, 0) is MicVerdict.VIEW_ONLY
    gate = MicGate(0, enabled=True, view_only=False)
    assert gate.admit(10, 0, exclusive=True, holds_floor=False) is MicVerdict.CONTROL
    assert gate.admit(10, 0, exclusive=True, holds_floor=True) is MicVerdict.DELIVER
    assert gate.admit(10, 0) is MicVerdict.DELIVER
    # each refusal is news once
    assert gate.tell(MicVerdict.CONTROL) and not gate.tell(MicVerdict.CONTROL)
    assert gate.tell(MicVerdict.VIEW_ONLY)


def test_packets_per_second_are_bounded() -> None:
    gate = MicGate(0, enabled=True, view_only=False)
    verdicts = [gate.admit(10, 0.0) for _ in range(500)]
    assert verdicts.count(MicVerdict.DELIVER) == MAX_PACKETS_PER_S  # a one-second burst
    # then the rate: 50 more over half a second
    got = sum(gate.admit(10, 0.5 + i * 1e-4) is MicVerdict.DELIVER for i in range(200))
    assert 49 <= got <= 51
    # a steady 50 packets/s browser is never refused
    steady = MicGate(0, enabled=True, view_only=False)
    assert all(steady.admit(200, i * 0.02) is MicVerdict.DELIVER for i in range(3000))


def test_bytes_per_second_are_bounded_and_a_refusal_costs_no_packet() -> None:
    gate = MicGate(0, enabled=True, view_only=False)
    size = 4000
    ok = sum(gate.admit(size, 0.0) is MicVerdict.DELIVER for _ in range(50))
    assert ok == MAX_BYTES_PER_S // size
    assert gate.admit(10, 0.0) is MicVerdict.RATE
    # 10 ms later, 640 bytes came back; the refused packets were not counted as sent
    assert gate.admit(10, 0.01) is MicVerdict.DELIVER
    assert sum(gate.admit(1, 0.01) is MicVerdict.DELIVER for _ in range(200)) == (
        MAX_PACKETS_PER_S - ok - 1 + 1
    )  # the packet bucket refilled 1 in those 10 ms


def test_the_queue_drops_the_oldest_and_counts() -> None:
    q = ChunkQueue(limit=3)
    for i in range(5):
        q.put(AudioInChunk(np.zeros((1, 1), np.float32), 48000, "v1", None, i, i, seq=i))
    got = q.take_all()
    assert [c.seq for c in got] == [2, 3, 4] and q.dropped == 2 and q.delivered == 3
    assert q.take_all() == []


def test_dtype_views() -> None:
    pcm = np.array([[0.5], [-1.0], [1.0]], np.float32)
    c = AudioInChunk(pcm, 48000, "v1", "alice", 0, 0)
    i16 = as_dtype(c, "int16")
    assert i16.pcm.dtype == np.int16 and i16.pcm[:, 0].tolist() == [16384, -32767, 32767]
    assert i16.principal == "alice" and i16.channels == 1 and c.duration == 3 / 48000
    back = as_dtype(i16, np.float32)
    assert back.pcm.dtype == np.float32 and abs(back.pcm[0, 0] - 0.5) < 1e-4
    assert as_dtype(c, "float32") is c
    for bad in ("float64", "uint8", "nonsense", None):
        with pytest.raises(TypeError, match="float32 or int16"):
            check_dtype(bad)
