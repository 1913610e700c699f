"""Presence, sans I/O: how often the viewers are told who is watching and where the others'
pointers are (the caller passes ``now`` and runs a timer at ``due``).

Pointers: a viewer's newer position replaces its older one still waiting (counted in
``coalesced``); ``flush`` returns every viewer's latest, once, no sooner than ``1/hz``
after the previous flush, so a stream sends at most ``hz`` pointer messages a second
whatever the number of viewers and however fast they move.

The roster (``viewers``, RosterPace): every join and leave changes it, and it goes to
every viewer, so a crowd arriving at once (n joins, each told to up to n viewers) would
cost n² messages of up to MAX_LISTED names: 500 viewers joining wrote 250,000 of them and
held the loop for seconds. A change is told at once when the roster has been quiet for a
gap; changes inside the gap are told together at its end. The gap grows with the audience
(``n / ROSTER_MESSAGES_PER_S``), so the roster costs at most about that many messages a
second however many viewers come and go: a few viewers see each other at once (20 ms at
ten), a thousand within two seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

POINTER_HZ = 15.0


@dataclass(frozen=True, slots=True)
class Position:
    client_id: str
    x: float
    y: float
    inside: bool  # False: the pointer left the view (drawn no more)


class Pointers:
    def __init__(self, hz: float = POINTER_HZ) -> None:
        if hz <= 0:
            raise ValueError("the pointer rate must be positive")
        self.period = 1.0 / hz
        self._pending: dict[str, Position] = {}
        self._last_flush: float | None = None
        self.coalesced = 0  # positions replaced by a newer one before they were sent
        self.sent = 0  # flushes

    def moved(self, client_id: str, x: float, y: float, inside: bool = True) -> None:
        if client_id in self._pending:
            self.coalesced += 1
        self._pending[client_id] = Position(client_id, x, y, inside)

    def left(self, client_id: str) -> None:
        """A viewer left: its pointer goes (the viewers list says it left)."""
        self._pending.pop(client_id, None)

    def due(self) -> float | None:
        """When ``flush`` has something to send (None: nothing waits)."""
        if not self._pending:
            return None
        return 0.0 if self._last_flush is None else self._last_flush + self.period

    def flush(self, now: float) -> list[Position]:
        """The positions waiting, if their time has come (else [])."""
        due = self.due()
        if due is None or now < due:
            return []
        out = list(self._pending.values())
        self._pending.clear()
        self._last_flush = now
        self.sent += 1
        return out


ROSTER_MESSAGES_PER_S = 500.0  # roster messages a second to all viewers together, at most
ROSTER_MAX_GAP_S = 5.0  # however large the audience, told within this


class RosterPace:
    """When the ``viewers`` message may go: at once after a quiet gap, else at its end."""

    def __init__(self, messages_per_s: float = ROSTER_MESSAGES_PER_S,
                 max_gap_s: float = ROSTER_MAX_GAP_S) -> None:  # fmt: skip
        if messages_per_s <= 0 or max_gap_s < 0:
            raise ValueError("the roster's rate must be positive and its gap not negative")
        self._per_s = messages_per_s
        self._max_gap = max_gap_s
        self._last_sent: float | None = None
        self._gap = 0.0  # after the last message, as long as its audience made it
        self._changed = False
        self.coalesced = 0  # changes told together with a later one

    @staticmethod
    def gap_for(audience: int, messages_per_s: float = ROSTER_MESSAGES_PER_S,
                max_gap_s: float = ROSTER_MAX_GAP_S) -> float:  # fmt: skip
        return min(max_gap_s, audience / messages_per_s)

    def changed(self) -> None:
        if self._changed:
            self.coalesced += 1
        self._changed = True

    def due(self) -> float | None:
        """When ``take`` says yes (None: nothing changed since the last message)."""
        if not self._changed:
            return None
        return 0.0 if self._last_sent is None else self._last_sent + self._gap

    def take(self, now: float, audience: int) -> bool:
        """True: tell the change now, to ``audience`` viewers (the next gap is theirs)."""
        due = self.due()
        if due is None or now < due:
            return False
        self._changed = False
        self._last_sent = now
        self._gap = self.gap_for(audience, self._per_s, self._max_gap)
        return True
