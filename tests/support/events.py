"""Input events as a viewer sends them, for tests of the input path."""

from __future__ import annotations

from typing import Any

CLICK = {"type": "pointer_down", "x": 5, "y": 6, "button": 1, "buttons": [1], "modifiers": []}


def move(x: float) -> dict[str, Any]:
    return {"type": "pointer_move", "x": x, "y": 1, "buttons": [], "modifiers": []}


def key(kind: str, code: str = "KeyA") -> dict[str, Any]:
    return {"type": kind, "key": code[-1].lower(), "code": code, "modifiers": []}
