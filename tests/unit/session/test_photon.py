"""Click-to-photon, sans I/O (rfb/session/photon.py) on a fake clock: which input numbers a
frame carries (only inputs the program took, newest per viewer, never lost when a frame is
replaced or unchanged), which frame each viewer is told first reflects them (once), the
samples viewers report, and the wire fields (optional; malformed ones close the sender)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from rfb import protocol
from rfb.access import Access
from rfb.inputs import InputSink
from rfb.options import StreamOptions
from rfb.protocol import ProtocolError
from rfb.session.photon import BUCKETS_S, RECENT_WINDOW_S, PhotonSamples, Stamps, TakenInputs
from rfb.stream import Stream

from support.clock import Clock
from support.events import CLICK, key, move


def sink(clock: Clock, rate: float | None = None) -> InputSink:
    s = InputSink(clock, clock.us, rate=rate)
    s.open("a", Access())
    s.open("b", Access())
    return s


# -- what the program took ------------------------------------------------------------------


def test_nothing_is_taken_until_the_program_polls() -> None:
    s = sink(Clock())
    s.push("a", CLICK, 1)
    s.push("b", key("key_down"), 7)
    assert s.photon.taken.taken == {}  # queued, not taken: no frame can reflect them yet
    assert [e.input_seq for e in s.poll()] == [1, 7]
    assert s.photon.taken.taken == {"a": 1, "b": 7}


def test_the_newest_number_taken_per_viewer_is_kept_and_never_goes_back() -> None:
    s = sink(Clock())
    for seq in (1, 2, 3):
        s.push("a", key("key_down", f"Key{chr(64 + seq)}"), seq)
    s.poll()
    assert s.photon.taken.taken == {"a": 3}
    taken = TakenInputs()
    taken.record([("a", 5), ("a", 4), ("b", None)])
    assert taken.taken == {"a": 5}  # out of order and numberless events change nothing
    before = taken.taken
    taken.record([("a", 2)])
    assert taken.taken == {"a": 5} and taken.taken is before  # unchanged: not even copied


def test_a_mapping_read_by_publish_is_never_changed_later() -> None:
    s = sink(Clock())
    s.push("a", CLICK, 1)
    s.poll()
    held = s.photon.taken.taken  # what a frame published now keeps
    s.push("a", key("key_down"), 2)
    s.poll()
    assert held == {"a": 1} and s.photon.taken.taken == {"a": 2}


def test_old_clients_without_numbers_record_nothing() -> None:
    s = sink(Clock())
    s.push("a", CLICK)  # pdum.rfb 0.x: no input_seq
    assert len(s.poll()) == 1
    assert s.photon.taken.taken == {}


def test_events_the_sink_drops_are_never_taken() -> None:
    clock = Clock()
    s = InputSink(clock, clock.us, rate=2)
    s.open("v", Access())
    s.open("ro", Access(view_only=True))
    s.push("ro", CLICK, 1)  # view-only: dropped
    s.push("v", key("key_down", "KeyA"), 1)
    s.push("v", key("key_down", "KeyB"), 2)
    s.push("v", key("key_down", "KeyC"), 3)  # past the rate: dropped
    assert [e.input_seq for e in s.poll()] == [1, 2]
    assert s.photon.taken.taken == {"v": 2}
    assert s.dropped == {"view_only": 1, "rate": 1}


def test_a_move_coalesced_into_a_newer_one_is_taken_as_the_newer() -> None:
    clock = Clock()
    s = InputSink(clock, clock.us, rate=1)
    s.open("v", Access())
    s.push("v", move(1), 1)
    s.push("v", move(2), 2)  # over budget: merges into the queued move
    s.push("v", move(3), 3)  # ...and so does this: 1 and 2 are never delivered
    assert [(e.event["x"], e.input_seq) for e in s.poll()] == [(3, 3)]
    assert s.photon.taken.taken == {"v": 3} and s.dropped == {"coalesced": 2}


async def test_the_events_iterator_takes_each_event_when_it_is_yielded() -> None:
    s = sink(Clock())
    s.push("a", CLICK, 1)
    s.push("a", key("key_down"), 2)
    it = s.stream().__aiter__()
    first = await it.__anext__()
    assert first.input_seq == 1 and s.photon.taken.taken == {"a": 1}  # 2 is not handed yet
    await it.__anext__()
    assert s.photon.taken.taken == {"a": 2}
    s.shut()


def test_a_viewer_that_leaves_is_forgotten() -> None:
    s = sink(Clock())
    s.push("a", CLICK, 4)
    s.push("b", CLICK, 9)
    s.poll()
    s.photon.stamps.stamp("a", {"a": 4})
    s.close("a")
    assert s.photon.taken.taken == {"b": 9}
    assert s.photon.stamps.stamp("a", {"a": 4}) == 4  # a new viewer of that id starts afresh


# -- which frame is first to reflect it ------------------------------------------------------


def test_only_the_first_unit_a_viewer_gets_after_its_input_was_taken_carries_it() -> None:
    stamps = Stamps()
    units = [{}, {"a": 1}, {"a": 1}, {"a": 1, "b": 4}, {"a": 3, "b": 4}, {"a": 3, "b": 4}]
    assert [stamps.stamp("a", u) for u in units] == [None, 1, None, None, 3, None]
    assert [stamps.stamp("b", u) for u in units] == [None, None, None, 4, None, None]


def test_a_program_that_never_polls_stamps_no_frame() -> None:
    s = sink(Clock())
    stamps = Stamps()
    for seq in range(1, 50):  # a viewer clicking away at an animation that never polls
        s.push("a", CLICK, seq)
        assert stamps.stamp("a", s.photon.taken.taken) is None


def stream(clock: Clock) -> Stream:
    s = Stream("cam", StreamOptions(width=32, height=24, still_after=None), clock)
    s.inputs.open("a", Access())
    return s


async def test_an_unchanged_frame_passes_its_input_on_to_the_next_frame_that_changes() -> None:
    s = stream(Clock())
    s.bind()
    img = np.full((24, 32, 3), 5, np.uint8)
    s.publish(img)
    s.inputs.push("a", CLICK, 1)
    s.inputs.poll()
    s.publish(img)  # took input 1, drew nothing new: dropped as unchanged
    assert s.hub.latest is not None and s.hub.latest.frame_id == 1
    assert dict(s.hub.latest.inputs) == {}
    s.publish(img + 1)  # the next picture that changes reflects input 1 too
    assert s.hub.latest.frame_id == 3 and dict(s.hub.latest.inputs) == {"a": 1}
    await s.finish()


async def test_a_frame_replaced_before_it_reached_the_loop_loses_no_input() -> None:
    s = stream(Clock())
    s.bind()

    def program() -> None:  # off the loop: both frames wait for one flush
        s.inputs.push("a", CLICK, 1)  # (push is the loop's; here the loop is blocked on us)
        s.inputs.poll()
        s.publish(np.full((24, 32, 3), 1, np.uint8))  # reflects input 1...
        s.publish(np.full((24, 32, 3), 2, np.uint8))  # ...and so does this, which replaces it

    thread = threading.Thread(target=program)
    thread.start()
    thread.join()
    for _ in range(100):
        await asyncio.sleep(0.002)
        if s.hub.latest is not None:
            break
    assert s.hub.latest is not None and s.hub.latest.frame_id == 2
    assert dict(s.hub.latest.inputs) == {"a": 1}
    await s.finish()


async def test_frames_published_without_new_input_carry_nothing_new_to_the_viewer() -> None:
    s = stream(Clock())
    s.bind()
    s.inputs.push("a", CLICK, 1)
    s.inputs.poll()
    stamps = []
    for i in range(5):  # an animation: one poll, five frames
        s.publish(np.full((24, 32, 3), i, np.uint8))
        assert s.hub.latest is not None
        stamps.append(s.inputs.photon.stamps.stamp("a", s.hub.latest.inputs))
    assert stamps == [1, None, None, None, None]
    await s.finish()


# -- the samples viewers report ----------------------------------------------------------------


def test_samples_give_each_viewer_its_figures_and_the_stream_its_histogram() -> None:
    clock = Clock()
    samples = PhotonSamples(clock)
    for seq, ms in enumerate((40.0, 30.0, 50.0, 45.0, 120.0), start=1):
        clock.now += 1
        assert samples.add("a", seq, ms)
    assert samples.viewer("a") == {"samples": 5, "p50_ms": 45.0, "p95_ms": 120.0, "last_ms": 120.0}
    assert samples.viewer("nobody") == {"samples": 0, "p50_ms": None, "p95_ms": None,
                                        "last_ms": None}  # fmt: skip
    h = samples.histogram()
    assert h["count"] == 5 and h["sum_s"] == pytest.approx(0.285)
    cumulative = dict(h["buckets"])
    assert cumulative[0.033] == 1 and cumulative[0.05] == 4 and cumulative[0.15] == 5
    assert cumulative[float("inf")] == 5 and len(h["buckets"]) == len(BUCKETS_S) + 1


def test_a_viewers_figures_cover_its_recent_samples_only() -> None:
    clock = Clock()
    samples = PhotonSamples(clock)
    samples.add("a", 1, 500.0)
    clock.now += RECENT_WINDOW_S + 1
    samples.add("a", 2, 20.0)
    assert samples.viewer("a") == {"samples": 2, "p50_ms": 20.0, "p95_ms": 20.0, "last_ms": 20.0}
    assert samples.histogram()["count"] == 2  # the histogram keeps everything


def test_repeated_or_implausible_samples_are_not_counted() -> None:
    samples = PhotonSamples(Clock())
    assert samples.add("a", 5, 30.0)
    assert not samples.add("a", 5, 31.0)  # the same input twice
    assert not samples.add("a", 4, 31.0)  # an older one
    assert not samples.add("a", 6, -1.0)
    assert not samples.add("a", 7, 120_000.0)
    assert samples.refused == 4 and samples.histogram()["count"] == 1
    samples.forget("a")
    assert samples.viewer("a")["samples"] == 0 and samples.histogram()["count"] == 1


async def test_the_stream_reports_each_viewers_samples_in_its_metrics() -> None:
    from rfb.session.links import LinkKind

    from support.links import KeepingLink

    s = Stream("cam", StreamOptions(width=32, height=24, still_after=None), Clock())
    session = s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(),
                            capability=protocol.CAP_PNG)  # fmt: skip
    s.inputs.photon.samples.add(session.id, 3, 42.0)
    (viewer,) = s.metrics()["viewers"]
    assert viewer["input_to_photon"] == {"samples": 1, "p50_ms": 42.0, "p95_ms": 42.0,
                                         "last_ms": 42.0}  # fmt: skip
    await s.finish()


async def test_prometheus_exposes_the_histogram() -> None:
    from rfb import prometheus

    s = Stream("cam", StreamOptions(width=32, height=24), Clock())
    s.inputs.photon.samples.add("v1", 1, 42.0)
    body, _ = prometheus.render([s], "text/plain")
    text = body.decode()
    assert 'rfb_input_to_photon_seconds_bucket{le="0.05",stream="cam"} 1.0' in text
    assert 'rfb_input_to_photon_seconds_bucket{le="0.033",stream="cam"} 0.0' in text
    assert 'rfb_input_to_photon_seconds_count{stream="cam"} 1.0' in text


# -- the wire ---------------------------------------------------------------------------------


def test_an_input_event_may_carry_its_number_and_old_clients_send_none() -> None:
    msg = protocol.parse_client_message('{"type":"event","event":{"type":"key_down","key":"a"},'
                                        '"input_seq":12}')  # fmt: skip
    assert msg == protocol.InputEventMessage({"type": "key_down", "key": "a"}, 12)
    old = protocol.parse_client_message('{"type":"event","event":{"type":"key_down","key":"a"}}')
    assert old == protocol.InputEventMessage({"type": "key_down", "key": "a"}, None)
    assert "input_seq" not in old.event  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ['"12"', "-1", "1.5", "true", "null", str(2**53)])
def test_a_malformed_input_number_is_a_policy_violation(bad: str) -> None:
    with pytest.raises(ProtocolError) as err:
        protocol.parse_client_message(
            f'{{"type":"event","event":{{"type":"key_down","key":"a"}},"input_seq":{bad}}}'
        )
    assert err.value.close_code == protocol.CLOSE_POLICY_VIOLATION == 1008


def test_a_sample_message_is_parsed_and_a_malformed_one_refused() -> None:
    msg = protocol.parse_client_message('{"type":"input_photon","input_seq":3,"ms":41.5}')
    assert msg == protocol.InputPhoton(3, 41.5)
    for bad in ('{"type":"input_photon","input_seq":3}', '{"type":"input_photon","ms":4}',
                '{"type":"input_photon","input_seq":3,"ms":-1}',
                '{"type":"input_photon","input_seq":3,"ms":1e9}',
                '{"type":"input_photon","input_seq":"3","ms":4}'):  # fmt: skip
        with pytest.raises(ProtocolError) as err:
            protocol.parse_client_message(bad)
        assert err.value.close_code == 1008


def test_frame_headers_carry_the_number_only_when_set() -> None:
    plain = protocol.VideoChunkHeader(1, 0, 2, 2, "avc1.42C00A", True)
    assert "input_seq" not in plain.as_dict()
    stamped = protocol.ImageFrameHeader(1, 0, 2, 2, "image/png", input_seq=9)
    assert stamped.as_dict()["input_seq"] == 9
    header, _ = protocol.unpack_envelope(stamped.pack(b"x"))
    assert header["input_seq"] == 9


def test_the_envelope_built_once_per_unit_carries_each_viewers_number() -> None:
    from rfb.session import EncodedUnit
    from rfb.transports.websocket import UNIT_MESSAGES, header_for

    unit = EncodedUnit(index=0, data=b"\x00\x00\x00\x01\x41\x9b", keyframe=False,
                       codec="avc1.42C01F", width=64, height=48, frame_id=3, timestamp_us=99999,
                       published_at=0.0, encode_ms=1.0, inputs={"a": 42})  # fmt: skip
    for fields in ({"seq": 3, "input_seq": 42}, {"seq": 4}):
        built = UNIT_MESSAGES.get(True, unit, 30.0, tuple(fields))
        assert built is not None
        packed = header_for(True, unit, 30.0, fields).pack(unit.data)
        assert built.message(fields) == packed
        header, _ = protocol.unpack_envelope(packed)
        assert header.get("input_seq") == fields.get("input_seq")
