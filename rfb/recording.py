"""MP4 recording of what a stream publishes: ``display.record(path)``.

A recording is a consumer of the stream's H.264, not a second pipeline: it joins the
hub like a viewer that is never short of credit, held on the top rung. With the
stream's own settings it lands in the same encoder group as the H.264 viewers, so an
existing group's access units are written as they are (no second encode); with none,
or with settings of its own (``bitrate``, ``crf``, ``preset``, ``fps``), the hub opens a
group for it, shared with nobody but recordings that asked the same.

The access units are Annex B, as the viewers get them; PyAV's MP4 muxer turns them into
length-prefixed samples and builds the ``avcC`` box from a template stream parsed out of
the first IDR. Presentation times are the frames' real publish times (a sparse
publisher's frames last as long as they were on screen); the last frame lasts until
stop(). The muxing runs on a thread of its own, so the event loop never waits on disk.

Sound: the stream's Opus packets (the viewers' own, taken through an AudioTap: no second
encode) go into an Opus track, placed on the same clock as the pictures (a packet's
``timestamp_us`` and a frame's publish time count on the stream's clock), from the first
sound on; a stream without sound gets no sound track (``audio=`` forces it either way).

What a recording leaves out: the resting-scene stills viewers get (each published frame
is in the file once, as the stream's encoder made it), and frames of another size after
the stream is resized (an MP4 track has one size; they are counted in
``frames_skipped``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import io
import logging
import queue
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import protocol
from .encoders.base import X264_PRESETS, EncoderSettings
from .hub import ConsumerLink
from .session import EncodedUnit, Viewer
from .session.audio import Packet
from .session.links import LinkKind

if TYPE_CHECKING:
    from .audio_tap import AudioTap
    from .stream import Stream, ViewerSession

__all__ = ["CLOCK_HZ", "Recording", "Timeline"]

log = logging.getLogger("rfb")

CLOCK_HZ = 90_000  # the MPEG clock: the file's time base is 1/90000 s
SUFFIXES = (".mp4", ".m4v", ".mov")
_STOP_TIMEOUT_S = 30.0
AUDIO_HZ = 48_000  # the sound track's time base: 1/48000 s (Opus's rate)
AUDIO_FRAME = 960  # one Opus packet: 20 ms
AUDIO_WAIT_S = 0.5  # the file's tracks wait this long after the first picture for sound
MAX_SILENCE_FILL = 30_000  # pauses in the sound up to 10 min are filled with silence


class Timeline:
    """Presentation times of a recording's units, in 1/CLOCK_HZ s from its start.

    A new frame is placed at the time it was published (never before the recording
    began); a unit of a frame already written (an IDR re-made of the resting frame for a
    viewer that joined) at the time it arrived. Times grow strictly.
    """

    def __init__(self, start: float) -> None:
        self.start = start
        self.last_pts = -1
        self._last_frame_id: int | None = None

    def pts(self, frame_id: int, published_at: float, now: float) -> int:
        at = published_at if frame_id != self._last_frame_id else now
        pts = max(self.last_pts + 1, round((max(at, self.start) - self.start) * CLOCK_HZ))
        self.last_pts, self._last_frame_id = pts, frame_id
        return pts

    def end(self, now: float, fps: float) -> int:
        """Where the file ends when stopped at ``now``: the last frame stays on screen
        until then (at least one frame interval)."""
        if self.last_pts < 0:
            return 0
        return max(self.last_pts + round(CLOCK_HZ / fps), round((now - self.start) * CLOCK_HZ))


def check_path(path: str | Path) -> Path:
    """The file to record to, or an error that says what is wrong with it."""
    p = Path(path).expanduser()
    if p.suffix.lower() not in SUFFIXES:
        raise ValueError(f"a recording is an MP4 file: {str(p)!r} should end in .mp4 "
                         f"(or {', '.join(SUFFIXES[1:])})")  # fmt: skip
    if p.is_dir():
        raise IsADirectoryError(f"cannot record to {str(p)!r}: it is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(
            f"cannot record to {str(p)!r}: folder {str(parent)!r} does not exist"
        )
    return p


def recording_settings(
    top: EncoderSettings,
    *,
    fps: float | None,
    bitrate: int | None,
    crf: int | None,
    preset: str | None,
) -> EncoderSettings | None:
    """The recording's own encoder settings, or None to share the stream's top rung."""
    if bitrate is not None and crf is not None:
        raise ValueError("record(): pass bitrate or crf, not both")
    if bitrate is not None and bitrate < 10_000:
        raise ValueError(f"record(): bitrate is bits per second, at least 10000 (got {bitrate})")
    if crf is not None and not 0 <= crf <= 51:
        raise ValueError(f"record(): crf must be 0..51 (got {crf})")
    if preset is not None and preset not in X264_PRESETS:
        raise ValueError(f"record(): preset must be one of {X264_PRESETS} (got {preset!r})")
    if fps is not None and not fps > 0:
        raise ValueError(f"record(): fps must be positive (got {fps})")
    own = dataclasses.replace(
        top,
        fps=top.fps if fps is None else float(fps),
        bitrate=top.bitrate if bitrate is None else bitrate,
        bitrate_scale=top.bitrate_scale if bitrate is None else 1.0,
        crf=crf,
        preset=top.preset if preset is None else preset,
    )
    return None if own == top else own


class _Mp4Writer:
    """Muxes the video's (Annex B access unit, keyframe, pts) and the sound's (Opus
    packet, pts, channels) into the container on its thread.

    A video packet is written once the next one arrives, so its duration is known. The
    tracks are set when the file's header is written: at the first picture, or up to
    AUDIO_WAIT_S after it where a sound track may come (``audio`` not False), so that the
    sound of a stream whose sound and pictures start together is in; until then what
    comes is held. After that, sound for a file without a sound track is left out."""

    def __init__(self, av: Any, container: Any, path: Path, audio: bool | None = None,
                 on_no_audio: Any = None) -> None:  # fmt: skip
        self._av = av
        self._container = container
        self._path = path
        self._audio = audio  # True: a sound track whatever comes; None: if sound comes
        self._on_no_audio = on_no_audio  # called (on this thread) when there is none
        self._queue: queue.SimpleQueue[tuple[Any, ...] | int] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.samples = 0
        self.audio_packets = 0  # sound packets written (silence filled in included)
        self.audio_skipped = 0  # sound packets left out (no sound track, or out of order)
        self.audio_start_pts: int | None = None  # the sound's first pts (1/AUDIO_HZ)
        self._thread = threading.Thread(target=self._run, name="rfb-record", daemon=True)
        self._thread.start()

    def put(self, data: bytes, keyframe: bool, pts: int) -> None:
        self._queue.put(("v", data, keyframe, pts))

    def put_audio(self, data: bytes, pts: int, channels: int) -> None:
        """One Opus packet of 20 ms, ``pts`` in 1/AUDIO_HZ s from the recording's start."""
        self._queue.put(("a", data, pts, channels))

    def finish(self, end_pts: int) -> None:
        self._queue.put(end_pts)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _packet(self, stream: Any, data: bytes, keyframe: bool, pts: int) -> Any:
        pkt = self._av.Packet(data)
        pkt.pts = pkt.dts = pts  # no B-frames: decode order is presentation order
        pkt.time_base = Fraction(1, CLOCK_HZ)
        pkt.is_keyframe = keyframe
        pkt.stream = stream
        return pkt

    def _run(self) -> None:
        self._video: Any = None
        self._sound: Any = None
        self._held: Any = None
        self._template: Any = None
        self._audio_end = 0  # where the sound track goes on (1/AUDIO_HZ)
        self._silence: dict[int, bytes] = {}
        header = False
        pending: list[tuple[Any, ...]] = []
        first_video_at: float | None = None
        try:
            while True:
                if header or first_video_at is None:
                    item = self._queue.get()
                else:
                    wait = first_video_at + AUDIO_WAIT_S - time.monotonic()
                    try:
                        item = self._queue.get(timeout=max(wait, 0.0))
                    except queue.Empty:
                        item = None
                if not header:
                    if isinstance(item, tuple):
                        pending.append(item)
                        if item[0] == "v" and first_video_at is None:
                            first_video_at = time.monotonic()
                    has_audio = any(p[0] == "a" for p in pending)
                    if isinstance(item, int) or (first_video_at is not None and (
                            item is None or has_audio or self._audio is False)):  # fmt: skip
                        self._open_tracks(pending)
                        header = True
                        for p in pending:
                            self._write(p)
                        pending = []
                    if not isinstance(item, int):
                        continue
                elif isinstance(item, tuple):
                    self._write(item)
                    continue
                assert isinstance(item, int)
                if self._held is not None:
                    self._held.duration = max(1, item - self._held.pts)
                    self._container.mux(self._held)
                    self.samples += 1
                break
        except BaseException as exc:  # kept for stop() to raise; the stream goes on
            self.error = exc
            log.error("rfb: recording to %s failed: %s", self._path, exc)
            while not isinstance(self._queue.get(), int):
                pass  # until stop(): the recording takes nothing more meanwhile
        finally:
            if self._template is not None:
                self._template.close()
            self._close(self._video is not None or self._sound is not None)

    def _open_tracks(self, pending: list[tuple[Any, ...]]) -> None:
        """The file's tracks, from what came first: the video's from its first IDR, the
        sound's (Opus, 48 kHz, the first packet's channels) where sound came or is asked."""
        video = next((p for p in pending if p[0] == "v"), None)
        sound = next((p for p in pending if p[0] == "a"), None)
        if video is not None:
            # The stream's parameters (and avcC) from the first IDR itself.
            self._template = self._av.open(io.BytesIO(video[1]), format="h264")
            self._video = self._container.add_stream_from_template(self._template.streams.video[0])
            self._video.time_base = Fraction(1, CLOCK_HZ)
        if sound is not None or (self._audio and video is not None):
            channels = sound[3] if sound is not None else 2
            # An Opus track; PyAV opens a libopus encoder for it that encodes nothing: it
            # only gives the OpusHead (pre-skip of rfb's low-delay encoder) for the file.
            s = self._container.add_stream("libopus", rate=AUDIO_HZ)
            s.layout = "stereo" if channels == 2 else "mono"
            s.format = "flt"
            s.codec_context.options = {"application": "lowdelay", "frame_duration": "20"}
            s.time_base = Fraction(1, AUDIO_HZ)
            self._sound = s
        elif self._on_no_audio is not None:
            self._on_no_audio()

    def _write(self, item: tuple[Any, ...]) -> None:
        if item[0] == "v":
            _, data, keyframe, pts = item
            if self._video is None:
                return
            pkt = self._packet(self._video, data, keyframe, pts)
            if self._held is not None:
                self._held.duration = pkt.pts - self._held.pts
                self._container.mux(self._held)
                self.samples += 1
            self._held = pkt
            return
        _, data, pts, channels = item
        if self._sound is None:
            self.audio_skipped += 1
            return
        if self.audio_start_pts is None:
            self.audio_start_pts = self._audio_end = pts
        elif pts < self._audio_end - AUDIO_FRAME // 2:
            self.audio_skipped += 1  # overlaps what is written (the timeline restarted)
            return
        # A pause in the sound: silence in the track, so that what follows stays in time.
        gap = (pts - self._audio_end) // AUDIO_FRAME
        if 0 < gap <= MAX_SILENCE_FILL:
            for _ in range(gap):
                self._mux_audio(self._silent(channels), self._audio_end)
        pts = max(pts, self._audio_end) if gap <= MAX_SILENCE_FILL else pts
        self._mux_audio(data, pts)

    def _mux_audio(self, data: bytes, pts: int) -> None:
        pkt = self._av.Packet(data)
        pkt.pts = pkt.dts = pts
        pkt.duration = AUDIO_FRAME
        pkt.time_base = Fraction(1, AUDIO_HZ)
        pkt.stream = self._sound
        self._container.mux(pkt)
        self._audio_end = pts + AUDIO_FRAME
        self.audio_packets += 1

    def _silent(self, channels: int) -> bytes:
        """20 ms of silence as Opus (encoded once per recording: no sound is re-encoded)."""
        if channels not in self._silence:
            import numpy as np

            from .encoders.opus import OpusEncoder

            enc = OpusEncoder(channels)
            self._silence[channels] = enc.encode(np.zeros((AUDIO_FRAME, channels), np.float32))
            enc.close()
        return self._silence[channels]

    def _close(self, has_stream: bool) -> None:
        try:
            self._container.close()
        except Exception as exc:
            if self.error is None and has_stream:
                self.error = exc
        if not has_stream:  # nothing was published: no file rather than a broken one
            with contextlib.suppress(OSError):
                self._path.unlink()


