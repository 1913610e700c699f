"""The control floor: which of a stream's viewers drives, sans I/O (the caller passes ``now``).

``mode="shared"`` (the default) lets every viewer that may drive do so at once: the floor
decides nothing. ``mode="exclusive"`` lets one viewer, the holder, drive at a time; the
input of every other viewer is dropped (the input sink counts it). The floor passes:

- by request: granted at once when the floor is free, when the holder has sent no input
  for ``idle_s`` seconds, or to a viewer with the right to take it (``may_take``, from an
  ``authenticate`` hook) while another viewer holds it; otherwise the requester waits in
  line and gets it when the holder releases it, leaves, or goes idle (``due``/``tick``);
- by the holder releasing it (to the first in line, or nobody) or handing it on;
- by the application: ``give(client_id)`` (``None``: nobody; the line then moves up) and
  ``take()`` (the application holds it: no viewer drives, no request is granted, not even
  to a viewer that may take it, until the application gives it);
- on first click (``on_click``): a ``pointer_down`` from a viewer that may drive takes
  the floor when nobody holds it.

A view-only viewer never holds it nor waits for it. Every method returns an ``Outcome``;
``state`` says who holds it now (the shell compares it before and after to tell the
application and the viewers of a change) and ``reason`` why it last changed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

SHARED = "shared"
EXCLUSIVE = "exclusive"
MODES = (SHARED, EXCLUSIVE)
DEFAULT_IDLE_S = 30.0  # a holder this long without input loses the floor to a request
MAX_WAITING = 64  # requests in line (a stream has at most max_viewers viewers anyway)
# Input kinds that are not the viewer driving: they do not keep a holder from going idle.
PASSIVE = frozenset({"resize"})


class Outcome(enum.Enum):
    GRANTED = "granted"
    WAITING = "waiting"  # in line for it
    RELEASED = "released"
    WITHDRAWN = "withdrawn"  # a waiting request taken back
    HANDED = "handed"
    HOLDS = "holds"  # asked for what it already holds
    NOTHING = "nothing"  # nothing to release
    # refusals: a viewer asked for what it may not have
    SHARED = "shared"  # the stream's control is shared: there is no floor
    VIEW_ONLY = "view_only"
    NOT_HOLDER = "not_holder"  # handing on a floor it does not hold
    UNKNOWN = "unknown_viewer"  # no such viewer (or it may not drive)
    APP_HOLDS = "app_holds"

    @property
    def refused(self) -> bool:
        return self in _REFUSALS


_REFUSALS = frozenset(
    {Outcome.SHARED, Outcome.VIEW_ONLY, Outcome.NOT_HOLDER, Outcome.UNKNOWN, Outcome.APP_HOLDS}
)


@dataclass(frozen=True, slots=True)
class FloorState:
    """Who holds the floor: a viewer (``holder``), the application (``by_app``), or
    nobody; and who waits for it, first in line first."""

    mode: str
    holder: str | None = None
    by_app: bool = False
    waiting: tuple[str, ...] = ()


@dataclass(slots=True)
class _Member:
    may_drive: bool
    may_take: bool


class Floor:
    def __init__(self, mode: str = SHARED, *, idle_s: float | None = DEFAULT_IDLE_S,
                 on_click: bool = False) -> None:  # fmt: skip
        if mode not in MODES:
            raise ValueError(f"control must be one of {MODES}, got {mode!r}")
        if idle_s is not None and idle_s <= 0:
            raise ValueError("the control idle timeout must be positive seconds, or None")
        self.mode = mode
        self.idle_s = idle_s
        self.on_click = on_click
        self._members: dict[str, _Member] = {}
        self._holder: str | None = None
        self._by_app = False
        self._waiting: list[str] = []
        self._active_at = 0.0  # the holder's last input (or when it got the floor)
        self.reason = "start"  # why the holder last changed

    @property
    def exclusive(self) -> bool:
        return self.mode == EXCLUSIVE

    @property
    def holder(self) -> str | None:
        return self._holder

    @property
    def by_app(self) -> bool:
        return self._by_app

    @property
    def state(self) -> FloorState:
        return FloorState(self.mode, self._holder, self._by_app, tuple(self._waiting))

    def holds(self, client_id: str) -> bool:
        """Whether this viewer's input is delivered (shared: every viewer that may drive)."""
        member = self._members.get(client_id)
        if member is None or not member.may_drive:
            return False
        return not self.exclusive or self._holder == client_id

    # -- viewers --------------------------------------------------------------------------

    def join(self, client_id: str, *, may_drive: bool = True, may_take: bool = False) -> None:
        self._members[client_id] = _Member(may_drive, may_take and may_drive)

    def leave(self, client_id: str, now: float) -> Outcome:
        """A viewer left: out of line, and the floor to the next in line if it held it."""
        self._members.pop(client_id, None)
        if client_id in self._waiting:
            self._waiting.remove(client_id)
        if self._holder == client_id:
            self._pass_on(now, "left")
            return Outcome.RELEASED
        return Outcome.NOTHING

    # -- input ----------------------------------------------------------------------------

    def admit(self, client_id: str, kind: str, now: float) -> bool:
        """Whether an input event of ``kind`` from this viewer is delivered. A delivered
        event keeps the holder active; a first click may take a free floor."""
        member = self._members.get(client_id)
        if member is None or not member.may_drive:
            return False
        if not self.exclusive:
            return True
        if self._holder == client_id:
            if kind not in PASSIVE:
                self._active_at = now
            return True
        if (self.on_click and kind == "pointer_down" and self._holder is None
                and not self._by_app):  # fmt: skip
            self._grant(client_id, now, "first_click")
            return True
        return False

    # -- what viewers ask -------------------------------------------------------------------

    def request(self, client_id: str, now: float) -> Outcome:
        refused = self._check(client_id)
        if refused is not None:
            return refused
        if self._holder == client_id:
            return Outcome.HOLDS
        if self._by_app:
            return self._wait(client_id)
        if self._holder is None:
            self._grant(client_id, now, "request")
            return Outcome.GRANTED
        if self._members[client_id].may_take:
            self._grant(client_id, now, "taken")
            return Outcome.GRANTED
        if self._idle(now):
            self._grant(client_id, now, "idle")
            return Outcome.GRANTED
        return self._wait(client_id)

    def release(self, client_id: str, now: float) -> Outcome:
        """The holder lets go (the first in line gets it); a waiting viewer withdraws."""
        if not self.exclusive:
            return Outcome.SHARED
        if self._holder == client_id:
            self._pass_on(now, "released")
            return Outcome.RELEASED
        if client_id in self._waiting:
            self._waiting.remove(client_id)
            return Outcome.WITHDRAWN
        return Outcome.NOTHING

    def hand(self, client_id: str, to: str, now: float) -> Outcome:
        """The holder gives the floor to another viewer that may drive."""
        if not self.exclusive:
            return Outcome.SHARED
        if self._holder != client_id:
            return Outcome.NOT_HOLDER
        target = self._members.get(to)
        if target is None:
            return Outcome.UNKNOWN
        if not target.may_drive:
            return Outcome.VIEW_ONLY
        if to != client_id:
            self._grant(to, now, "handed")
        return Outcome.HANDED

    # -- what the application does ------------------------------------------------------------

    def give(self, client_id: str | None, now: float) -> Outcome:
        """The application gives the floor to a viewer, or to nobody (``None``: the first
        in line then gets it)."""
        if not self.exclusive:
            return Outcome.SHARED
        if client_id is None:
            self._by_app = False
            self._pass_on(now, "app")
            return Outcome.RELEASED
        target = self._members.get(client_id)
        if target is None:
            return Outcome.UNKNOWN
        if not target.may_drive:
            return Outcome.VIEW_ONLY
        self._by_app = False
        self._grant(client_id, now, "app")
        return Outcome.GRANTED

    def take(self, now: float) -> Outcome:
        """The application holds the floor: no viewer's input is delivered until it gives
        it (the holder, if any, loses it; the line stays)."""
        if not self.exclusive:
            return Outcome.SHARED
        if not self._by_app or self._holder is not None:
            self._holder = None
            self._by_app = True
            self.reason = "app"
        return Outcome.GRANTED

    # -- time -------------------------------------------------------------------------------

    def due(self) -> float | None:
        """When ``tick`` may move the floor: the holder's idle deadline while someone waits."""
        if self._holder is None or not self._waiting or self.idle_s is None:
            return None
        return self._active_at + self.idle_s

    def tick(self, now: float) -> Outcome:
        """The holder went idle with someone in line: the first in line gets it."""
        if self._holder is not None and self._waiting and self._idle(now):
            self._pass_on(now, "idle")
            return Outcome.GRANTED
        return Outcome.NOTHING

    # -- inside -----------------------------------------------------------------------------

    def _check(self, client_id: str) -> Outcome | None:
        if not self.exclusive:
            return Outcome.SHARED
        member = self._members.get(client_id)
        if member is None:
            return Outcome.UNKNOWN
        if not member.may_drive:
            return Outcome.VIEW_ONLY
        return None

    def _idle(self, now: float) -> bool:
        return self.idle_s is not None and now - self._active_at >= self.idle_s

    def _wait(self, client_id: str) -> Outcome:
        if client_id not in self._waiting and len(self._waiting) < MAX_WAITING:
            self._waiting.append(client_id)
        return Outcome.WAITING

    def _grant(self, client_id: str, now: float, reason: str) -> None:
        if client_id in self._waiting:
            self._waiting.remove(client_id)
        self._holder = client_id
        self._by_app = False
        self._active_at = now
        self.reason = reason

    def _pass_on(self, now: float, reason: str) -> None:
        if self._waiting and not self._by_app:
            self._grant(self._waiting[0], now, reason)
        else:
            self._holder = None
            self.reason = reason
