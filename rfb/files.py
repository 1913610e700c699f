"""Files both ways: the loop-side shell of session/files.py for one stream.

Uploads: a viewer's ``file_offer`` is accepted when the stream takes uploads
(``uploads=True``), the viewer may drive (and, on a ``control="exclusive"`` stream, holds
the floor: an upload is input), the file is within ``max_upload_bytes``, the viewer has
fewer than MAX_UPLOADS in progress and the application's upload handler (if any) agrees.
Its chunks then arrive as binary ``file_chunk`` messages; the viewer sends at most
FILE_WINDOW bytes ahead of the acks (``file_status`` ``progress``) the server returns as it
takes each chunk. A finished upload reaches the application as a ``file`` event in
``poll_events()`` (its bytes in ``event["data"]``), or, where the upload handler returned
a writable object, chunk by chunk into it. An upload that sends nothing for IDLE_S is
abandoned and its buffer freed; so are a leaving viewer's.

Downloads: ``send_file`` queues one immutable buffer for every viewer that listed
``files`` in hello (pdum.rfb 0.x clients list nothing and get none). Each viewer's
downloads go one at a time through a small task that sends a chunk only while the
viewer's acks keep the unacknowledged bytes under FILE_WINDOW and its link has no more
than DOWNLOAD_BACKLOG bytes queued ahead (frames come first).

Loop thread only; ``Display`` hops there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import protocol
from .access import Access
from .session import files as core
from .session.control import Floor

if TYPE_CHECKING:
    from .inputs import InputSink

# Uploads in progress on one stream hold at most this many times max_upload_bytes.
STREAM_UPLOAD_FACTOR = 4

log = logging.getLogger("rfb")
_POLL_BACKLOG_S = 0.005  # a download held back by the link's backlog looks again after this
_POLL_ACKS_S = 0.01  # held upload acks look again at the video this often
_CHUNKS_PER_TURN = 16  # download chunks sent before letting the loop run others


class FileLink(Protocol):
    """What a transport gives for files: binary messages in order with its others, and
    how many bytes wait ahead of one."""

    def send_file_bytes(self, data: bytes) -> None: ...

    def file_backlog(self) -> int: ...


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """An upload a viewer offers, as the application's upload handler is shown it."""

    client_id: str
    principal: Any
    id: int
    name: str
    mime: str
    size: int


UploadHandler = Callable[[UploadInfo], Any]


@dataclass(eq=False)
class _Peer:
    access: Access
    link: FileLink | None
    uploads: core.Uploads
    downloads: core.Downloads
    send: Callable[[str], None] | None = None
    features: frozenset[str] = frozenset()
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pump: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    ack_timer: asyncio.TimerHandle | None = None


def _name_ok(name: Any) -> bool:
    return (isinstance(name, str) and 0 < len(name) <= protocol.MAX_FILE_NAME
            and not any(c in name for c in "/\\") and name not in (".", "..")
            and all(c >= " " and c != "\x7f" for c in name))  # fmt: skip


