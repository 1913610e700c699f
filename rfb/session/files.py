"""Files both ways, sans I/O: one viewer's uploads (``Uploads``) and downloads
(``Downloads``). No sockets and no clock of their own: every call that needs the time
takes ``now`` (seconds); the shell (rfb/files.py) sends what they decide.

Uploads. A viewer offers a file (id, name, size, type); the shell decides whether it may
(uploads on, may drive, holds the floor, within ``max_upload_bytes``, ...) and
``Uploads.offer`` accepts it or records the refusal. Chunks must then come in order, each
exactly where the last one ended, never past the size announced. What a broken client
sends (a chunk out of order, past the size, for an id never offered, an offer reusing an
id in progress) raises ProtocolError: the shell closes that viewer only. What an honest
client may still send after the server ended an upload (a chunk in flight when it timed
out or was cancelled) is dropped and counted (``late_chunks``). An upload that has sent
nothing for ``idle_s`` is abandoned by ``expire`` and its buffer freed. The bytes held by
the uploads in progress are ``held_bytes``.

Downloads. The application's file (one immutable buffer, shared by every viewer it goes
to) is offered, then sent in chunks of FILE_CHUNK_MAX, one file at a time per viewer, in
order. A chunk goes only while fewer than ``window`` bytes are unacknowledged and the
viewer's link has at most ``max_backlog`` bytes queued (its video first): a download
fills the gaps the video leaves. A download whose viewer acknowledges nothing for
``idle_s`` is dropped.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from ..protocol import (
    CLOSE_POLICY_VIOLATION,
    FILE_CHUNK_MAX,
    FILE_WINDOW,
    FileChunk,
    FileOffer,
    ProtocolError,
)

DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024
IDLE_S = 30.0  # an upload (download) with no chunk (ack) for this long is abandoned
MAX_UPLOADS = 4  # uploads in progress per viewer
MAX_DOWNLOADS = 64  # downloads queued per viewer (more are not sent to it)
_RECENT = 64  # ended upload ids remembered, so that their late chunks are not errors
DOWNLOAD_BACKLOG = 64 * 1024  # the link's queue (frames, socket) a chunk may join

# Why an offer is refused (file_status "refused", counted by reason).
DISABLED = "disabled"  # the stream takes no uploads
VIEW_ONLY = "view_only"
CONTROL = "control"  # another viewer holds the control floor
TOO_BIG = "too_big"
BUSY = "busy"  # MAX_UPLOADS in progress already
REFUSED = "refused"  # the application's upload handler said no
# Why an accepted upload ends without the whole file (file_status "failed").
TIMEOUT = "timeout"
CLOSED = "closed"  # the viewer left
CANCELLED = "cancelled"  # the viewer cancelled it


def _bad(reason: str) -> ProtocolError:
    return ProtocolError(CLOSE_POLICY_VIOLATION, reason)


@dataclass(slots=True, eq=False)
class Upload:
    """One accepted upload. ``buffer`` gathers the bytes unless the shell streams them
    (``sink``: where the application wants them, set by the shell)."""

    id: int
    name: str
    mime: str
    size: int
    last_at: float
    received: int = 0
    buffer: bytearray | None = field(default_factory=bytearray)
    sink: Any = None
    acks: AckPacer = field(default_factory=lambda: AckPacer(ACK_HOLD_S, UPLOAD_RATE))

    @property
    def done(self) -> bool:
        return self.received == self.size

    @property
    def held(self) -> int:
        return len(self.buffer) if self.buffer is not None else 0

    def take(self) -> bytes:
        """The whole file, once done; the buffer is freed."""
        data = bytes(self.buffer or b"")
        self.buffer = None
        return data

    def free(self) -> None:
        self.buffer = None


class Uploads:
    """One viewer's uploads in progress."""

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, idle_s: float = IDLE_S,
                 max_uploads: int = MAX_UPLOADS) -> None:  # fmt: skip
        self.max_bytes = max_bytes
        self.idle_s = idle_s
        self.max_uploads = max_uploads
        self.active: dict[int, Upload] = {}
        self._ended: OrderedDict[int, None] = OrderedDict()  # recently ended or refused ids
        self.late_chunks = 0  # chunks of ended uploads, dropped

    def refusal(self, offer: FileOffer) -> str | None:
        """Why this offer cannot be taken, as far as the viewer's own uploads go (size,
        how many at once); raises ProtocolError for an id already in progress."""
        if offer.id in self.active:
            raise _bad(f"file_offer: upload {offer.id} is already in progress")
        if offer.size > self.max_bytes:
            return TOO_BIG
        if len(self.active) >= self.max_uploads:
            return BUSY
        return None

    def accept(self, offer: FileOffer, now: float) -> Upload:
        """Take the offer (after ``refusal`` said nothing and the shell agreed)."""
        self._ended.pop(offer.id, None)
        upload = Upload(offer.id, offer.name, offer.mime, offer.size, now)
        if upload.done:  # an empty file: nothing more to come
            self._end(offer.id)
        else:
            self.active[offer.id] = upload
        return upload

    def refuse(self, offer: FileOffer) -> None:
        """The offer was refused: chunks the viewer sends for it anyway are late, not
        errors (it may have started before it heard)."""
        self._end(offer.id)

    def chunk(self, chunk: FileChunk, now: float) -> Upload | None:
        """Take one chunk: its upload (``done`` once the last byte came), or None for a late
        chunk of an upload already ended (counted). ProtocolError for a chunk of an upload
        never offered, out of order, or past the size announced."""
        upload = self.active.get(chunk.id)
        if upload is None:
            if chunk.id in self._ended:
                self.late_chunks += 1
                return None
            raise _bad(f"file_chunk for unknown upload {chunk.id}")
        if chunk.offset != upload.received:
            raise _bad(
                f"file_chunk out of order: offset {chunk.offset}, expected {upload.received}"
            )
        if upload.received + len(chunk.data) > upload.size:
            raise _bad(f"file_chunk past the size announced ({upload.size} bytes)")
        upload.received += len(chunk.data)
        upload.last_at = now
        if upload.buffer is not None:
            upload.buffer += chunk.data
        if upload.done:
            self._end(upload.id)
        return upload

    def cancel(self, upload_id: int) -> Upload | None:
        """The viewer abandons an upload: it, freed (None when there was none)."""
        upload = self.active.get(upload_id)
        if upload is not None:
            self._end(upload_id)
            upload.free()
        return upload

    def expire(self, now: float) -> list[Upload]:
        """Uploads that sent nothing for ``idle_s``: ended and freed."""
        out = [u for u in self.active.values() if now - u.last_at >= self.idle_s]
        for upload in out:
            self._end(upload.id)
            upload.free()
        return out

    def next_deadline(self) -> float | None:
        """When ``expire`` may next end an upload."""
        if not self.active:
            return None
        return min(u.last_at for u in self.active.values()) + self.idle_s

    def close(self) -> list[Upload]:
        """The viewer left: every upload in progress, freed."""
        out = list(self.active.values())
        for upload in out:
            upload.free()
        self.active.clear()
        self._ended.clear()
        return out

    @property
    def held_bytes(self) -> int:
        return sum(u.held for u in self.active.values())

    def _end(self, upload_id: int) -> None:
        self.active.pop(upload_id, None)
        self._ended[upload_id] = None
        self._ended.move_to_end(upload_id)
        while len(self._ended) > _RECENT:
            self._ended.popitem(last=False)


