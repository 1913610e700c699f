"""InputSink: one stream's input queue, between the transports and ``poll_events()``.

Transports push each validated event of an admitted viewer (on the loop thread); the
user's code takes them with ``poll_events()`` from any thread, or ``async for`` on the
loop. Each viewer's input passes its InputGate first (session/input_gate.py): view-only
input is dropped, and past the rate limit pointer moves merge into the viewer's newest
queued move (or wait for the next poll) while other events are dropped, all counted.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from .access import Access
from .session.input_gate import InputGate, Verdict

MAX_QUEUED_EVENTS = 10_000
MAX_RECORDED_EVENTS = 100_000


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One input event from one viewer, in the renderview vocabulary.

    ``principal``: what the ``authenticate`` hook returned for that viewer (None without
    a hook). Fields in pdum.rfb's order, so code written for it reads them unchanged.
    """

    client_id: str
    principal: Any
    event: dict[str, Any]
    received_us: int  # on the display's clock, like frame timestamps

    @property
    def type(self) -> str:
        return str(self.event.get("type", ""))

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "principal": _jsonable(self.principal),
            "event": self.event,
            "received_us": self.received_us,
        }


def _jsonable(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else repr(value)


class InputSink:
    """The queue of one stream's input events, and its per-viewer gates."""

    def __init__(
        self,
        clock: Callable[[], float],
        now_us: Callable[[], int],
        *,
        rate: float | None,
        record: bool = False,
    ) -> None:
        self._clock = clock
        self._now_us = now_us
        self._rate = rate
        self.record = record
        self._lock = threading.Lock()
        self._events: deque[InputEvent] = deque()
        self._events_base = 0  # how many events have left the queue's front, ever
        self._last_move: dict[str, int] = {}  # viewer -> its queued newest event, a move
        self._held_move: dict[str, InputEvent] = {}  # a move over budget, for the next poll
        self._viewers: dict[str, tuple[Access, InputGate]] = {}
        self._signal = asyncio.Event()
        self._closed = False
        self.events_dropped = 0  # queue full: nobody polls
        self.events_delivered = 0
        self.dropped: Counter[str] = Counter()  # input not delivered, by reason
        self.recorded: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDED_EVENTS)

    def open(self, client_id: str, access: Access) -> None:
        """A transport admitted this viewer: its input carries ``access.principal`` and
        passes its gate (view-only: dropped; otherwise rate-limited)."""
        gate = InputGate(self._clock(), rate=self._rate, view_only=access.view_only)
        self._viewers[client_id] = (access, gate)

    def close(self, client_id: str) -> None:
        self._viewers.pop(client_id, None)

    def push(self, client_id: str, event: dict[str, Any]) -> None:
        """One validated input event from a viewer (loop thread)."""
        entry = self._viewers.get(client_id)
        if entry is None:  # not admitted (or gone): nothing it sends reaches the app
            self.dropped["unknown_viewer"] += 1
            return
        access, gate = entry
        verdict = gate.admit(event, self._clock())
        if verdict in (Verdict.DROP_RATE, Verdict.DROP_VIEW_ONLY):
            self.dropped[verdict.value] += 1
            return
        ev = InputEvent(client_id, access.principal, event, self._now_us())
        with self._lock:
            if verdict is Verdict.COALESCE:
                # Over the budget, a move merges into this viewer's newest queued event if
                # that is a move, else waits for the next poll (the latest position, once)
                # unless something newer from the viewer comes first.
                merged = self._coalesce(ev)
                if not merged:
                    merged = self._held_move.get(client_id) is not None
                    self._held_move[client_id] = ev
                    self._signal.set()
                if merged:
                    self.dropped["coalesced"] += 1  # a move replaced, never delivered
                return
            if self._held_move.pop(client_id, None) is not None:
                self.dropped["coalesced"] += 1
            if len(self._events) >= MAX_QUEUED_EVENTS:
                self.events_dropped += 1  # nobody is polling: keep the newest
                self._events.popleft()
                self._events_base += 1
            if ev.type == "pointer_move":
                self._last_move[client_id] = self._events_base + len(self._events)
            else:
                self._last_move.pop(client_id, None)
            self._events.append(ev)
            self.events_delivered += 1
        if self.record:
            self.recorded.append(ev.as_dict())
        self._signal.set()

    def _coalesce(self, ev: InputEvent) -> bool:
        """Replace the viewer's newest queued event with this move if that was a move."""
        at = self._last_move.get(ev.client_id)
        if at is None or at < self._events_base:
            return False
        self._events[at - self._events_base] = ev
        return True

    def poll(self) -> list[InputEvent]:
        """Every event received since the last call, oldest first. Thread-safe."""
        with self._lock:
            out = list(self._events)
            self._events.clear()
            self._events_base += len(out)
            self._last_move.clear()
            if self._held_move:
                out += self._held_move.values()  # each its viewer's newest event
                self.events_delivered += len(self._held_move)
                self._held_move.clear()
        return out

    async def stream(self) -> AsyncIterator[InputEvent]:
        """Events as they arrive, until shut()."""
        while not self._closed:
            for ev in self.poll():
                yield ev
            self._signal.clear()
            if not self._events and not self._held_move and not self._closed:
                await self._signal.wait()

    def shut(self) -> None:
        """No more events: wake every ``stream()`` so it ends."""
        self._closed = True
        self._signal.set()