class Recording:
    """An MP4 file being written of what a stream publishes. From ``display.record()``.

    ``await rec.stop()`` (or ``aclose()``, or leaving ``async with``) finishes the file;
    ``rec.close()`` does so from another thread (after ``serve_in_thread()``). Closing the
    display or its server stops its recordings too. Figures: ``frames_written``,
    ``frames_skipped`` (frames of another size after a resize), ``audio_packets`` (Opus
    packets in the sound track), ``shared_encoder``
    (whether it started on an encoder viewers were already using).
    """

    def __init__(
        self,
        stream: Stream,
        path: str | Path,
        *,
        fps: float | None = None,
        bitrate: int | None = None,
        crf: int | None = None,
        preset: str | None = None,
        audio: bool | None = None,
    ) -> None:
        from .encoders.x264 import load_av

        av = load_av()  # EncoderUnavailable (naming the h264 extra) before anything starts
        self.path = check_path(path)
        if stream.closed:
            raise RuntimeError(f"record() on a closed stream ({stream.name!r})")
        if stream.loop is None:
            raise RuntimeError(
                f"record() before stream {stream.name!r} is served: start its server first"
            )
        top = stream.hub.ladder(protocol.CAP_H264)[0]
        self.settings = recording_settings(top, fps=fps, bitrate=bitrate, crf=crf, preset=preset)
        self.fps = (self.settings or top).fps
        self._stream = stream
        try:
            container = av.open(str(self.path), mode="w")
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise type(exc)(exc.errno, f"cannot record to {str(self.path)!r}: {why}") from exc
        if audio not in (None, True, False):
            raise TypeError(f"record(): audio is True, False or None (auto), got {audio!r}")
        if audio:
            from .encoders import opus

            if (reason := opus.unavailable_reason()) is not None:
                container.close()
                with contextlib.suppress(OSError):
                    self.path.unlink()
                from .encoders import EncoderUnavailable

                raise EncoderUnavailable(reason)
        self.audio = audio
        self._audio_tap: AudioTap | None = None
        self._start_us = 0  # the recording's start on the stream's now_us() clock
        self._writer = _Mp4Writer(av, container, self.path, audio,
                                  on_no_audio=self._no_audio)  # fmt: skip
        self.frames_written = 0
        self.frames_skipped = 0
        self.shared_encoder = False
        self._size: tuple[int, int] | None = None
        self._viewer: Viewer | None = None
        self._session: ViewerSession | None = None
        self._timeline: Timeline | None = None
        self._stopping: asyncio.Task[None] | None = None
        try:
            stream.call_on_loop(self._attach)
        except BaseException:
            self._writer.finish(0)
            self._writer.join(_STOP_TIMEOUT_S)
            raise

    # -- on the event loop ----------------------------------------------------------------

    def _attach(self) -> None:
        stream, hub = self._stream, self._stream.hub
        if stream.closed:
            raise RuntimeError(f"record() on a closed stream ({stream.name!r})")
        self._timeline = Timeline(stream.clock())
        self._start_us = round((self._timeline.start - stream.monotonic_origin_s) * 1e6)
        before = {id(g) for g in hub.live_groups()}
        self._session = stream.open_viewer(
            LinkKind.RECORDING, ConsumerLink(LinkKind.RECORDING, hub, self._take), None,
            max_inflight=8, settings=self.settings, adaptive=False, takes_stills=False,
        )  # fmt: skip
        self._viewer = self._session.viewer
        group = hub.group_of(self._viewer.id)
        self.shared_encoder = group is not None and id(group) in before
        stream.recordings.add(self)
        if self.audio is not False:
            from .audio_tap import AudioTap
            from .encoders import opus

            if opus.unavailable_reason() is None:  # no PyAV libopus: no sound track
                self._audio_tap = AudioTap(stream, "recording", self._take_audio)
                self._audio_tap.open()

    def _take(self, viewer: Viewer, seq: int, unit: EncodedUnit) -> None:
        if self._stopping is not None or self._timeline is None:
            return
        if self._writer.error is not None:
            if self._session is not None:
                self._session.close()
            return
        size = (unit.width, unit.height)
        if self._size is None:
            self._size = size
        elif size != self._size:
            if not self.frames_skipped:
                log.warning("rfb: the stream is now %dx%d; recording %s stays %dx%d and "
                            "leaves these frames out", *size, self.path, *self._size)  # fmt: skip
            self.frames_skipped += 1
            return
        now = self._stream.clock()
        pts = self._timeline.pts(unit.frame_id, unit.published_at, now)
        self._writer.put(unit.data, unit.keyframe, pts)
        self.frames_written += 1

    def _take_audio(self, packet: Packet) -> None:
        """One Opus packet of the stream's sound (on the loop): the same bytes the viewers
        get, placed on the file's clock (the sound's timestamps and the frames' publish
        times count on the same clock)."""
        if self._stopping is not None or self._writer.error is not None:
            return
        pts = (packet.timestamp_us - self._start_us) * AUDIO_HZ // 1_000_000
        if pts < 0:
            return  # sound from before the recording began
        self._writer.put_audio(packet.data, pts, packet.channels)

    def _no_audio(self) -> None:
        """The file has no sound track (on the writer's thread): stop taking the sound."""
        loop = self._stream.loop
        if self._audio_tap is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._audio_tap.close)

    @property
    def audio_packets(self) -> int:
        """Opus packets written to the sound track (with the silence filled in pauses)."""
        return self._writer.audio_packets

    @property
    def recording(self) -> bool:
        return self._stopping is None

    async def stop(self) -> None:
        """Stop taking frames and finish the file (idempotent). Raises what writing hit."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop())
        await asyncio.shield(self._stopping)
        if self._writer.error is not None:
            raise self._writer.error

    aclose = stop

    async def _stop(self) -> None:
        stream = self._stream
        closing = self._session.close() if self._session is not None else []
        if self._audio_tap is not None:
            self._audio_tap.close()
        end = self._timeline.end(stream.clock(), self.fps) if self._timeline else 0
        self._writer.finish(end)
        await asyncio.get_running_loop().run_in_executor(None, self._writer.join, _STOP_TIMEOUT_S)
        await asyncio.gather(*closing, return_exceptions=True)  # its own encoder, if any
        stream.recordings.discard(self)
        log.info("rfb: recorded %d frames to %s", self._writer.samples, self.path)

    def close(self, timeout: float = _STOP_TIMEOUT_S) -> None:
        """stop() for code outside the event loop; blocks until the file is finished."""
        loop = self._stream.loop
        if loop is None or loop.is_closed():
            return
        if self._stream.on_loop_thread:
            raise RuntimeError("rec.close() on the event loop's own thread: await rec.stop()")
        future = asyncio.run_coroutine_threadsafe(self.stop(), loop)
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            why = f"the recording to {self.path} did not finish in {timeout} s"
            raise TimeoutError(why) from None

    async def __aenter__(self) -> Recording:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "recording" if self.recording else "stopped"
        return f"<rfb.Recording {str(self.path)!r} {state}, {self.frames_written} frames>"
