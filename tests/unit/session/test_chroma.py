"""Which viewer gets 4:4:4 H.264 and which 4:2:0, and who shares an encoder: the policy
(session/chroma.py) and the groups routing makes of it, without sockets."""

from __future__ import annotations

import numpy as np
import pytest

from rfb import protocol
from rfb.encoders.base import CHROMA_420, CHROMA_444
from rfb.frames import Frame
from rfb.options import StreamOptions
from rfb.session.chroma import AUTO, viewer_chroma
from rfb.session.links import LinkKind
from rfb.session.routing import Routing

H264, JPEG = protocol.CAP_H264, protocol.CAP_JPEG
WS, WEBRTC, RECORDING = LinkKind.WEBSOCKET, LinkKind.WEBRTC, LinkKind.RECORDING


@pytest.mark.parametrize(
    ("policy", "decodes_444", "nvenc", "expected"),
    [
        (AUTO, True, False, CHROMA_444),  # x264 here: 4:4:4 costs the same encode time
        (AUTO, True, True, CHROMA_420),  # auto keeps the GPU encoder (4:2:0 only)
        (AUTO, False, False, CHROMA_420),  # pdum.rfb 0.x, Firefox, Safari, the relay
        (CHROMA_444, True, True, CHROMA_444),  # asked for: x264 even where NVENC is
        (CHROMA_444, False, False, CHROMA_420),  # never what the viewer cannot decode
        (CHROMA_420, True, False, CHROMA_420),
    ],
)
def test_the_policy_gives_444_only_to_viewers_that_decode_it(
    policy: str, decodes_444: bool, nvenc: bool, expected: str
) -> None:
    assert viewer_chroma(policy, decodes_444, nvenc=nvenc) == expected


def test_an_unknown_policy_is_named() -> None:
    with pytest.raises(ValueError, match="chroma must be one of auto, 420, 444, got '422'"):
        viewer_chroma("422", True)


def test_the_stream_option_is_checked() -> None:
    with pytest.raises(ValueError, match="chroma"):
        StreamOptions(width=64, height=64, chroma="422")
    assert StreamOptions(width=64, height=64).chroma == AUTO


def routing() -> Routing:
    return Routing(StreamOptions(width=640, height=480, still_after=None))


def chroma_of(r: Routing, viewer_id: str) -> str:
    group = r.group_of(viewer_id)
    assert group is not None
    return group.key.settings.chroma


def test_viewers_of_one_chroma_share_an_encoder_and_the_other_chroma_gets_its_own() -> None:
    r = routing()
    a = r.attach(H264, WS, 0.0, chroma=CHROMA_444).viewer
    b = r.attach(H264, WEBRTC, 0.0, chroma=CHROMA_444, scaled_frames=True).viewer
    pdum = r.attach(H264, WS, 0.0).viewer  # said nothing: 4:2:0
    assert chroma_of(r, a.id) == chroma_of(r, b.id) == CHROMA_444
    assert chroma_of(r, pdum.id) == CHROMA_420
    assert r.group_of(a.id) is r.group_of(b.id)
    assert len(r.groups) == 2
    # Both groups encode the same rung: the chroma is the only difference.
    settings = {g.key.settings.chroma: g.key.settings for g in r.groups.values()}
    assert settings[CHROMA_444].bitrate == settings[CHROMA_420].bitrate
    assert settings[CHROMA_444].scale == settings[CHROMA_420].scale == 1.0
    r.detach(pdum.id)
    assert [g.key.settings.chroma for g in r.take_effects().closed] == [CHROMA_420]


def test_a_444_viewer_keeps_its_chroma_on_every_rung_it_moves_to() -> None:
    r = routing()
    v = r.attach(H264, WEBRTC, 0.0, chroma=CHROMA_444, scaled_frames=True).viewer
    r.publish(Frame(np.zeros((480, 640, 3), np.uint8), 1, 0, 0.0))
    r.pin(v.id, 2, 0.1)  # video: a candidate of rung 2's group until its keyframe
    candidates = [g for g in r.groups.values() if v.id in g.candidates]
    assert [g.rung for g in candidates] == [2]
    assert candidates[0].key.settings.chroma == CHROMA_444
    assert candidates[0].key.settings.scale < 1.0


def test_images_and_recordings_are_untouched_by_chroma() -> None:
    r = routing()
    img = r.attach(JPEG, WS, 0.0, chroma=CHROMA_444).viewer  # an image has no chroma choice
    rec = r.attach(H264, RECORDING, 0.0, adaptive=False, takes_stills=False).viewer
    assert chroma_of(r, img.id) == CHROMA_420  # the default field, unused by image encoders
    assert chroma_of(r, rec.id) == CHROMA_420
    assert r.group_of(img.id) is not r.group_of(rec.id)
