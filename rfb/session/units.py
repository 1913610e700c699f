"""What flows between the session layer's parts."""

from __future__ import annotations

from dataclasses import dataclass

from ..encoders.base import EncoderSettings
from ..frames import Frame


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Viewers with equal keys share one encoder (the size follows the published frames)."""

    capability: str
    settings: EncoderSettings


@dataclass(frozen=True, slots=True, eq=False)
class EncodeJob:
    """One encode the group asked for; run off the event loop by a pump."""

    frame: Frame
    keyframe: bool
    rebuild: bool  # (re)create the encoder at the frame's size before encoding


@dataclass(frozen=True, slots=True, eq=False)
class EncodedUnit:
    """One encoded image or H.264 access unit, shared by every viewer of a group."""

    index: int  # grows by one per unit within a group
    data: bytes
    keyframe: bool
    codec: str
    width: int
    height: int
    frame_id: int
    timestamp_us: int
    published_at: float
    encode_ms: float
