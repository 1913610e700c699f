"""A clock the test sets: ``clock()`` is the time in seconds, ``clock.us()`` in
microseconds (what a Stream's ``clock`` and ``now_us`` read)."""

from __future__ import annotations


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def us(self) -> int:
        return round(self.now * 1e6)
