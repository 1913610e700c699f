"""Per-viewer input admission: view-only viewers send nothing on; the rest are rate-limited.

A token bucket of ``rate`` events per second (burst: one second's worth) bounds what one
viewer can push into ``poll_events()``. Past it, pointer moves are coalesced first (the
display merges a move into that viewer's newest queued move, so the last position still
arrives), and other events are dropped. A release (``key_up``, ``pointer_up``) that ends
a press the application saw is always let through, so a storm cannot leave a key or a
button stuck down. No I/O and no clock of its own: the caller passes ``now``.
"""

from __future__ import annotations

import enum
from typing import Any

DEFAULT_INPUT_RATE = 200.0  # events/s per viewer: far above a person's 60-120 Hz moves
_MAX_HELD = 64  # pressed keys and buttons tracked per viewer


class Verdict(enum.Enum):
    DELIVER = "deliver"
    COALESCE = "coalesce"  # a pointer move over the budget: merge into the queued one
    DROP_RATE = "rate"  # over the budget
    DROP_VIEW_ONLY = "view_only"


_PRESS = {"key_down": "key", "pointer_down": "button"}
_RELEASE = {"key_up": "key", "pointer_up": "button"}


class InputGate:
    def __init__(self, now: float, *, rate: float | None = DEFAULT_INPUT_RATE,
                 view_only: bool = False) -> None:  # fmt: skip
        if rate is not None and rate <= 0:
            raise ValueError("the input rate must be positive events per second, or None")
        self.rate = rate
        self.view_only = view_only
        self._burst = rate or 0.0
        self._tokens = self._burst
        self._t = now
        self._held: set[tuple[str, Any]] = set()  # presses the application has seen

    def admit(self, event: dict[str, Any], now: float) -> Verdict:
        if self.view_only:
            return Verdict.DROP_VIEW_ONLY
        kind = event.get("type")
        release = _RELEASE.get(kind) if isinstance(kind, str) else None
        press = _PRESS.get(kind) if isinstance(kind, str) else None
        key = _which(event, release or press or "")
        if self.rate is None:
            self._track(press, release, key)
            return Verdict.DELIVER
        self._tokens = min(self._burst, self._tokens + (now - self._t) * self.rate)
        self._t = now
        if release is not None and (release, key) in self._held:
            self._held.discard((release, key))
            self._tokens -= 1  # may go below zero: the release is owed to the application
            return Verdict.DELIVER
        if self._tokens >= 1:
            self._tokens -= 1
            self._track(press, release, key)
            return Verdict.DELIVER
        return Verdict.COALESCE if kind == "pointer_move" else Verdict.DROP_RATE

    def _track(self, press: str | None, release: str | None, key: Any) -> None:
        if press is not None and len(self._held) < _MAX_HELD:
            self._held.add((press, key))
        elif release is not None:
            self._held.discard((release, key))


def _which(event: dict[str, Any], what: str) -> Any:
    """What a press or release is of: the key's code or name, or the pointer button."""
    if what == "key":
        value = event.get("code") or event.get("key")
    elif what == "button":
        value = event.get("button", 0)
    else:
        return None
    return value if isinstance(value, (str, int, float)) else repr(value)
