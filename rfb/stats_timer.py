"""StatsTimer: every viewer's ``stats`` message, about once a second, from one timer per
stream (the schedule: session/rounds.py; why not a task per viewer: its docstring)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .session.rounds import Rounds

log = logging.getLogger("rfb")

STATS_INTERVAL_S = 1.0
# Viewers due within this of each other are told in one wake-up of the timer (so a
# message may come up to this much early): 20 wake-ups a second at most, however many watch.
STATS_SLACK_S = 0.05


class StatsTimer:
    """Calls each added viewer's ``send`` every STATS_INTERVAL_S, the first one interval
    after it was added, until it is discarded. Use it on the stream's event loop."""

    def __init__(self, clock: Callable[[], float], interval: float = STATS_INTERVAL_S,
                 slack: float = STATS_SLACK_S) -> None:  # fmt: skip
        self._clock = clock
        self._rounds: Rounds[str] = Rounds(interval, slack)
        self._sends: dict[str, Callable[[], None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None  # the due time the timer was set for

    def __len__(self) -> int:
        return len(self._sends)

    def add(self, viewer_id: str, send: Callable[[], None]) -> None:
        self._sends[viewer_id] = send
        self._rounds.add(viewer_id, self._clock())
        self._arm()

    def discard(self, viewer_id: str) -> None:
        if self._sends.pop(viewer_id, None) is not None:
            self._rounds.discard(viewer_id)
        if not self._sends:
            self.close()

    def close(self) -> None:
        """Stop the timer (viewers added later start it again)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._armed_for = None

    def _arm(self) -> None:
        due = self._rounds.next_due()
        if due is None:
            self.close()
            return
        if self._timer is not None and self._armed_for is not None and self._armed_for <= due:
            return  # already set for this one or an earlier one
        self.close()
        self._armed_for = due
        delay = max(0.0, due - self._clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = self._armed_for = None
        for viewer_id in self._rounds.take(self._clock()):
            send = self._sends.get(viewer_id)
            if send is None:
                continue
            try:
                send()
            except Exception:  # one viewer's message must not stop everyone's
                log.exception("rfb: stats for %s failed", viewer_id)
        self._arm()
