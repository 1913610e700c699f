"""A rendercanvas backend (the ``rendercanvas`` extra): wgpu, pygfx and fastplotlib code
draws into an rfb stream, unchanged, and the viewers drive it.

    display = rfb.serve_in_thread(1280, 720)        # or await rfb.serve(...)
    canvas = RfbRenderCanvas(display=display)        # pdum.rfb's name; also RenderCanvas
    renderer = pygfx.renderers.WgpuRenderer(canvas)
    ...
    loop.run()                                       # rendercanvas's asyncio loop

Each frame the canvas presents (rendercanvas's "bitmap" method: rendered by wgpu, then
read back into RAM) is published to the display. The viewers' pointer, wheel and key
events arrive as rendercanvas events (so pygfx controllers work), in the canvas's logical
pixels; they are taken from the display, so ``display.poll_events()`` no longer sees them.
rendercanvas has no events for the rest (gamepad states, ``message`` and ``clipboard``
events, and any kind rfb adds): the canvas keeps those, oldest first, for
``canvas.poll_events()`` (the same ``InputEvent``s ``display.poll_events()`` gives; at
most ``MAX_KEPT_EVENTS``, the newest kept), so a teleoperation loop reads its gamepad there.

Size policy (``resize=``): ``"follow"`` (the default) makes the canvas take the size of
the viewer that last resized its view (a viewer allowed to drive: watch-only viewers send
none), in its CSS pixels times its device pixel ratio capped at ``max_pixel_ratio``
(default 1: frames in CSS pixels, so a HiDPI screen does not quadruple the encode), rounded
to even sizes for H.264 and clamped to ``min_size``..``max_size``. ``"fixed"``: the canvas
keeps its size (``size=``, else the display's) and viewers scale what they get.

With no viewer, draws wait (``idle_without_viewers=True``): rendering nobody watches
would only burn CPU. Run the rfb server on its own thread (``serve_in_thread``) when
frames take long to render: rendercanvas draws on its asyncio loop, which would otherwise
also be the loop that sends frames.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

try:
    from rendercanvas.asyncio import loop
    from rendercanvas.base import BaseCanvasGroup, BaseRenderCanvas
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "rfb.rendercanvas needs the 'rendercanvas' extra: pip install 'rfb[rendercanvas]' "
        f"(and wgpu or pygfx to render; missing: {exc.name})"
    ) from None

if TYPE_CHECKING:
    from .display import Display
    from .inputs import InputEvent

__all__ = ["RenderCanvas", "RfbRenderCanvas", "loop", "to_canvas_event"]

# rfb's input vocabulary is rendercanvas's (jupyter_rfb's) with ``type``/``timestamp`` for
# ``event_type``/``time_stamp``; these are the kinds a canvas takes from a viewer.
FORWARDED = frozenset({"pointer_down", "pointer_up", "pointer_move", "pointer_enter",
                       "pointer_leave", "double_click", "wheel", "key_down", "key_up",
                       "char"})  # fmt: skip
_POINTER = FORWARDED - {"key_down", "key_up", "char"}
MAX_KEPT_EVENTS = 10_000  # events the canvas does not forward, for canvas.poll_events()
IDLE_POLL_S = 0.1  # how often a waiting draw checks whether a viewer has come


def to_canvas_event(event: dict[str, Any], pixel_ratio: float) -> dict[str, Any] | None:
    """One rfb input event as a rendercanvas event, or None for kinds a canvas does not
    take. rfb's coordinates are in the published frame's pixels, rendercanvas's in the
    canvas's logical pixels: divided by the canvas's pixel ratio."""
    kind = event.get("type")
    if kind not in FORWARDED:
        return None
    out: dict[str, Any] = {k: v for k, v in event.items() if k not in ("type", "timestamp")}
    out["event_type"] = kind
    out["time_stamp"] = time.perf_counter()  # the canvas's clock, not the browser's
    out["modifiers"] = tuple(event.get("modifiers", ()))
    if kind in _POINTER:
        out["x"] = float(event["x"]) / pixel_ratio
        out["y"] = float(event["y"]) / pixel_ratio
        out["pixel_ratio"] = pixel_ratio
        out["buttons"] = tuple(event.get("buttons", ()))
        out.setdefault("button", 0)
        out.setdefault("ntouches", 0)
        out.setdefault("touches", {})
    return out


class Touches:
    """The fingers each viewer has on the canvas, for rendercanvas's ``ntouches`` and
    ``touches`` ({pointer_id: {"x", "y", "pressure"}} in logical pixels, as jupyter_rfb
    sends them): rfb's events carry one pointer each (``pointer_id``, ``pointer_type``)."""

    def __init__(self) -> None:
        self._down: dict[str, dict[int, dict[str, float]]] = {}

    def update(self, client_id: str, out: dict[str, Any]) -> None:
        """Fill ``out`` (a converted pointer event) with the viewer's touches after it."""
        fingers = self._down.setdefault(client_id, {})
        if out.get("pointer_type") == "touch" and isinstance(out.get("pointer_id"), int):
            pid = out["pointer_id"]
            kind = out["event_type"]
            if kind == "pointer_down" or (kind == "pointer_move" and pid in fingers):
                fingers[pid] = {"x": out["x"], "y": out["y"],
                                "pressure": float(out.get("pressure", 1.0))}  # fmt: skip
            elif kind in ("pointer_up", "pointer_leave"):
                fingers.pop(pid, None)
        if out["event_type"] != "double_click":
            out["ntouches"] = len(fingers)
            out["touches"] = {k: dict(v) for k, v in fingers.items()}
        if not fingers:
            self._down.pop(client_id, None)

    def forget(self, client_id: str) -> None:
        self._down.pop(client_id, None)


