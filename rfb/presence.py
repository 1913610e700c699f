"""Presence: who is watching a stream, who holds its control floor, and (with
``presence=True``) where each viewer's pointer is. The loop-side shell of
session/control.py's floor and session/presence.py's pointers.

Viewers that announced the ``control`` feature are told who holds the floor (``control``),
those that announced ``presence`` who is watching (``viewers``, after joins, leaves and
floor changes: at once, or with a crowd coming and going, paced by
session/presence.RosterPace) and the others' pointers (``pointers``, at most 15 a
second). Both are state: a viewer that starts listening gets the current ones first
(notices.py). pdum.rfb 0.x clients announce neither and are sent none of it. Loop thread
only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

from . import protocol
from .access import Access
from .notices import Notices
from .session.control import Floor, Outcome
from .session.presence import POINTER_HZ, Pointers, RosterPace

MAX_LISTED = 256  # viewers named in ``viewers`` (as many as the page lists: presence.ts)


@dataclass(frozen=True, slots=True)
class _Member:
    name: str | None
    transport: str
    view_only: bool


class Presence:
    def __init__(self, notices: Notices, floor: Floor, clock: Callable[[], float], *,
                 pointers: bool = False, hz: float = POINTER_HZ) -> None:  # fmt: skip
        self._notices = notices
        self._floor = floor
        self._clock = clock
        self.pointers_shared = pointers
        self._pointers = Pointers(hz)
        self._members: dict[str, _Member] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._roster = RosterPace()
        self._roster_timer: asyncio.TimerHandle | None = None
        self._last: dict[str, str] = {}  # what was last announced, by message type
        self.pointers_ignored = 0  # positions sent to a stream that does not share them
        self.announce()

    # -- who is watching -----------------------------------------------------------------

    def join(self, client_id: str, access: Access, transport: str) -> None:
        self._members[client_id] = _Member(access.name, transport, access.view_only)
        self.announce()

    def leave(self, client_id: str) -> None:
        if self._members.pop(client_id, None) is None:
            return
        self._pointers.left(client_id)
        self.announce()

    def viewers(self, limit: int | None = None) -> list[protocol.ViewerInfo]:
        """Every viewer (the first ``limit``), in the order they joined."""
        floor = self._floor
        return [
            protocol.ViewerInfo(
                cid, m.name, m.transport, "view" if m.view_only else "drive",
                not m.view_only and (not floor.exclusive or floor.holder == cid),
            )
            for cid, m in islice(self._members.items(), limit)
        ]  # fmt: skip

    def _viewers_message(self) -> tuple[protocol.Viewers, str]:
        """``viewers`` with the first MAX_LISTED viewers (and the total where that is not
        all of them), shortened further until it fits a message: with hundreds of viewers
        the whole list would outgrow it, and be rebuilt at every join."""
        total = len(self._members)
        listed = self.viewers(MAX_LISTED)
        while True:
            msg = protocol.Viewers(tuple(listed), self.pointers_shared,
                                   None if len(listed) == total else total)  # fmt: skip
            try:
                return msg, msg.encode()
            except ValueError:  # over the size of a message (long names)
                listed = listed[: len(listed) // 2]

    def control_state(self, refused: str | None = None) -> protocol.ControlState:
        f = self._floor
        holder = self._members.get(f.holder) if f.holder is not None else None
        return protocol.ControlState(
            f.mode, f.holder, f.by_app, holder.name if holder else None,
            tuple(f.state.waiting), f.reason if f.exclusive else None, refused,
        )  # fmt: skip

    def announce(self) -> None:
        """Tell the viewers how things are (only what changed is sent): the floor at once,
        the roster at once or at the end of its gap (RosterPace)."""
        state = self.control_state()
        self._tell(state, state.encode())
        self._roster.changed()
        self._tell_roster()

    def _tell(self, msg: protocol.Notice, text: str) -> None:
        kind = msg.as_dict()["type"]
        if self._last.get(kind) != text:
            self._last[kind] = text
            self._notices.set_state(msg)

    def _tell_roster(self) -> None:
        now = self._clock()
        if self._roster.take(now, len(self._members)):
            if self._roster_timer is not None:
                self._roster_timer.cancel()
                self._roster_timer = None
            self._tell(*self._viewers_message())
            return
        due = self._roster.due()
        if due is not None and self._roster_timer is None:
            self._roster_timer = asyncio.get_running_loop().call_later(
                max(0.0, due - now), self._roster_due
            )

    def _roster_due(self) -> None:
        self._roster_timer = None
        self._tell_roster()

    def refused(self, client_id: str, outcome: Outcome) -> None:
        """Tell a viewer why its request was refused (with the floor as it is)."""
        if self._notices.listening(client_id, "control"):
            self._notices.send(self.control_state(outcome.value), client_id)

    # -- pointers ------------------------------------------------------------------------

    def pointer(self, client_id: str, x: float, y: float, inside: bool) -> None:
        """A viewer's pointer moved (``presence`` message): sent on, coalesced."""
        if not self.pointers_shared or client_id not in self._members:
            self.pointers_ignored += 1
            return
        self._pointers.moved(client_id, x, y, inside)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            return
        due = self._pointers.due()
        if due is None:
            return
        delay = max(0.0, due - self._clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self.flush)

    def flush(self) -> None:
        self._timer = None
        positions = self._pointers.flush(self._clock())
        if positions:
            msg = protocol.Pointers(tuple((p.client_id, p.x, p.y, p.inside) for p in positions))
            self._notices.send(msg)
        if self._pointers.due() is not None:
            self._arm()

    def close(self) -> None:
        for timer in (self._timer, self._roster_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._roster_timer = None

    def metrics(self) -> dict[str, int]:
        return {
            "viewers": len(self._members),
            "pointer_messages": self._pointers.sent,
            "pointers_coalesced": self._pointers.coalesced,
            "pointers_ignored": self.pointers_ignored,
            "roster_changes_coalesced": self._roster.coalesced,
        }
