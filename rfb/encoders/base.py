"""The one interface every encoder backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class EncoderUnavailable(RuntimeError):
    """An encoder backend cannot run here; the message says what to install."""


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    """What a viewer group asks of its encoder. Part of the group key."""

    quality: int = 80  # images: 1..100
    bitrate: int = 4_000_000  # video: bits per second
    fps: float = 30.0  # video: expected frame rate (rate control, duration)
    keyframe_interval_s: float = 1.0  # video: periodic IDR


@dataclass(frozen=True, slots=True)
class Picture:
    """What an encoder made of one frame."""

    data: bytes
    keyframe: bool
    codec: str  # MIME type for images, WebCodecs codec string for H.264
    width: int  # coded size (H.264 pads odd sizes to even)
    height: int


class Encoder(Protocol):
    """Encodes frames of one size. Called from one worker thread at a time."""

    def encode(self, pixels: np.ndarray, keyframe: bool, timestamp_us: int) -> Picture | None:
        """Encode one (H, W, 3|4) uint8 frame; None when the encoder buffered it."""
        ...

    def close(self) -> None: ...
