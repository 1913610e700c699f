"""Presence pointers, sans I/O: each viewer's pointer, coalesced and sent at most ``hz``
times a second to the others (the caller passes ``now`` and runs a timer at ``due``).

A viewer's newer position replaces its older one still waiting (counted in
``coalesced``); ``flush`` returns every viewer's latest, once, no sooner than ``1/hz``
after the previous flush, so a stream sends at most ``hz`` pointer messages a second
whatever the number of viewers and however fast they move.
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
