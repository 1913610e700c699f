"""Rounds: each member once an interval, from one timer (sans I/O: the caller's clock).

Every viewer gets a ``stats`` message about once a second. A task per viewer that sleeps
a second makes, for every viewer every second, a coroutine, a future, a timer handle and
a wake-up; with hundreds of viewers those live just long enough to be promoted to the
garbage collector's oldest generation, and each one promoted brings the next full
collection nearer (at 500 viewers one came every few seconds and held the event loop for
50-130 ms). Rounds keeps when each member is next due in one heap: its owner sets one
timer for the earliest, and when it fires takes every member due by then, give or take
``slack`` (so members due close together go in one wake-up). Each member keeps the phase
it joined with, so the messages stay spread over the interval as the joins were.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Rounds(Generic[K]):
    def __init__(self, interval: float, slack: float = 0.0) -> None:
        if interval <= 0 or slack < 0 or slack >= interval:
            raise ValueError(f"need 0 <= slack < interval, got interval={interval}, slack={slack}")
        self.interval = interval
        self.slack = slack
        self._heap: list[tuple[float, int, K]] = []  # (due, ticket, member)
        self._ticket: dict[K, int] = {}  # each member's live entry (older ones are stale)
        self._issued = 0

    def __len__(self) -> int:
        return len(self._ticket)

    def __contains__(self, key: K) -> bool:
        return key in self._ticket

    def add(self, key: K, now: float) -> None:
        """``key`` is first due one interval after ``now`` (again: from ``now`` on)."""
        self._push(key, now + self.interval)

    def discard(self, key: K) -> None:
        """``key`` is due no more (its heap entry goes stale, dropped when it comes up)."""
        self._ticket.pop(key, None)

    def next_due(self) -> float | None:
        """When the earliest member is due; None without members."""
        heap = self._heap
        while heap and self._ticket.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def take(self, now: float) -> list[K]:
        """Every member due by ``now + slack``, the earliest first, each due again an
        interval after it was due (or after ``now``, where it fell over an interval
        behind: a late timer brings each member once, not once per interval missed)."""
        out: list[K] = []
        limit = now + self.slack
        while (due := self.next_due()) is not None and due <= limit:
            _, _, key = heapq.heappop(self._heap)
            out.append(key)
            later = due + self.interval
            self._push(key, later if later > now else now + self.interval)
        return out

    def _push(self, key: K, due: float) -> None:
        self._issued += 1
        self._ticket[key] = self._issued
        heapq.heappush(self._heap, (due, self._issued, key))
        if len(self._heap) > 2 * len(self._ticket) + 64:  # many stale entries: drop them
            self._heap = [e for e in self._heap if self._ticket.get(e[2]) == e[1]]
            heapq.heapify(self._heap)