ACK_HOLD_S = 0.25  # an upload's ack is held at most this long while the video is short
UPLOAD_RATE: float | None = None  # bytes/s one upload may go at most (acks wait for it)


class AckPacer:
    """When to acknowledge an upload's chunks: at once, unless the stream's video is short
    of credit (a viewer is waiting on its acks: its browser or its path is busy); then
    the ack is held (the newest count replacing the older) until the video has credit
    again, or for ``max_hold_s`` at most. The uploader sends no more than its window ahead
    of the acks, so holding them slows the upload down while the video needs the room,
    and never stops it (a window per ``max_hold_s`` at least)."""

    __slots__ = ("max_hold_s", "pending", "rate", "since", "start")

    def __init__(self, max_hold_s: float = ACK_HOLD_S, rate: float | None = None) -> None:
        self.max_hold_s = max_hold_s
        self.rate = rate  # bytes/s the acks let through at most (None: no cap)
        self.start: float | None = None  # the first chunk's time
        self.pending: int | None = None  # bytes taken, not yet acknowledged
        self.since = 0.0  # held since

    def took(self, received: int, now: float, busy: bool) -> int | None:
        """A chunk was taken: the count to acknowledge now, or None (held)."""
        if self.start is None:
            self.start = now
        if self.pending is None:
            if not busy and not self._early(received, now):
                return received
            self.since = now
        self.pending = received
        return self.poll(now, busy)

    def poll(self, now: float, busy: bool) -> int | None:
        """The held count, once it may go (the video has credit, or held long enough)."""
        if self.pending is None or self._early(self.pending, now):
            return None
        if busy and now - self.since < self.max_hold_s:
            return None
        received, self.pending = self.pending, None
        return received

    def _early(self, received: int, now: float) -> bool:
        """Acking ``received`` now would let the upload run faster than ``rate``."""
        return (self.rate is not None and self.start is not None
                and now < self.start + received / self.rate)  # fmt: skip

    def due(self) -> float | None:
        """When a held ack goes at the latest."""
        return None if self.pending is None else self.since + self.max_hold_s


