"""Stream (rfb/stream.py) without sockets: admitting a viewer (tokens, 4401, counted),
opening one (codec negotiation, 1003 / 1013 / 1001, input for viewers and none for
consumers, the notices it asked for) and closing its ViewerSession, which undoes all of it
once; publish() dropping a frame unchanged since the one handed to the hub. A fake link
stands in for the transport; the hub's pumps need an event loop, so the tests are async."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from rfb import encoders, protocol
from rfb import stream as stream_module
from rfb.access import Access, AuthContext
from rfb.hub import ConsumerLink
from rfb.notices import cursor_message
from rfb.options import StreamOptions
from rfb.protocol import ProtocolError
from rfb.session.links import LinkKind
from rfb.stream import Stream

from support.events import CLICK, move
from support.links import KeepingLink

H264_HERE = encoders.unavailable_reason(protocol.CAP_H264) is None




def stream(**options: object) -> Stream:
    return Stream("cam", StreamOptions(width=64, height=48, still_after=None, **options))  # type: ignore[arg-type]


# -- admit ----------------------------------------------------------------------------------


async def test_admit_refuses_a_wrong_token_with_4401_and_counts_it() -> None:
    s = stream(token="drive", view_token="watch")
    for wrong in ("drivex", None):
        with pytest.raises(ProtocolError) as refused:
            await s.admit(AuthContext(token=wrong))
        assert refused.value.close_code == protocol.CLOSE_UNAUTHORIZED == 4401
    assert s.refused == {"unauthorized": 2}
    assert await s.admit(AuthContext(token="drive")) == Access()
    assert await s.admit(AuthContext(token="watch")) == Access(view_only=True)
    assert s.refused == {"unauthorized": 2}  # admissions are not refusals


async def test_admit_holds_a_viewer_that_asks_to_watch_only_to_it() -> None:
    s = stream(authenticate=lambda ctx: "alice")
    assert await s.admit(AuthContext()) == Access("alice")
    assert await s.admit(AuthContext(), view_only=True) == Access("alice", view_only=True)


# -- open_viewer -----------------------------------------------------------------------------


async def test_open_viewer_negotiates_the_codec_from_what_the_viewer_decodes() -> None:
    s = stream()
    png = s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(),
                        supported=[protocol.CAP_PNG, "video/vp9"])  # fmt: skip
    assert png.viewer.capability == protocol.CAP_PNG
    both = s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(),
                         supported=[protocol.CAP_JPEG, protocol.CAP_H264])  # fmt: skip
    assert both.viewer.capability == (protocol.CAP_H264 if H264_HERE else protocol.CAP_JPEG)
    with pytest.raises(ProtocolError) as none_shared:
        s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(), supported=["video/vp9"])
    assert none_shared.value.close_code == protocol.CLOSE_UNSUPPORTED_DATA == 1003
    assert s.client_count == 2
    await s.finish()


async def test_open_viewer_without_supported_takes_the_capability_given() -> None:
    s = stream()
    session = s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(), capability=protocol.CAP_WEBP)
    assert session.viewer.capability == protocol.CAP_WEBP and session.kind is LinkKind.WEBSOCKET
    assert session.id == session.viewer.id and s.hub.viewer(session.id) is session.viewer
    await s.finish()


async def test_open_viewer_refuses_when_full_with_1013_and_counts_it() -> None:
    s = stream(max_viewers=1)
    s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(), capability=protocol.CAP_JPEG)
    with pytest.raises(ProtocolError) as full:
        s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(), capability=protocol.CAP_JPEG)
    assert full.value.close_code == protocol.CLOSE_TRY_AGAIN_LATER == 1013
    assert "max_viewers=1" in full.value.reason
    assert s.refused == {"max_viewers": 1} and s.client_count == 1
    # A seat WHEP took already, and a consumer (which takes none), still open.
    s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(), capability=protocol.CAP_JPEG,
                  seat_checked=True)  # fmt: skip
    s.open_viewer(LinkKind.RECORDING, ConsumerLink(LinkKind.RECORDING, s.hub, lambda *a: None),
                  None, capability=protocol.CAP_H264, adaptive=False)  # fmt: skip
    assert s.refused == {"max_viewers": 1} and s.client_count == 2
    await s.finish()


async def test_open_viewer_refuses_a_closed_stream_with_1001() -> None:
    s = stream()
    s.close_unserved()
    with pytest.raises(ProtocolError) as closing:
        s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(), capability=protocol.CAP_JPEG)
    assert closing.value.close_code == protocol.CLOSE_GOING_AWAY == 1001
    assert s.client_count == 0


async def test_a_link_of_another_kind_than_the_one_opened_is_refused() -> None:
    s = stream()
    with pytest.raises(ValueError, match="a websocket link opened as webrtc"):
        s.open_viewer(LinkKind.WEBRTC, KeepingLink(), Access(), capability=protocol.CAP_JPEG)
    assert s.client_count == 0


async def test_a_viewer_with_access_gets_input_and_a_consumer_none() -> None:
    s = stream()
    viewer = s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access("alice"),
                           capability=protocol.CAP_JPEG)  # fmt: skip
    consumer = s.open_viewer(
        LinkKind.RECORDING, ConsumerLink(LinkKind.RECORDING, s.hub, lambda *a: None), None,
        capability=protocol.CAP_H264, adaptive=False,
    )  # fmt: skip
    assert viewer.access == Access("alice") and consumer.access is None
    s.inputs.push(viewer.id, CLICK)
    s.inputs.push(consumer.id, move(1))  # a consumer has no input: nothing it sends arrives
    (event,) = s.inputs.poll()
    assert (event.client_id, event.principal, event.event) == (viewer.id, "alice", CLICK)
    assert s.inputs.dropped == {"unknown_viewer": 1}
    await s.finish()


async def test_open_viewer_opens_the_notices_asked_for_and_gives_the_cursor_first() -> None:
    s = stream()
    s.notices.send(cursor_message("grab"))  # before anyone watches
    told: list[dict] = []
    session = s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(), capability=protocol.CAP_JPEG,
                            notify=lambda t: told.append(json.loads(t)),
                            features=frozenset({"cursor", "messages"}))  # fmt: skip
    assert [json.loads(t) for t in session.first] == [{"type": "cursor", "cursor": "grab"}]
    assert s.notices.send(protocol.AppMessage("hi")) == 1
    assert told == [{"type": "message", "data": "hi"}]
    silent = s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(), capability=protocol.CAP_JPEG)
    assert silent.first == []  # no notify: no notices
    assert s.notices.send(protocol.AppMessage("again")) == 1
    await s.finish()


# -- ViewerSession.close ----------------------------------------------------------------------


async def test_closing_a_session_removes_the_viewer_from_hub_inputs_and_notices() -> None:
    s = stream()
    told: list[str] = []
    session = s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access("alice"),
                            capability=protocol.CAP_JPEG, notify=told.append,
                            features=frozenset({"messages"}))  # fmt: skip
    other = s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access("bob"), capability=protocol.CAP_PNG)
    assert s.client_count == 2 and len(s.hub.groups) == 2
    assert s.notices.send(protocol.AppMessage(1)) == 1
    closing = session.close()
    assert session.closed
    for task in closing:  # the JPEG group had only this viewer: its encoder closes
        await task
    assert len(closing) == 1 and len(s.hub.groups) == 1
    assert s.client_count == 1 and s.hub.viewer(session.id) is None
    assert s.hub.viewer(other.id) is other.viewer
    s.inputs.push(session.id, CLICK)
    assert s.inputs.poll() == [] and s.inputs.dropped == {"unknown_viewer": 1}
    assert s.notices.send(protocol.AppMessage(2)) == 0 and len(told) == 1
    with pytest.raises(KeyError):
        s.notices.send(protocol.AppMessage(3), client_id=session.id)
    await s.finish()


async def test_closing_a_session_twice_does_nothing_the_second_time() -> None:
    s = stream()
    session = s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(), capability=protocol.CAP_JPEG)
    other = s.open_viewer(LinkKind.WEBSOCKET, KeepingLink(), Access(), capability=protocol.CAP_JPEG)
    first = session.close()
    assert first == []  # the group still has the other viewer
    assert session.close() == [] and session.closed
    assert s.client_count == 1 and s.hub.viewer(other.id) is other.viewer
    s.inputs.push(other.id, CLICK)
    assert [e.client_id for e in s.inputs.poll()] == [other.id]  # the other's input untouched
    await s.finish()


# -- publish: unchanged frames ----------------------------------------------------------------


@pytest.mark.parametrize("inline", [True, False], ids=["on_the_loop", "on_a_worker"])
async def test_publish_drops_a_frame_the_same_as_the_one_handed_and_counts_it(
    inline: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not inline:  # every comparison on the loop's executor, as large frames' are
        monkeypatch.setattr(stream_module, "INLINE_COMPARE_BYTES", 0)
    s = stream()
    s.bind()
    img = np.full((48, 64, 3), 5, np.uint8)

    async def settle() -> None:
        for _ in range(100):
            await asyncio.sleep(0.005)
            if s._gate.comparing is None and s._gate.pending is None:
                return

    s.publish(img)
    s.publish(img)  # compared on the worker thread: the same
    await settle()
    assert s.hub.latest is not None and s.hub.latest.frame_id == 1
    s.publish(img, changed=True)
    assert s.hub.latest.frame_id == 3
    s.publish(img + 1, changed=False)  # the caller's word: not even read
    img[0, 0, 0] = 9
    s.publish(img)
    await settle()
    assert s.hub.latest.frame_id == 5
    s.publish(np.zeros((24, 32, 3), np.uint8), changed=False)  # a new shape is a change
    assert s.hub.latest.frame_id == 6 and (s.width, s.height) == (32, 24)
    assert s.frames_unchanged == 2 == s.metrics()["display"]["frames_unchanged"]
    assert s.frames_published == 6
    await s.finish()