def sanitize_name(name: str) -> str:
    """What the application is told an uploaded file is called: the browser's name
    without any directory part or control characters (never a path to trust)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c >= " " and c != "\x7f").strip()
    return base if base not in ("", ".", "..") else "upload"


class FileTransfers:
    def __init__(
        self,
        clock: Callable[[], float],
        inputs: InputSink,
        floor: Floor,
        *,
        enabled: bool = False,
        max_upload_bytes: int = core.DEFAULT_MAX_UPLOAD_BYTES,
        video_busy: Callable[[], bool] | None = None,
    ) -> None:
        self._clock = clock
        # Whether the stream's video is short of credit now (a viewer waits on its acks):
        # upload acks are then held (core.AckPacer), which slows uploads down.
        self._video_busy = video_busy or (lambda: False)
        self._inputs = inputs
        self._floor = floor
        self.enabled = enabled
        self.max_upload_bytes = max_upload_bytes
        self.handler: UploadHandler | None = None
        self._peers: dict[str, _Peer] = {}
        self._ids = 0  # download ids
        self._closed = False
        # figures (metrics()["display"]["files"])
        self.refused: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.uploads_done = 0
        self.uploads_started = 0
        self.bytes_received = 0
        self.downloads_queued = 0
        self._late_chunks = 0
        self._downloads_gone = [0, 0, 0]  # finished, dropped, bytes sent of viewers gone

    # -- viewers ---------------------------------------------------------------------------

    def open(self, client_id: str, access: Access, link: Any,
             send: Callable[[str], None] | None, features: frozenset[str]) -> None:  # fmt: skip
        """A viewer that may send files (``access``) and, with ``features`` containing
        ``files``, be sent them; ``link``: its transport (binary messages, backlog)."""
        has = callable(getattr(link, "send_file_bytes", None))
        self._peers[client_id] = _Peer(
            access, link if has else None,
            core.Uploads(max_bytes=self.max_upload_bytes, idle_s=core.IDLE_S),
            core.Downloads(idle_s=core.IDLE_S), send, features,
        )  # fmt: skip

    def listen(self, client_id: str, send: Callable[[str], None], features: frozenset[str]) -> None:
        """The viewer said later what it understands (WebRTC's hello on its data channel)."""
        peer = self._peers.get(client_id)
        if peer is not None:
            peer.send, peer.features = send, features

    def close(self, client_id: str) -> None:
        """The viewer left: its uploads are abandoned (freed), its downloads dropped."""
        peer = self._peers.pop(client_id, None)
        if peer is None:
            return
        for upload in peer.uploads.close():
            self._failed(client_id, peer, upload, core.CLOSED, tell=False)
        self._late_chunks += peer.uploads.late_chunks
        peer.downloads.close()
        gone = self._downloads_gone
        gone[0] += peer.downloads.finished
        gone[1] += peer.downloads.dropped
        gone[2] += peer.downloads.bytes_sent
        if peer.timer is not None:
            peer.timer.cancel()
        if peer.ack_timer is not None:
            peer.ack_timer.cancel()
        if peer.pump is not None:
            peer.pump.cancel()

    def shut(self) -> None:
        self._closed = True
        for client_id in list(self._peers):
            self.close(client_id)

    # -- uploads -----------------------------------------------------------------------------

    def message(self, client_id: str, msg: protocol.FileMessage) -> None:
        """A viewer's file_offer, file_cancel or file_ack. ProtocolError closes it."""
        peer = self._peers.get(client_id)
        if peer is None:
            return
        now = self._clock()
        if isinstance(msg, protocol.FileOffer):
            self._offer(client_id, peer, msg, now)
        elif isinstance(msg, protocol.FileCancel):
            if msg.download:
                peer.downloads.cancel(msg.id)
                peer.wake.set()
            else:
                upload = peer.uploads.cancel(msg.id)
                if upload is not None:
                    self._failed(client_id, peer, upload, core.CANCELLED, tell=False)
        elif isinstance(msg, protocol.FileAck):
            peer.downloads.ack(msg.id, msg.received, now)
            peer.wake.set()

    def _why_not(self, client_id: str, peer: _Peer, offer: protocol.FileOffer) -> str | None:
        if not self.enabled or self._closed:
            return core.DISABLED
        if peer.access.view_only:
            return core.VIEW_ONLY
        if not self._floor.holds(client_id):  # uploads are input: the floor's holder only
            return core.CONTROL
        if (why := peer.uploads.refusal(offer)) is not None:
            return why
        # The whole stream's uploads in memory at once: a bound whatever the number of
        # viewers (each may have MAX_UPLOADS in progress).
        reserved = sum(u.size for p in self._peers.values() for u in p.uploads.active.values())
        if reserved + offer.size > STREAM_UPLOAD_FACTOR * self.max_upload_bytes:
            return core.BUSY
        return None

    def _offer(self, client_id: str, peer: _Peer, offer: protocol.FileOffer, now: float) -> None:
        reason = self._why_not(client_id, peer, offer)
        sink = None
        info = UploadInfo(client_id, peer.access.principal, offer.id, sanitize_name(offer.name),
                          offer.mime, offer.size)  # fmt: skip
        if reason is None and self.handler is not None:
            try:
                sink = self.handler(info)
            except Exception:
                log.exception("rfb: the upload handler raised; upload refused")
                sink = False
            if sink is False:
                reason = core.REFUSED
        if reason is not None:
            peer.uploads.refuse(offer)
            self.refused[reason] += 1
            self._tell(peer, protocol.FileStatus(offer.id, "refused", reason=reason,
                                                 max_bytes=self.max_upload_bytes))  # fmt: skip
            return
        upload = peer.uploads.accept(
            protocol.FileOffer(offer.id, info.name, offer.size, offer.mime), now
        )
        if sink is not None and sink is not True:
            upload.sink = sink
            upload.buffer = None  # streamed: nothing held here
        self.uploads_started += 1
        self._tell(peer, protocol.FileStatus(offer.id, "accepted", received=0,
                                             window=protocol.FILE_WINDOW,
                                             chunk=protocol.FILE_CHUNK_MAX))  # fmt: skip
        if upload.done:  # an empty file
            self._finished(client_id, peer, upload)
        self._arm(client_id, peer)

    def chunk(self, client_id: str,
              data: bytes | bytearray | memoryview | protocol.FileChunk) -> None:  # fmt: skip
        """One binary message from a viewer: a file chunk (protocol.parse_client_binary,
        or parsed already). ProtocolError (closes that viewer) for anything else, or a
        chunk that does not fit the upload it names."""
        chunk = data if isinstance(data, protocol.FileChunk) else protocol.parse_client_binary(data)
        if not isinstance(chunk, protocol.FileChunk):
            raise protocol.ProtocolError(protocol.CLOSE_UNSUPPORTED_DATA,
                                         "binary message is not a file chunk")  # fmt: skip
        peer = self._peers.get(client_id)
        if peer is None:
            return
        upload = peer.uploads.chunk(chunk, self._clock())
        if upload is None:
            return  # late: that upload ended (counted)
        self.bytes_received += len(chunk.data)
        if upload.sink is not None:
            try:
                upload.sink.write(chunk.data)
            except Exception:
                log.exception("rfb: the upload's sink raised; upload abandoned")
                peer.uploads.cancel(upload.id)
                self._failed(client_id, peer, upload, "sink", tell=True)
                return
        if upload.done:
            self._finished(client_id, peer, upload)
            return
        ack = upload.acks.took(upload.received, self._clock(), self._video_busy())
        if ack is not None:
            self._tell(peer, protocol.FileStatus(upload.id, "progress", received=ack))
        elif peer.ack_timer is None:
            self._hold_acks(client_id, peer)

    def _hold_acks(self, client_id: str, peer: _Peer) -> None:
        """Look again shortly at acks held while the video was short of credit."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        def poll() -> None:
            peer.ack_timer = None
            if self._peers.get(client_id) is not peer:
                return
            now, busy = self._clock(), self._video_busy()
            held = False
            for upload in list(peer.uploads.active.values()):
                ack = upload.acks.poll(now, busy)
                if ack is not None:
                    self._tell(peer, protocol.FileStatus(upload.id, "progress", received=ack))
                held = held or upload.acks.pending is not None
            if held:
                peer.ack_timer = loop.call_later(_POLL_ACKS_S, poll)

        peer.ack_timer = loop.call_later(_POLL_ACKS_S, poll)

    def _finished(self, client_id: str, peer: _Peer, upload: core.Upload) -> None:
        self.uploads_done += 1
        event: dict[str, Any] = {"type": "file", "id": upload.id, "name": upload.name,
                                 "mime": upload.mime, "size": upload.size}  # fmt: skip
        if upload.sink is not None:
            _finish_sink(upload.sink, ok=True)
            event.update(data=None, streamed=True, complete=True)
        else:
            event["data"] = upload.take()
        self._tell(peer, protocol.FileStatus(upload.id, "done", received=upload.received))
        self._inputs.deliver(client_id, event, {**event, "data": None})

    def _failed(self, client_id: str, peer: _Peer, upload: core.Upload, reason: str,
                *, tell: bool = True) -> None:  # fmt: skip
        self.failed[reason] += 1
        upload.free()
        if tell:
            self._tell(peer, protocol.FileStatus(upload.id, "failed", received=upload.received,
                                                 reason=reason))  # fmt: skip
        if upload.sink is not None:  # the application was writing it: say it ended short
            _finish_sink(upload.sink, ok=False)
            event = {"type": "file", "id": upload.id, "name": upload.name, "mime": upload.mime,
                     "size": upload.size, "data": None, "streamed": True, "complete": False,
                     "error": reason}  # fmt: skip
            self._inputs.deliver(client_id, event, event)

    def _arm(self, client_id: str, peer: _Peer) -> None:
        """A timer for the first upload that may go idle."""
        if peer.timer is not None:
            return
        due = peer.uploads.next_deadline()
        if due is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        def fire() -> None:
            peer.timer = None
            if self._peers.get(client_id) is not peer:
                return
            for upload in peer.uploads.expire(self._clock()):
                self._failed(client_id, peer, upload, core.TIMEOUT)
            self._arm(client_id, peer)

        peer.timer = loop.call_later(max(0.0, due - self._clock()) + 0.01, fire)

    def _tell(self, peer: _Peer, msg: protocol.FileStatus | protocol.FileOfferOut) -> None:
        if peer.send is not None:
            peer.send(msg.encode())

    @property
    def held_bytes(self) -> int:
        """Bytes of uploads in progress held in memory (streamed ones hold none)."""
        return sum(p.uploads.held_bytes for p in self._peers.values())

    # -- downloads ---------------------------------------------------------------------------

    def send_file(self, name: str, data: Any, client_id: str | None = None,
                  mime: str | None = None) -> int:  # fmt: skip
        """Queue ``data`` for one viewer or every viewer that takes files; how many."""
        if not _name_ok(name):
            raise ValueError(
                f"file name {name!r} must be 1-{protocol.MAX_FILE_NAME} characters, "
                "without '/', '\\\\' or control characters"
            )
        if mime is None:
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if not isinstance(mime, str) or len(mime) > protocol.MAX_MIME:
            raise ValueError(f"mime must be a string of at most {protocol.MAX_MIME} characters")
        if isinstance(data, str):
            raise TypeError("send_file takes bytes (or a bytes-like object), not str")
        view = memoryview(data if isinstance(data, bytes) else bytes(data)).cast("B")
        if client_id is not None:
            if client_id not in self._peers:
                raise KeyError(f"no viewer {client_id!r} on this stream")
            targets = [client_id]
        else:
            targets = list(self._peers)
        self._ids = (self._ids + 1) % (protocol.MAX_FILE_ID + 1)
        sent = 0
        now = self._clock()
        for cid in targets:
            peer = self._peers[cid]
            if protocol.FEATURE_FILES not in peer.features or peer.link is None:
                continue
            if peer.downloads.add(self._ids, name, mime, view, now) is None:
                continue
            sent += 1
            self.downloads_queued += 1
            peer.wake.set()
            if peer.pump is None or peer.pump.done():
                peer.pump = asyncio.get_running_loop().create_task(
                    self._pump(cid, peer), name=f"rfb-files-{cid}"
                )
        return sent

    async def _pump(self, client_id: str, peer: _Peer) -> None:
        """Send this viewer's downloads, paced by its acks and its link's backlog."""
        link, downloads = peer.link, peer.downloads
        assert link is not None
        turn = 0
        while downloads.current is not None and self._peers.get(client_id) is peer:
            now = self._clock()
            if downloads.expire(now) is not None:
                continue
            backlog = link.file_backlog()
            step = downloads.next(now, backlog)
            if isinstance(step, core.Offer):
                d = step.download
                self._tell(peer, protocol.FileOfferOut(d.id, d.name, d.size, d.mime))
            elif isinstance(step, core.Chunk):
                header = protocol.FileChunkHeader(step.download.id, step.offset)
                link.send_file_bytes(header.pack(step.data))
                turn += 1
                if turn % _CHUNKS_PER_TURN == 0:
                    await asyncio.sleep(0)
            elif downloads.waiting_for_link(backlog):
                await asyncio.sleep(_POLL_BACKLOG_S)
            else:
                peer.wake.clear()
                due = downloads.next_deadline()
                wait = None if due is None else max(0.0, due - now) + 0.01
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await peer.wake.wait()

    # -- figures -----------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        peers = self._peers.values()
        gone = self._downloads_gone
        return {
            "uploads": self.enabled,
            "max_upload_bytes": self.max_upload_bytes,
            "uploads_started": self.uploads_started,
            "uploads_done": self.uploads_done,
            "uploads_in_progress": sum(len(p.uploads.active) for p in peers),
            "uploads_refused": dict(self.refused),
            "uploads_failed": dict(self.failed),
            "late_chunks": self._late_chunks + sum(p.uploads.late_chunks for p in peers),
            "bytes_received": self.bytes_received,
            "held_bytes": self.held_bytes,
            "downloads_queued": self.downloads_queued,
            "downloads_done": gone[0] + sum(p.downloads.finished for p in peers),
            "downloads_dropped": gone[1] + sum(p.downloads.dropped for p in peers),
            "bytes_sent": gone[2] + sum(p.downloads.bytes_sent for p in peers),
        }


def _finish_sink(sink: Any, *, ok: bool) -> None:
    """Close the application's sink (``abort()`` first where it has one and the upload
    ended short)."""
    try:
        if not ok and callable(getattr(sink, "abort", None)):
            sink.abort()
        elif callable(getattr(sink, "close", None)):
            sink.close()
    except Exception:
        log.exception("rfb: closing an upload's sink raised")
