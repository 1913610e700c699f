"""rfb.rendercanvas sans I/O: a viewer's events become rendercanvas events in the
canvas's logical pixels, and two fingers become touches. (A bitmap canvas streaming:
tests/integration/test_rendercanvas.py; the wgpu/pygfx path: tests/e2e/test_rendercanvas.py.)"""

from __future__ import annotations

import pytest

pytest.importorskip("rendercanvas", reason="needs the dev extra: pip install -e '.[dev]'")


def test_events_become_rendercanvas_events_in_logical_pixels() -> None:
    from rfb.rendercanvas import to_canvas_event

    down = {"type": "pointer_down", "x": 300, "y": 150, "button": 1, "buttons": [1],
            "modifiers": ["Shift"], "timestamp": 123.0}  # fmt: skip
    e = to_canvas_event(down, 2.0)
    assert e is not None
    assert (e["event_type"], e["x"], e["y"], e["pixel_ratio"]) == ("pointer_down", 150, 75, 2.0)
    assert e["buttons"] == (1,) and e["modifiers"] == ("Shift",) and e["ntouches"] == 0
    assert "type" not in e and e["time_stamp"] != 123.0
    key = to_canvas_event({"type": "key_down", "key": "a"}, 2.0)
    assert key == {"key": "a", "event_type": "key_down", "time_stamp": key["time_stamp"],
                   "modifiers": ()}  # fmt: skip
    assert to_canvas_event({"type": "resize", "width": 1, "height": 1}, 1.0) is None


def test_two_fingers_become_rendercanvas_touches() -> None:
    from rfb.rendercanvas import Touches, to_canvas_event

    touches = Touches()

    def ev(kind: str, pid: int, x: float, viewer: str = "v1") -> dict:
        e = to_canvas_event({"type": kind, "x": x, "y": 10, "pointer_id": pid,
                             "pointer_type": "touch", "pressure": 0.5}, 2.0)  # fmt: skip
        assert e is not None
        touches.update(viewer, e)
        return e

    assert ev("pointer_down", 7, 100)["ntouches"] == 1
    two = ev("pointer_down", 8, 300)
    assert two["ntouches"] == 2 and set(two["touches"]) == {7, 8}
    assert two["touches"][8] == {"x": 150, "y": 5, "pressure": 0.5}  # logical pixels
    assert ev("pointer_move", 7, 50)["touches"][7]["x"] == 25
    assert ev("pointer_down", 1, 0, viewer="v2")["ntouches"] == 1  # viewers apart
    assert ev("pointer_up", 7, 50)["ntouches"] == 1
    assert ev("pointer_up", 8, 300)["ntouches"] == 0
    mouse = to_canvas_event({"type": "pointer_move", "x": 1, "y": 1, "pointer_type": "mouse"}, 1.0)
    assert mouse is not None
    touches.update("v1", mouse)
    assert mouse["ntouches"] == 0 and mouse["touches"] == {}


def test_events_rendercanvas_has_no_kind_for_are_kept_for_canvas_poll_events() -> None:
    from rfb.inputs import InputEvent
    from rfb.rendercanvas import RfbRenderCanvas

    from support.events import pad

    class Display:  # what the canvas reads of a display
        width, height, closed, client_count = 64, 48, False, 0
        queued: list[InputEvent] = []

        def poll_events(self) -> list[InputEvent]:
            out, self.queued = self.queued, []
            return out

    display = Display()
    canvas = RfbRenderCanvas(display=display, update_mode="manual")  # type: ignore[arg-type]
    got: list[dict] = []
    canvas.add_event_handler(got.append, "key_down")
    state = InputEvent("v1", None, pad(1, pressed=True), 5)
    note = InputEvent("v1", None, {"type": "message", "data": 1}, 6)
    display.queued = [state, InputEvent("v1", None, {"type": "key_down", "key": "a"}, 7), note]
    canvas._rc_gui_poll()
    canvas._process_events()
    assert [e["event_type"] for e in got] == ["key_down"]  # forwarded as before
    assert canvas.poll_events() == [state, note]  # the rest, oldest first
    assert canvas.poll_events() == []
    canvas.close()
