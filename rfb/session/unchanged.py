"""Unchanged frames: which published frames go on to the hub. Sans I/O, one per stream.

Render loops often publish every tick whether or not anything changed. A frame with the
same shape and bytes as the frame last handed to the hub (the *reference*) is dropped:
nothing new is encoded or sent, and the encoder groups' rest timer keeps running from the
reference, so the high-quality still comes as if publishing had stopped.

The gate keeps the one pending frame (newest wins: a frame not yet taken is replaced by a
newer one) and says, for the frame it takes, what to do: hand it to the hub, drop it, or
compare its pixels with the reference first. The comparison is the caller's business
(rfb/stream.py runs it on a worker thread); while one is out, nothing else is taken, so
the next frame is always compared with the frame actually handed before it.

The caller may say what it knows (``publish(frame, changed=...)``): True hands the frame
without comparing; False drops it without comparing, unless its shape differs from the
reference's (a new shape is always a change); None compares. Device (CuPy) frames are not
compared: without a hint they count as changed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from ..frames import Frame


class Verdict(enum.Enum):
    HAND = "hand"  # a change (or nothing to compare with): to the hub
    DROP = "drop"  # the same pixels as the reference: nothing new
    COMPARE = "compare"  # compare with ``reference``, then tell ``compared()``


@dataclass(frozen=True, slots=True)
class Step:
    verdict: Verdict
    frame: Frame


def supersede(older: bool | None, newer: bool | None) -> bool | None:
    """The hint of a pending frame that replaced one not yet taken. ``changed=False``
    compares with the frame published just before (the replaced one), not with the
    reference: it inherits what was known of the replaced frame."""
    return older if newer is False else newer


class FrameGate:
    def __init__(self) -> None:
        self.reference: Frame | None = None  # the frame last handed to the hub
        self.comparing: Frame | None = None  # the frame being compared with it
        self._pending: Frame | None = None
        self._hint: bool | None = None
        self.unchanged = 0  # frames dropped as unchanged
        self.compares = 0  # comparisons asked for

    @property
    def busy(self) -> bool:
        """A comparison is out: nothing is taken until ``compared()``."""
        return self.comparing is not None

    @property
    def pending(self) -> Frame | None:
        return self._pending

    def offer(self, frame: Frame, changed: bool | None = None) -> None:
        """The newest published frame; replaces one not yet taken (newest wins)."""
        if self._pending is not None:
            changed = supersede(self._hint, changed)
        self._pending, self._hint = frame, changed

    def next(self) -> Step | None:
        """What to do with the pending frame; None when there is none or a comparison is
        out. After COMPARE, call ``compared()`` with the result."""
        frame = self._pending
        if frame is None or self.comparing is not None:
            return None
        hint, self._pending, self._hint = self._hint, None, None
        ref = self.reference
        if ref is None or ref.pixels.shape != frame.pixels.shape or hint is True:
            return self._hand(frame)
        if hint is False:
            return self._drop(frame)
        if not comparable(ref.pixels, frame.pixels):
            return self._hand(frame)
        self.comparing = frame
        self.compares += 1
        return Step(Verdict.COMPARE, frame)

    def compared(self, frame: Frame, equal: bool) -> Step:
        """The comparison of ``frame`` with the reference came back."""
        if frame is not self.comparing:
            raise ValueError("compared() for a frame that is not being compared")
        self.comparing = None
        return self._drop(frame) if equal else self._hand(frame)

    def clear(self) -> None:
        """Closing: forget the pending frame and the reference."""
        self._pending = self.reference = self.comparing = None

    def _hand(self, frame: Frame) -> Step:
        self.reference = frame
        return Step(Verdict.HAND, frame)

    def _drop(self, frame: Frame) -> Step:
        self.unchanged += 1
        return Step(Verdict.DROP, frame)


def comparable(reference: object, pixels: object) -> bool:
    """Host arrays in separate memory. A device frame is not compared (it counts as
    changed); nor is one that shares the reference's memory (``copy=False`` of the same
    buffer: whether it was drawn over in place cannot be told)."""
    if not (isinstance(reference, np.ndarray) and isinstance(pixels, np.ndarray)):
        return False
    return not np.may_share_memory(reference, pixels)
