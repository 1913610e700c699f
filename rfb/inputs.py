"""InputSink: one stream's input queue, between the transports and ``poll_events()``.

Transports push each validated event of an admitted viewer (on the loop thread); the
user's code takes them with ``poll_events()`` from any thread, or ``async for`` on the
loop. Each viewer's input passes its InputGate first (session/input_gate.py): view-only
input is dropped, and past the rate limit pointer moves (gamepad states) merge into the
viewer's newest queued move (that pad's state) or wait for the next poll, while other
events are dropped, all counted.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from .access import Access
from .session.control import Floor, FloorState, Outcome
from .session.input_gate import COALESCED, InputGate, Verdict
from .session.photon import Photon

MAX_QUEUED_EVENTS = 10_000
MAX_RECORDED_EVENTS = 100_000
CONTROL_RATE = 10.0  # control requests per second one viewer may make (more are refused)


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
    # The browser's number for this input (click-to-photon, session/photon.py); None from
    # clients that send none and for events the stream makes.
    input_seq: int | None = field(default=None, repr=False, compare=False)

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


def _slot(event: dict[str, Any]) -> tuple[Any, ...]:
    """What a coalesced event replaces: a move the viewer's queued move, a gamepad state
    that pad's queued state."""
    kind = event.get("type")
    return (kind, event.get("index")) if kind == "gamepad" else (kind,)


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
        floor: Floor | None = None,
        on_floor: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        self._now_us = now_us
        self._rate = rate
        self.record = record
        self._lock = threading.Lock()
        self._events: deque[InputEvent] = deque()
        self._events_base = 0  # how many events have left the queue's front, ever
        self._last_move: dict[str, int] = {}  # viewer -> its queued newest event, a move
        # (viewer, slot) -> a move or pad state over budget, for the next poll (_slot)
        self._held_move: dict[tuple[str, tuple[Any, ...]], InputEvent] = {}
        self._viewers: dict[str, tuple[Access, InputGate]] = {}
        self._signal = asyncio.Event()
        self._closed = False
        self.events_dropped = 0  # queue full: nobody polls
        self.events_delivered = 0
        self.dropped: Counter[str] = Counter()  # input not delivered, by reason
        self.recorded: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDED_EVENTS)
        # The control floor (session/control.py): who drives; on_floor: told of a change.
        self.floor = floor if floor is not None else Floor()
        self._on_floor = on_floor
        self._control_gates: dict[str, InputGate] = {}  # rate of each viewer's requests
        self._sizes: dict[str, dict[str, Any]] = {}  # each viewer's last resize event
        self._floor_timer: asyncio.TimerHandle | None = None
        self.control_refused: Counter[str] = Counter()  # control requests refused, by why
        self.control_changes = 0  # times the floor's holder changed
        # Click-to-photon (session/photon.py): what the program took, per viewer.
        self.photon = Photon(clock)

    def open(self, client_id: str, access: Access) -> None:
        """A transport admitted this viewer: its input carries ``access.principal`` and
        passes its gate (view-only: dropped; otherwise rate-limited)."""
        gate = InputGate(self._clock(), rate=self._rate, view_only=access.view_only)
        self._viewers[client_id] = (access, gate)
        self._control_gates[client_id] = InputGate(self._clock(), rate=CONTROL_RATE)
        self.floor.join(client_id, may_drive=not access.view_only,
                        may_take=access.can_take_control)  # fmt: skip

    def close(self, client_id: str) -> None:
        # The floor first: a holder that leaves has its presses released, then goes.
        before = self.floor.state
        self.floor.leave(client_id, self._clock())
        self._floor_moved(before)
        self._viewers.pop(client_id, None)
        self._control_gates.pop(client_id, None)
        self._sizes.pop(client_id, None)
        with self._lock:  # poll() records taken inputs under it
            self.photon.close(client_id)

    def push(self, client_id: str, event: dict[str, Any], input_seq: int | None = None) -> None:
        """One validated input event from a viewer (loop thread); ``input_seq``: the
        browser's number for it, recorded once the program takes it."""
        entry = self._viewers.get(client_id)
        if entry is None:  # not admitted (or gone): nothing it sends reaches the app
            self.dropped["unknown_viewer"] += 1
            return
        access, gate = entry
        now = self._clock()
        if self.floor.exclusive and not access.view_only and not self._floor_admits(
            client_id, event, now
        ):
            return
        verdict = gate.admit(event, now)
        if verdict in (Verdict.DROP_RATE, Verdict.DROP_VIEW_ONLY):
            self.dropped[verdict.value] += 1
            return
        ev = InputEvent(client_id, access.principal, event, self._now_us(), input_seq)
        with self._lock:
            if verdict is Verdict.COALESCE:
                # Over the budget, a move (a pad's state) merges into this viewer's newest
                # queued event if that is a move (that pad's state), else waits for the
                # next poll (the latest, once): a move unless something newer from the
                # viewer comes first, a pad's state in any case (queued before that).
                merged = self._coalesce(ev)
                if not merged:
                    slot = (client_id, _slot(event))
                    merged = self._held_move.get(slot) is not None
                    self._held_move[slot] = ev
                    self._signal.set()
                if merged:
                    self.dropped["coalesced"] += 1  # a move replaced, never delivered
                return
            appended = self._release_held(client_id)
            appended.append(ev)
            for queued in appended:
                self._append(queued)
        if self.record:
            self.recorded.extend(e.as_dict() for e in appended)
        self._signal.set()

    def deliver(self, client_id: str, event: dict[str, Any],
                recorded: dict[str, Any] | None = None) -> None:  # fmt: skip
        """An event the stream makes for a viewer, past its gate (a finished upload,
        rfb/files.py: admitted when it was offered); ``recorded``: what record_events
        keeps of it instead (no file bytes)."""
        entry = self._viewers.get(client_id)
        ev = InputEvent(client_id, entry[0].principal if entry else None, event, self._now_us())
        with self._lock:
            appended = self._release_held(client_id)
            appended.append(ev)
            for queued in appended:
                self._append(queued)
        if self.record:
            self.recorded.extend(e.as_dict() for e in appended[:-1])
            self.recorded.append({**ev.as_dict(), "event": recorded or event})
        self._signal.set()

    def _release_held(self, client_id: str) -> list[InputEvent]:
        """A newer event from this viewer is delivered: its held move is stale (dropped),
        its pads' held states are still owed (returned, to be queued before it)."""
        owed: list[InputEvent] = []
        for slot in [s for s in self._held_move if s[0] == client_id]:
            held = self._held_move.pop(slot)
            if held.type == "pointer_move":
                self.dropped["coalesced"] += 1
            else:
                owed.append(held)
        return owed

    def _append(self, ev: InputEvent) -> None:
        if len(self._events) >= MAX_QUEUED_EVENTS:
            self.events_dropped += 1  # nobody is polling: keep the newest
            self._events.popleft()
            self._events_base += 1
        if ev.type in COALESCED:
            self._last_move[ev.client_id] = self._events_base + len(self._events)
        else:
            self._last_move.pop(ev.client_id, None)
        self._events.append(ev)
        self.events_delivered += 1

    def _coalesce(self, ev: InputEvent) -> bool:
        """Replace the viewer's newest queued event with this one if that was of the same
        slot (a move; the same pad's state)."""
        at = self._last_move.get(ev.client_id)
        if at is None or at < self._events_base:
            return False
        if _slot(self._events[at - self._events_base].event) != _slot(ev.event):
            return False
        self._events[at - self._events_base] = ev
        return True

    def poll(self) -> list[InputEvent]:
        """Every event received since the last call, oldest first. Thread-safe."""
        with self._lock:
            out = self._take()
            self.photon.taken.record((ev.client_id, ev.input_seq) for ev in out)
        return out

    def _take(self) -> list[InputEvent]:
        """The queue's events and the held moves, emptied (under the lock)."""
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
        """Events as they arrive, until shut(). Each counts as taken (click-to-photon)
        when it is yielded, not when its batch left the queue."""
        while not self._closed:
            with self._lock:
                batch = self._take()
            for ev in batch:
                if ev.input_seq is not None:
                    with self._lock:
                        self.photon.taken.record(((ev.client_id, ev.input_seq),))
                yield ev
            self._signal.clear()
            if not self._events and not self._held_move and not self._closed:
                await self._signal.wait()

    def shut(self) -> None:
        """No more events: wake every ``stream()`` so it ends."""
        self._closed = True
        if self._floor_timer is not None:
            self._floor_timer.cancel()
        self._signal.set()

    # -- the control floor (loop thread) -------------------------------------------------

    def _floor_admits(self, client_id: str, event: dict[str, Any], now: float) -> bool:
        """Exclusive control: whether this event of a viewer that may drive goes on (it
        holds the floor, or its first click takes it); the rest are dropped, counted."""
        kind = event.get("type")
        if kind == "resize":  # a holder-to-be's size, given to the app when it gets the floor
            self._sizes[client_id] = event
        before = self.floor.state
        admitted = self.floor.admit(client_id, str(kind), now)
        self._floor_moved(before)  # a first click
        if not admitted and kind != "resize":  # a size is kept, not dropped
            self.dropped["control"] += 1
        return admitted

    def principals(self) -> dict[str, Any]:
        """Each viewer's principal, by client id."""
        return {cid: access.principal for cid, (access, _) in self._viewers.items()}

    def control(self, client_id: str, what: str, to: str | None = None) -> Outcome:
        """A viewer's ``request_control`` / ``release_control`` / ``give_control`` (to
        ``to``). Refusals are counted in ``control_refused``; so are requests past
        CONTROL_RATE a second (Outcome.NOTHING, nothing done)."""
        gate = self._control_gates.get(client_id)
        if gate is None:
            self.control_refused["unknown_viewer"] += 1
            return Outcome.UNKNOWN
        now = self._clock()
        if gate.admit({"type": what}, now) is not Verdict.DELIVER:
            self.control_refused["rate"] += 1
            return Outcome.NOTHING
        before = self.floor.state
        if what == "request_control":
            outcome = self.floor.request(client_id, now)
        elif what == "release_control":
            outcome = self.floor.release(client_id, now)
        else:
            outcome = self.floor.hand(client_id, to or "", now)
        if outcome.refused:
            self.control_refused[outcome.value] += 1
        self._floor_moved(before)
        return outcome

    def give_control(self, client_id: str | None) -> None:
        """The application gives the floor to a viewer, or to nobody (None). KeyError for
        an unknown viewer, ValueError for a view-only one or a shared stream."""
        before = self.floor.state
        outcome = self.floor.give(client_id, self._clock())
        if outcome is Outcome.UNKNOWN:
            raise KeyError(f"no viewer {client_id!r} on this stream")
        if outcome is Outcome.VIEW_ONLY:
            raise ValueError(f"viewer {client_id!r} is view-only: it cannot hold the floor")
        if outcome is Outcome.SHARED:
            raise ValueError('this stream\'s control is "shared": there is no floor to give')
        self._floor_moved(before)

    def take_control(self) -> None:
        """The application holds the floor: no viewer's input is delivered until
        give_control(). ValueError on a shared stream."""
        before = self.floor.state
        if self.floor.take(self._clock()) is Outcome.SHARED:
            raise ValueError('this stream\'s control is "shared": there is no floor to take')
        self._floor_moved(before)

    def _floor_moved(self, before: FloorState) -> None:
        """After any floor decision: if the holder changed, the app is told (a ``control``
        event, after the releases of what the last holder still pressed, before the new
        holder's size); the viewers are told of any change; the idle timer is re-armed."""
        after = self.floor.state
        if after == before:
            return
        if (after.holder, after.by_app) != (before.holder, before.by_app):
            self.control_changes += 1
            self._announce(before, after)
        self._arm()
        if self._on_floor is not None:
            self._on_floor()

    def _announce(self, before: FloorState, after: FloorState) -> None:
        now_us = self._now_us()
        out: list[InputEvent] = []
        with self._lock:
            lost = before.holder
            if lost is not None and lost in self._viewers:
                access, gate = self._viewers[lost]
                out += self._release_held(lost)
                out += [InputEvent(lost, access.principal, ev, now_us)
                        for ev in gate.release_all()]  # fmt: skip
            holder = after.holder
            principal = self._viewers[holder][0].principal if holder in self._viewers else None
            control = {"type": "control", "holder": holder, "app": after.by_app,
                       "previous": before.holder, "reason": self.floor.reason}  # fmt: skip
            out.append(InputEvent(holder or "", principal, control, now_us))
            if holder is not None and holder in self._sizes:
                out.append(InputEvent(holder, principal, self._sizes[holder], now_us))
            for ev in out:
                self._append(ev)
        if self.record:
            self.recorded.extend(e.as_dict() for e in out)
        self._signal.set()

    def _arm(self) -> None:
        """A timer for when the holder goes idle while someone waits (floor.due())."""
        if self._floor_timer is not None:
            self._floor_timer.cancel()
            self._floor_timer = None
        due = self.floor.due()
        if due is None or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (unit tests drive tick() themselves)
            return
        self._floor_timer = loop.call_later(max(0.0, due - self._clock()), self.tick)

    def tick(self) -> None:
        """The idle timer: the first in line gets the floor if the holder went idle;
        else the timer waits for the holder's new deadline."""
        self._floor_timer = None
        before = self.floor.state
        self.floor.tick(self._clock())
        self._floor_moved(before)
        if self._floor_timer is None:
            self._arm()