def even(n: float) -> int:
    return max(2, round(n / 2) * 2)


class RfbCanvasGroup(BaseCanvasGroup):  # type: ignore[misc]
    """rfb canvases share rendercanvas's asyncio loop."""


class RfbRenderCanvas(BaseRenderCanvas):  # type: ignore[misc]
    """A rendercanvas canvas whose frames go to ``display``'s viewers.

    ``size``: the logical size to start at (default: the display's); ``resize``,
    ``max_pixel_ratio``, ``min_size``, ``max_size`` and ``idle_without_viewers``: see the
    module's note. Other keywords go to rendercanvas (``update_mode``, ``max_fps``,
    ``title``, ...).
    """

    _rc_canvas_group = RfbCanvasGroup(loop)

    def __init__(
        self,
        *args: Any,
        display: Display,
        size: tuple[float, float] | None = None,
        resize: Literal["follow", "fixed"] = "follow",
        max_pixel_ratio: float = 1.0,
        min_size: tuple[int, int] = (64, 64),
        max_size: tuple[int, int] = (3840, 2160),
        idle_without_viewers: bool = True,
        **kwargs: Any,
    ) -> None:
        if resize not in ("follow", "fixed"):
            raise ValueError(f"resize must be 'follow' or 'fixed', got {resize!r}")
        if not max_pixel_ratio > 0:
            raise ValueError("max_pixel_ratio must be positive")
        kwargs["size"] = size or (display.width, display.height)
        super().__init__(*args, **kwargs)
        self._display = display
        self._resize = resize
        self._max_ratio = float(max_pixel_ratio)
        self._min_size, self._max_size = min_size, max_size
        self._idle_without_viewers = idle_without_viewers
        self._pixel_ratio = 1.0
        self._closed = False
        self._waiting = False
        self.frames_presented = 0
        self.resized_by: str | None = None  # the viewer whose size it follows
        self._touches = Touches()
        self._kept: deque[InputEvent] = deque(maxlen=MAX_KEPT_EVENTS)
        self._final_canvas_init()

    @property
    def display(self) -> Display:
        return self._display

    def poll_events(self) -> list[InputEvent]:
        """The viewers' events rendercanvas has no event for (``gamepad`` states,
        ``message``, ``clipboard``), oldest first, since the last call: the canvas takes
        every event from ``display.poll_events()`` and forwards the rest as rendercanvas
        events. Call it from the draw function or the loop (it is filled on each tick)."""
        out = list(self._kept)
        self._kept.clear()
        return out

    # -- what rendercanvas asks of a backend ----------------------------------------------

    def _rc_gui_poll(self) -> None:
        # The viewers' input, taken from the display each tick (the scheduler calls this
        # before every draw and at max_fps between draws).
        # An event's coordinates are in the pixels of the frame its viewer shows: until
        # frames of a new size reach it, that is the old size, so events are converted
        # before a resize in the same batch is applied.
        latest_resize: InputEvent | None = None
        for ev in self._display.poll_events():
            if ev.type == "resize":
                latest_resize = ev
                continue
            converted = to_canvas_event(ev.event, self._pixel_ratio)
            if converted is None:
                self._kept.append(ev)  # no rendercanvas event for it: canvas.poll_events()
                continue
            if converted["event_type"] in _POINTER and converted["event_type"] != "wheel":
                self._touches.update(ev.client_id, converted)
            self.submit_event(converted)
        if latest_resize is not None and self._resize == "follow":
            self._follow(latest_resize)

    def _follow(self, ev: InputEvent) -> None:
        e = ev.event
        width, height = float(e.get("width", 0)), float(e.get("height", 0))
        if width <= 0 or height <= 0:
            return
        ratio = min(float(e.get("ratio") or 1.0), self._max_ratio)
        pw = min(max(even(width * ratio), self._min_size[0]), even(self._max_size[0]))
        ph = min(max(even(height * ratio), self._min_size[1]), even(self._max_size[1]))
        self.resized_by = ev.client_id
        self._set_physical(pw, ph, ratio)

    def _set_physical(self, pw: int, ph: int, ratio: float) -> None:
        self._pixel_ratio = ratio
        self._size_info.set_physical_size(pw, ph, ratio)

    def _rc_get_present_info(self, present_methods: list[str]) -> dict[str, Any] | None:
        if "bitmap" not in present_methods:
            return None
        return {"method": "bitmap", "formats": ["rgba-u8"]}

    def _rc_request_draw(self) -> None:
        if self._idle_without_viewers and self._unwatched():
            self._wait_for_viewer()
            return
        self._time_to_draw()

    def _unwatched(self) -> bool:
        """No viewer and no recording: nothing would see a draw."""
        return self._display.client_count == 0 and not self._display.stream.recordings

    def _wait_for_viewer(self) -> None:
        if self._waiting:
            return
        self._waiting = True

        def check() -> None:
            if self._rc_get_closed():
                self._waiting = False
                return
            if self._unwatched():
                self._rc_canvas_group.get_loop().call_later(IDLE_POLL_S, check)
                return
            self._waiting = False
            self._time_to_draw()

        self._rc_canvas_group.get_loop().call_later(IDLE_POLL_S, check)

    def _rc_request_paint(self) -> None:
        pass  # the frame was published in _rc_present_bitmap: nothing to repaint

    def _rc_force_paint(self) -> None:
        pass

    def _rc_present_bitmap(self, *, data: Any, format: str, **kwargs: Any) -> None:
        if format != "rgba-u8" or self._display.closed:
            return
        # Copied: wgpu may reuse the buffer for the next frame.
        self._display.publish(np.asarray(data), copy=True)
        self.frames_presented += 1

    def _rc_set_logical_size(self, width: float, height: float) -> None:
        ratio = self._pixel_ratio
        self._set_physical(even(width * ratio), even(height * ratio), ratio)

    def _rc_close(self) -> None:
        self._closed = True

    def _rc_get_closed(self) -> bool:
        return self._closed or self._display.closed

    def _rc_set_title(self, title: str) -> None:
        pass  # a stream has a name, not a title

    def _rc_set_cursor(self, cursor: str) -> None:
        pass  # rfb's protocol carries no cursor shape (yet)


RenderCanvas = RfbRenderCanvas