@dataclass(slots=True, eq=False)
class Download:
    """One file on its way to one viewer; ``data`` is shared with the other viewers."""

    id: int
    name: str
    mime: str
    data: memoryview
    queued_at: float
    offered: bool = False
    sent: int = 0
    acked: int = 0
    last_at: float = 0.0  # the last ack (or the offer)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Offer:
    download: Download


@dataclass(frozen=True, slots=True)
class Chunk:
    download: Download
    offset: int
    data: memoryview


class Downloads:
    """One viewer's downloads: queued, one on its way at a time, paced by acks and by the
    link's backlog."""

    def __init__(self, *, window: int = FILE_WINDOW, chunk: int = FILE_CHUNK_MAX,
                 max_backlog: int = DOWNLOAD_BACKLOG, idle_s: float = IDLE_S,
                 max_queued: int = MAX_DOWNLOADS) -> None:  # fmt: skip
        self.window = window
        self.chunk_size = chunk
        self.max_backlog = max_backlog
        self.idle_s = idle_s
        self.max_queued = max_queued
        self.queue: deque[Download] = deque()
        self.finished = 0
        self.dropped = 0  # stalled, cancelled, or queued past max_queued
        self.bytes_sent = 0

    def add(self, download_id: int, name: str, mime: str, data: memoryview,
            now: float) -> Download | None:  # fmt: skip
        """Queue a file; None (counted in ``dropped``) when the queue is full."""
        if len(self.queue) >= self.max_queued:
            self.dropped += 1
            return None
        d = Download(download_id, name, mime, data, now)
        self.queue.append(d)
        return d

    @property
    def current(self) -> Download | None:
        return self.queue[0] if self.queue else None

    def next(self, now: float, backlog: int) -> Offer | Chunk | None:
        """What to send now: the current file's offer, its next chunk, or nothing (the
        window is full, the link is busy with frames, or nothing is queued)."""
        d = self.current
        if d is None:
            return None
        if not d.offered:
            d.offered = True
            d.last_at = now
            if d.size == 0:  # nothing to send: done once offered
                self._finish()
            return Offer(d)
        if d.sent >= d.size or d.sent - d.acked >= self.window or backlog > self.max_backlog:
            return None
        offset = d.sent
        data = d.data[offset : offset + self.chunk_size]
        d.sent += len(data)
        self.bytes_sent += len(data)
        return Chunk(d, offset, data)

    def waiting_for_link(self, backlog: int) -> bool:
        """Whether only the link's backlog holds the next chunk back (poll it again soon)."""
        d = self.current
        return (d is not None and d.offered and d.sent < d.size
                and d.sent - d.acked < self.window and backlog > self.max_backlog)  # fmt: skip

    def ack(self, download_id: int, received: int, now: float) -> bool:
        """The viewer has ``received`` bytes of the file: True when that finished it. An ack
        of a file no longer here (cancelled, stalled) is ignored; ProtocolError for one
        that claims more than was sent."""
        d = self.current
        if d is None or d.id != download_id:
            return False
        if received > d.sent:
            raise _bad(f"file_ack of {received} bytes: only {d.sent} were sent")
        if received > d.acked:
            d.acked = received
            d.last_at = now
        if d.acked == d.size:
            self._finish()
            return True
        return False

    def cancel(self, download_id: int) -> Download | None:
        for d in list(self.queue):
            if d.id == download_id:
                self.queue.remove(d)
                self.dropped += 1
                return d
        return None

    def expire(self, now: float) -> Download | None:
        """The current file, dropped, if its viewer acknowledged nothing for ``idle_s``."""
        d = self.current
        if d is not None and d.offered and now - d.last_at >= self.idle_s:
            self.queue.popleft()
            self.dropped += 1
            return d
        return None

    def next_deadline(self) -> float | None:
        d = self.current
        return d.last_at + self.idle_s if d is not None and d.offered else None

    def close(self) -> None:
        self.dropped += len(self.queue)
        self.queue.clear()

    def _finish(self) -> None:
        self.queue.popleft()
        self.finished += 1
