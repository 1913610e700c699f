"""Per-viewer input admission: view-only viewers send nothing on; the rest are rate-limited.

A token bucket of ``rate`` events per second (burst: one second's worth) bounds what one
viewer can push into ``poll_events()``. Past it, pointer moves and gamepad states are
coalesced first (the display merges one into that viewer's newest queued event of the
same kind, so the last position and the last pad state still arrive), and other events
are dropped. A release (``key_up``, ``pointer_up``) that ends
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


# Events that carry a whole state (where a pointer is, what a gamepad holds): over the
# budget the newest replaces the viewer's queued one, so the last state still arrives and
# no gamepad button is left down.
COALESCED = frozenset({"pointer_move", "gamepad"})
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
        # presses the application has seen, and the press events themselves
        self._held: dict[tuple[str, Any], dict[str, Any]] = {}
        # gamepads the application has seen connected: index -> their last state
        self._pads: dict[Any, dict[str, Any]] = {}

    def admit(self, event: dict[str, Any], now: float) -> Verdict:
        if self.view_only:
            return Verdict.DROP_VIEW_ONLY
        kind = event.get("type")
        if kind == "gamepad":  # delivered or coalesced, never dropped: the app will see it
            self._pad(event)
        release = _RELEASE.get(kind) if isinstance(kind, str) else None
        press = _PRESS.get(kind) if isinstance(kind, str) else None
        key = _which(event, release or press or "")
        if self.rate is None:
            self._track(press, release, key, event)
            return Verdict.DELIVER
        self._tokens = min(self._burst, self._tokens + (now - self._t) * self.rate)
        self._t = now
        if release is not None and (release, key) in self._held:
            self._held.pop((release, key), None)
            self._tokens -= 1  # may go below zero: the release is owed to the application
            return Verdict.DELIVER
        if self._tokens >= 1:
            self._tokens -= 1
            self._track(press, release, key, event)
            return Verdict.DELIVER
        return Verdict.COALESCE if kind in COALESCED else Verdict.DROP_RATE

    def _track(self, press: str | None, release: str | None, key: Any,
               event: dict[str, Any]) -> None:  # fmt: skip
        if press is not None and len(self._held) < _MAX_HELD:
            self._held[(press, key)] = event
        elif release is not None:
            self._held.pop((release, key), None)

    def release_all(self) -> list[dict[str, Any]]:
        """The releases (``key_up``, ``pointer_up``, marked ``synthetic``) of every press
        the application saw and has not seen released, for a viewer that stops driving
        (it lost the control floor): no key or button stays down in the application. Its
        own releases of them are then no longer owed."""
        out = [_release_of(press) for press in self._held.values()]
        self._held.clear()
        # Its gamepads, as disconnected: no gamepad button stays down either.
        out += [{"type": "gamepad", "index": index, "id": pad.get("id", ""),
                 "mapping": pad.get("mapping", ""), "connected": False, "buttons": [],
                 "axes": [], "synthetic": True} for index, pad in self._pads.items()]  # fmt: skip
        self._pads.clear()
        return out

    def _pad(self, event: dict[str, Any]) -> None:
        if event.get("connected"):
            if event.get("index") in self._pads or len(self._pads) < _MAX_HELD:
                self._pads[event.get("index")] = event
        else:
            self._pads.pop(event.get("index"), None)


def _release_of(press: dict[str, Any]) -> dict[str, Any]:
    if press.get("type") == "key_down":
        out = {"type": "key_up", "key": press.get("key")}
        if "code" in press:
            out["code"] = press["code"]
    else:
        out = {"type": "pointer_up", "x": press.get("x", 0), "y": press.get("y", 0),
               "button": press.get("button", 0), "buttons": []}  # fmt: skip
        for k in ("pointer_id", "pointer_type"):
            if k in press:
                out[k] = press[k]
    out["modifiers"] = []
    out["synthetic"] = True
    return out


def _which(event: dict[str, Any], what: str) -> Any:
    """What a press or release is of: the key's code or name, or the pointer button."""
    if what == "key":
        value = event.get("code") or event.get("key")
    elif what == "button":
        value = event.get("button", 0)
    else:
        return None
    return value if isinstance(value, (str, int, float)) else repr(value)
