"""Input events as a viewer sends them, for tests of the input path."""

from __future__ import annotations

from typing import Any

CLICK = {"type": "pointer_down", "x": 5, "y": 6, "button": 1, "buttons": [1], "modifiers": []}


def move(x: float) -> dict[str, Any]:
    return {"type": "pointer_move", "x": x, "y": 1, "buttons": [], "modifiers": []}


def key(kind: str, code: str = "KeyA") -> dict[str, Any]:
    return {"type": kind, "key": code[-1].lower(), "code": code, "modifiers": []}


def pad(
    index: int = 0, pressed: bool = False, axis: float = 0.0, connected: bool = True
) -> dict[str, Any]:
    """A gamepad's state (a standard pad cut to two buttons and two axes)."""
    return {
        "type": "gamepad",
        "index": index,
        "id": "Fake Pad (STANDARD GAMEPAD)",
        "mapping": "standard",
        "connected": connected,
        "buttons": [
            {"pressed": pressed, "value": 1.0 if pressed else 0.0},
            {"pressed": False, "value": 0.0},
        ],
        "axes": [axis, 0.0],
        "timestamp": 1.5,
    }
