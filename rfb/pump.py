"""GroupPump: drives one EncoderGroup from the event loop.

Each group gets one worker thread of its own. Encodes, encoder rebuilds and the
final close are all submitted to that single thread, so they run strictly one after
another: an encoder is never closed or reconfigured while it is encoding, even when
the pump is cancelled mid-encode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import cast

from . import encoders
from .encoders.base import Encoder, Picture
from .encoders.image import encode_exact_png
from .frames import Frame, to_host
from .session import EncodedUnit, EncodeJob, EncoderGroup

log = logging.getLogger("rfb")

_FAILURE_BACKOFF_S = 0.25
_EXACT_KEPT = 2  # resting frames whose exact still is kept (a late group may still ask)


class ExactStills:
    """The exact (lossless PNG) stills of one stream: made once per resting frame, whatever
    the number of groups that offer it; any group's encoder thread may ask. A second group
    asking while the first encodes waits for that picture instead of making its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[int, Picture] = OrderedDict()  # frame id -> picture
        self.encoded = 0  # pictures made
        self.reused = 0  # asked for one already made

    def picture(self, frame: Frame) -> Picture:
        with self._lock:
            picture = self._kept.get(frame.frame_id)
            if picture is not None:
                self.reused += 1
                return picture
            pixels = to_host(frame.pixels) if frame.on_device else frame.pixels
            picture = Picture(encode_exact_png(pixels), True, "image/png", frame.width,
                              frame.height)  # fmt: skip
            self._kept[frame.frame_id] = picture
            while len(self._kept) > _EXACT_KEPT:
                self._kept.popitem(last=False)
            self.encoded += 1
            return picture


class _EncodeFailed(Exception):
    """The encode raised ``exc`` (on the worker thread)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(repr(exc))
        self.exc = exc


def _settle(fut: asyncio.Future[None]) -> None:
    """Wake a sleeping pump's future, unless it is already done (woken before its timer)."""
    if not fut.done():
        fut.set_result(None)


class GroupPump:
    def __init__(
        self,
        group: EncoderGroup,
        *,
        clock: Callable[[], float],
        on_unit: Callable[[EncoderGroup, EncodedUnit], None],
        exact: ExactStills | None = None,
    ) -> None:
        self.group = group
        self._exact = exact or ExactStills()
        self._clock = clock
        self._on_unit = on_unit
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"rfb-{group.encoder_name}")
        self._encoder: Encoder | None = None  # touched only on the worker thread
        self._still: tuple[tuple[int, int], Encoder] | None = None  # (frame size, encoder)
        self._woken = False  # wake() since the pump last looked
        self._waiter: asyncio.Future[None] | None = None  # the pump asleep on it
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"rfb-pump-{group.encoder_name}"
        )

    def wake(self) -> None:
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def aclose(self) -> None:
        self._closing = True
        self.wake()
        await asyncio.shield(self._task)

    async def _sleep(self, timeout: float | None) -> None:
        """Until wake() or ``timeout``: a bare future and a timer (wait_for would make a
        task for every sleep, and its wake-up a loop turn longer)."""
        if self._woken:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _settle, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def _encoded(self, job: EncodeJob) -> None:
        """``_encode(job)`` on the worker thread; its unit is completed and delivered on the
        loop by the one callback that brings the outcome back (``_deliver``), so a unit
        waits for one turn of a busy loop, not two (a future resolved there would resume
        this task a turn later). Raises _EncodeFailed when the encode raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def run() -> None:
            try:
                outcome: object = self._encode(job)
            except Exception as exc:  # an encoder's error costs that frame; others go on
                outcome = _EncodeFailed(exc)
            except BaseException as exc:  # handed to the awaiting pump, which raises it
                outcome = exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._deliver, job, done, outcome)

        self._executor.submit(run)
        await done

    def _deliver(self, job: EncodeJob, done: asyncio.Future[None], outcome: object) -> None:
        if done.done():  # the pump was cancelled mid-encode: nothing more to do
            return
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
            return
        picture, ms = cast("tuple[Picture | None, float]", outcome)
        group = self.group
        try:
            if job.rebuild and not job.still and self._encoder is not None:
                group.encoder_name = getattr(self._encoder, "name", group.encoder_name)
            unit = group.complete(job, picture, self._clock(), ms)
            if unit is not None:
                self._on_unit(group, unit)
        except BaseException as exc:  # raised in the pump, as before
            done.set_exception(exc)
            return
        done.set_result(None)

    # -- worker thread --------------------------------------------------------------

    def _encode(self, job: EncodeJob) -> tuple[Picture | None, float]:
        t0 = time.perf_counter()
        frame = job.frame
        key = self.group.key
        if job.exact:
            return self._exact.picture(frame), (time.perf_counter() - t0) * 1000.0
        if job.still:
            encoder = self._still_encoder(frame.width, frame.height, frame.on_device)
        else:
            if job.rebuild or self._encoder is None:
                self._close_encoder()
                self._encoder = encoders.create(
                    key.capability, frame.width, frame.height, key.settings,
                    device=frame.on_device,
                )  # fmt: skip
            encoder = self._encoder
        pixels = frame.pixels
        if frame.on_device and not getattr(encoder, "accepts_device", False):
            pixels = to_host(pixels)  # image encoders: one download per group
        picture = encoder.encode(pixels, job.keyframe, frame.timestamp_us)
        return picture, (time.perf_counter() - t0) * 1000.0

    def _still_encoder(self, width: int, height: int, device: bool) -> Encoder:
        """The high-quality encoder for stills, at full size; kept while the size holds."""
        if self._still is not None and self._still[0] == (width, height):
            return self._still[1]
        self._close_still()
        key = self.group.key
        settings = replace(key.settings, still=True, scale=1.0)
        enc = encoders.create(key.capability, width, height, settings, device=device)
        self._still = ((width, height), enc)
        return enc

    def _close_still(self) -> None:
        still, self._still = self._still, None
        if still is not None:
            still[1].close()

    def _close_encoder(self) -> None:
        enc, self._encoder = self._encoder, None
        if enc is not None:
            enc.close()

    def _close_all(self) -> None:
        self._close_encoder()
        self._close_still()

    # -- event loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        group = self.group
        try:
            while not self._closing:
                self._woken = False
                now = self._clock()
                group.expire(now)
                job = group.next_job(now)
                if job is not None:
                    try:
                        await self._encoded(job)
                    except _EncodeFailed as failed:
                        log.error("rfb: %s encode failed; rebuilding", group.encoder_name,
                                  exc_info=failed.exc)  # fmt: skip
                        group.fail(job)
                        await asyncio.sleep(_FAILURE_BACKOFF_S)
                    continue
                deadline = group.next_deadline(now)
                timeout = None if deadline is None else max(0.0, deadline - now)
                await self._sleep(timeout)
        finally:
            # Queued behind any encode still running on the single worker thread.
            closed = self._executor.submit(self._close_all)
            self._executor.shutdown(wait=False)
            await asyncio.wrap_future(closed)
