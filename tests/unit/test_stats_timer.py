"""StatsTimer (rfb/stats_timer.py): every viewer's stats message about once a second,
from one timer for the stream, on a real event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from rfb.stats_timer import StatsTimer


async def test_every_viewer_once_an_interval_from_one_timer() -> None:
    loop = asyncio.get_running_loop()
    timers = 0
    call_later = loop.call_later

    def counted(*args: Any) -> asyncio.TimerHandle:
        nonlocal timers
        timers += 1
        return call_later(*args)

    loop.call_later = counted  # type: ignore[method-assign, assignment]
    try:
        timer = StatsTimer(time.monotonic, interval=0.1, slack=0.01)
        sent: dict[str, int] = {}

        def sender(vid: str) -> Callable[[], None]:
            return lambda: sent.__setitem__(vid, sent.get(vid, 0) + 1)

        for i in range(50):  # joining together: due together
            timer.add(f"v{i}", sender(f"v{i}"))
        await asyncio.sleep(0.35)
        timer.close()
    finally:
        del loop.call_later
    assert len(sent) == 50
    assert set(sent.values()) <= {2, 3, 4} and min(sent.values()) >= 2  # 0.1, 0.2, 0.3 s
    # One timer a round for all of them (a few rounds), not one a viewer a round (150).
    assert timers <= 6


async def test_a_discarded_viewer_is_sent_nothing_more_and_the_last_stops_the_timer() -> None:
    timer = StatsTimer(time.monotonic, interval=0.05, slack=0.0)
    sent: list[str] = []
    timer.add("a", lambda: sent.append("a"))
    timer.add("b", lambda: sent.append("b"))
    await asyncio.sleep(0.07)
    timer.discard("a")
    count_a = sent.count("a")
    await asyncio.sleep(0.12)
    assert sent.count("a") == count_a and sent.count("b") >= 2
    timer.discard("b")
    assert timer._timer is None and len(timer) == 0
    before = len(sent)
    await asyncio.sleep(0.08)
    assert len(sent) == before


async def test_one_failing_send_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    timer = StatsTimer(time.monotonic, interval=0.03, slack=0.0)
    sent: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    timer.add("bad", broken)
    timer.add("good", lambda: sent.append("good"))
    await asyncio.sleep(0.1)
    timer.close()
    assert sent.count("good") >= 2
    assert "stats for bad failed" in caplog.text
