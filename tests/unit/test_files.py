"""FileTransfers (rfb/files.py) with a fake link on a fake clock, no sockets: who may
upload (view-only, the exclusive floor's holder only, the application's handler), a
finished upload as a ``file`` event (recorded without its bytes), a streamed one into the
application's sink, and downloads only to viewers that announced ``files``, paced by the
link's backlog and the viewer's acks."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest

from rfb import protocol
from rfb.access import Access
from rfb.files import FileTransfers, UploadInfo, sanitize_name
from rfb.inputs import InputSink
from rfb.protocol import FileAck, FileChunkHeader, FileOffer, ProtocolError
from rfb.session.control import EXCLUSIVE, SHARED, Floor

from support.clock import Clock


class Link:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.backlog = 0

    def send_file_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    def file_backlog(self) -> int:
        return self.backlog


def setup(mode: str = SHARED, **kw: Any) -> tuple[FileTransfers, InputSink, dict, dict]:
    clock = Clock()
    floor = Floor(mode)
    inputs = InputSink(clock, clock.us, rate=None, floor=floor, record=True)
    files = FileTransfers(clock, inputs, floor, **kw)
    said: dict[str, list[dict]] = {}
    links: dict[str, Link] = {}
    for cid, access, features in (("a", Access("alice"), frozenset({"files"})),
                                  ("b", Access("bob"), frozenset()),
                                  ("v", Access("vera", view_only=True), frozenset({"files"}))):  # fmt: skip
        inputs.open(cid, access)
        links[cid] = Link()
        said[cid] = []
        files.open(cid, access, links[cid], lambda t, c=cid: said[c].append(json.loads(t)),
                   features)  # fmt: skip
    return files, inputs, said, links


def test_who_may_upload_and_why_not() -> None:
    files, _, said, _ = setup(EXCLUSIVE, enabled=True, max_upload_bytes=100)
    files._floor.give("a", 0.0)
    files.message("a", FileOffer(1, "x", 101))
    files.message("v", FileOffer(1, "x", 10))
    files.message("b", FileOffer(1, "x", 10))  # a holds the floor
    files.message("a", FileOffer(2, "x", 10))
    assert [m.get("reason", m["status"]) for c in "avb" for m in said[c]] == [
        "too_big", "accepted", "view_only", "control"]  # fmt: skip
    assert files.refused == {"too_big": 1, "view_only": 1, "control": 1}
    off, _, said, _ = setup()
    off.message("a", FileOffer(1, "x", 10))
    assert said["a"][0]["reason"] == "disabled"


def test_a_finished_upload_is_a_file_event_recorded_without_its_bytes() -> None:
    files, inputs, said, _ = setup(enabled=True)
    files.message("a", FileOffer(4, "..\\evil/notes.txt", 5, "text/plain"))
    files.chunk("a", FileChunkHeader(4, 0).pack(b"hel"))
    files.chunk("a", FileChunkHeader(4, 3).pack(b"lo"))
    assert [m["status"] for m in said["a"]] == ["accepted", "progress", "done"]
    (ev,) = inputs.poll()
    assert (ev.client_id, ev.principal) == ("a", "alice")
    assert ev.event == {"type": "file", "id": 4, "name": "notes.txt", "mime": "text/plain",
                        "size": 5, "data": b"hello"}  # fmt: skip
    assert inputs.recorded[-1]["event"]["data"] is None  # /recorded-events stays JSON
    json.dumps(list(inputs.recorded))


def test_the_applications_handler_refuses_or_streams() -> None:
    files, inputs, said, _ = setup(enabled=True)
    seen: list[UploadInfo] = []
    out = io.BytesIO()
    out.close = lambda: None  # type: ignore[method-assign]

    def handler(info: UploadInfo) -> Any:
        seen.append(info)
        return False if info.name == "no" else out

    files.handler = handler
    files.message("a", FileOffer(1, "no", 3))
    files.message("a", FileOffer(2, "yes", 3))
    assert files.held_bytes == 0
    files.chunk("a", FileChunkHeader(2, 0).pack(b"abc"))
    assert out.getvalue() == b"abc"
    assert [m["status"] for m in said["a"]] == ["refused", "accepted", "done"]
    assert seen[0] == UploadInfo("a", "alice", 1, "no", "", 3)
    (ev,) = inputs.poll()
    assert ev.event["streamed"] is True and ev.event["data"] is None


def test_a_chunk_that_breaks_the_offer_raises_for_the_transport_to_close() -> None:
    files, _, _, _ = setup(enabled=True)
    files.message("a", FileOffer(1, "x", 10))
    with pytest.raises(ProtocolError) as err:
        files.chunk("a", FileChunkHeader(1, 5).pack(b"x"))
    assert err.value.close_code == protocol.CLOSE_POLICY_VIOLATION


def test_names_keep_no_directory_part() -> None:
    assert sanitize_name("../../etc/passwd") == "passwd"
    assert sanitize_name("C:\\Users\\me\\a.csv") == "a.csv"
    assert sanitize_name("..") == "upload" and sanitize_name("a\x00b") == "ab"


async def test_downloads_go_to_viewers_that_take_files_paced_by_backlog_and_acks() -> None:
    files, _, said, links = setup()
    data = bytes(range(256)) * 2000  # 512000 bytes: more than the window
    # a and v (view-only viewers receive files too); b did not announce files
    assert files.send_file("out.bin", data) == 2
    assert not said["b"] and not links["b"].sent
    await asyncio.sleep(0.05)
    a = links["a"]
    assert said["a"][0] == {"type": "file_offer", "id": 1, "name": "out.bin",
                            "size": len(data), "mime": "application/octet-stream"}  # fmt: skip
    assert sum(len(protocol.unpack_envelope(m)[1]) for m in a.sent) == protocol.FILE_WINDOW
    a.backlog = 10**6  # the link is busy with frames: nothing more even after an ack
    files.message("a", FileAck(1, protocol.FILE_WINDOW))
    await asyncio.sleep(0.05)
    assert len(a.sent) == protocol.FILE_WINDOW // protocol.FILE_CHUNK_MAX
    a.backlog = 0
    await asyncio.sleep(0.05)
    assert len(a.sent) == 2 * protocol.FILE_WINDOW // protocol.FILE_CHUNK_MAX  # a window more
    files.message("a", FileAck(1, 2 * protocol.FILE_WINDOW))
    await asyncio.sleep(0.05)
    got = b"".join(protocol.unpack_envelope(m)[1] for m in a.sent)
    assert got == data
    files.message("a", FileAck(1, len(data)))
    files.shut()


def test_the_streams_uploads_in_memory_are_bounded_whatever_the_viewers() -> None:
    files, inputs, said, _ = setup(enabled=True, max_upload_bytes=100)
    inputs.open("c", Access("carol"))
    said["c"] = []
    files.open("c", Access("carol"), Link(), lambda t: said["c"].append(json.loads(t)),
               frozenset({"files"}))  # fmt: skip
    for k in range(1, 4):  # a: three uploads of 100 bytes in progress
        files.message("a", FileOffer(k, "x", 100))
    files.message("c", FileOffer(1, "y", 100))  # 400 of 4 x 100: still fits
    files.message("c", FileOffer(2, "y", 1))  # one byte over the stream's bound
    statuses = [m.get("reason", m["status"]) for m in said["a"] + said["c"]]
    assert statuses == ["accepted"] * 4 + ["busy"]
