"""GroupPump (rfb/pump.py): one group's encodes on its own thread, their outcome handed
back to the loop. Through a real Hub and real encoders on small frames, no sockets: an
encode that raises costs that frame only (the next comes from a rebuilt encoder), a wake
is answered at once, and a pump cancelled mid-encode closes its encoder only after that
encode."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from rfb import encoders, protocol

from support.clock import Clock
from support.links import KeepingLink
from support.small_hub import small_frame, small_hub, until


class Flaky:
    """Wraps an encoder; raises on the encodes the test names, records the threads."""

    def __init__(self, inner: Any, log: dict[str, Any]) -> None:
        self.inner, self.log = inner, log
        self.name = getattr(inner, "name", "flaky")
        self.accepts_device = False

    def encode(self, pixels: Any, keyframe: bool, timestamp_us: int) -> Any:
        self.log["encodes"] += 1
        self.log["threads"].add(threading.get_ident())
        if self.log["encodes"] in self.log["fail_on"]:
            raise RuntimeError("encoder broke")
        time.sleep(self.log["slow_s"])
        picture = self.inner.encode(pixels, keyframe, timestamp_us)
        self.log["finished"] += 1
        return picture

    def close(self) -> None:
        self.log["closed_after"].append(self.log["finished"])
        self.inner.close()


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    log: dict[str, Any] = {"encodes": 0, "fail_on": set(), "threads": set(), "slow_s": 0.0,
                           "created": 0, "finished": 0, "closed_after": []}  # fmt: skip
    real = encoders.create

    def create(*args: Any, **kwargs: Any) -> Any:
        log["created"] += 1
        return Flaky(real(*args, **kwargs), log)

    monkeypatch.setattr(encoders, "create", create)
    return log


async def test_an_encode_that_raises_costs_that_frame_and_the_next_comes_from_a_new_encoder(
    flaky: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    h = small_hub(clock, adaptive=False)
    link = KeepingLink()
    h.attach(protocol.CAP_JPEG, link, max_inflight=8)
    flaky["fail_on"] = {2}
    for i in range(1, 4):
        clock.now += 0.1
        h.publish(small_frame(i, clock))
        await until(lambda n=i: flaky["encodes"] >= n)
        if i == 2:
            await asyncio.sleep(0.3)  # the pump's back-off after a failure
    await until(lambda: len(link.got) == 2)
    assert [u.frame_id for u in link.got] == [1, 3]  # frame 2's encode raised
    assert flaky["created"] == 2  # rebuilt after the failure
    assert flaky["threads"] and threading.get_ident() not in flaky["threads"]
    assert "encode failed; rebuilding" in caplog.text
    await h.aclose()


async def test_a_wake_is_answered_at_once_and_closing_waits_for_the_encode(
    flaky: dict[str, Any],
) -> None:
    clock = Clock()
    h = small_hub(clock, adaptive=False)
    link = KeepingLink()
    h.attach(protocol.CAP_JPEG, link, max_inflight=8)
    clock.now += 0.1
    h.publish(small_frame(1, clock))
    await until(lambda: len(link.got) == 1)
    await asyncio.sleep(0.05)  # the pump asleep, nothing due
    flaky["slow_s"] = 0.2
    clock.now += 0.1
    assert h._pumps and next(iter(h._pumps.values()))._waiter is not None  # asleep, no timer due
    h.publish(small_frame(2, clock))  # only the wake can start this encode
    await until(lambda: flaky["encodes"] == 2)
    assert flaky["finished"] == 1  # frame 2 still encoding
    (pump,) = h._pumps.values()
    pump._task.cancel()  # even cancelled mid-encode, the encoder is closed after it
    with pytest.raises(asyncio.CancelledError):
        await pump._task
    await until(lambda: flaky["closed_after"] != [])
    assert flaky["closed_after"] == [2]  # closed once that encode had finished, not during it
