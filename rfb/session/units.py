"""What flows between the session layer's parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..encoders.base import EncoderSettings
from ..frames import Frame


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Viewers with equal keys share one encoder (the size follows the published frames)."""

    capability: str
    settings: EncoderSettings
    # Looked up for every viewer's credit and every unit: the settings' hash (a dozen
    # fields) is computed once, not at each lookup.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.capability, self.settings)))

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True, slots=True, eq=False)
class EncodeJob:
    """One encode the group asked for; run off the event loop by a pump."""

    frame: Frame
    keyframe: bool
    rebuild: bool  # (re)create the encoder at the frame's size before encoding
    still: bool = False  # one high-quality picture of the resting scene (its own encoder)
    # The resting frame, lossless (a PNG at full size, one per stream: pump.ExactStills).
    exact: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class EncodedUnit:
    """One encoded image or H.264 access unit, shared by every viewer of a group."""

    index: int  # grows by one per unit within a group
    data: bytes
    keyframe: bool
    codec: str
    width: int  # coded size (a lower rung's is smaller than the frame)
    height: int
    frame_id: int
    timestamp_us: int
    published_at: float
    encode_ms: float
    frame_width: int = 0  # the published frame's size: what viewers draw and point in
    frame_height: int = 0
    still: bool = False  # the high-quality picture of a scene at rest
    # The resting frame bit-exact (a full-size PNG, drawn over the video: it leaves a
    # decoder's sync alone). Always a still.
    exact: bool = False
    # Click-to-photon: its frame's Frame.inputs (per viewer, the newest input it reflects).
    inputs: Mapping[str, int] = field(default_factory=dict)

    @property
    def scaled(self) -> bool:
        return bool(self.frame_width) and (self.frame_width, self.frame_height) != (
            self.width,
            self.height,
        )
