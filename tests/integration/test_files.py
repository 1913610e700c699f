"""Files both ways over a real WebSocket (rfb/files.py): uploads arrive as ``file``
events or stream into the application's sink, are refused with a reason, close only a
sender that breaks its offer, and leave nothing behind when abandoned; ``send_file``
reaches clients that listed ``files`` and no others. (Sans I/O:
tests/unit/session/test_files.py; in Chromium: tests/e2e/test_files.py.)"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import io
import json
import tracemalloc
from typing import Any

import aiohttp
import pytest

from rfb import client, protocol
from rfb.protocol import FILE_CHUNK_MAX, FileChunkHeader
from rfb.session import files as core

JPEG = (protocol.CAP_JPEG,)
MB = 1024 * 1024


async def next_text(v: client.Viewer, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next control message of ``kind`` (frames on the way are acked and dropped)."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await v.ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                if data["type"] == kind:
                    return data
            elif msg.type == aiohttp.WSMsgType.BINARY:
                header, _ = protocol.unpack_envelope(msg.data)
                if "seq" in header:
                    await v.ack(int(header["seq"]))
            else:
                raise ConnectionError(f"closed: {msg.type.name} {msg.data} {msg.extra}")


async def offer(v: client.Viewer, upload_id: int, size: int, name: str = "a.bin") -> dict:
    await v.send({"type": "file_offer", "id": upload_id, "name": name, "size": size,
                  "mime": "application/octet-stream"})  # fmt: skip
    return await next_text(v, "file_status")


async def upload(v: client.Viewer, upload_id: int, data: bytes, window: int) -> dict:
    """Send ``data`` in chunks, at most ``window`` bytes ahead of the acks; the last status."""
    sent = acked = 0
    while acked < len(data):
        while sent < len(data) and sent - acked < window:
            chunk = data[sent : sent + FILE_CHUNK_MAX]
            await v.ws.send_bytes(FileChunkHeader(upload_id, sent).pack(chunk))
            sent += len(chunk)
        status = await next_text(v, "file_status")
        acked = status["received"]
        if status["status"] != "progress":
            return status
    return status


async def file_events(display, n: int = 1, timeout: float = 10.0) -> list:  # type: ignore[no-untyped-def]
    out: list = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            out += [e for e in display.poll_events() if e.type == "file"]
            await asyncio.sleep(0.01)
    return out


async def test_an_upload_arrives_as_a_file_event_byte_for_byte(serving) -> None:
    display, _ = await serving(160, 120, uploads=True)
    data = hashlib.shake_256(b"upload").digest(3 * MB + 123)
    async with client.connect(display.ws_url, JPEG) as v:  # no features needed to upload
        await v.next_frame()
        accepted = await offer(v, 7, len(data), "../etc/report.csv")
        assert accepted == {"type": "file_status", "id": 7, "status": "accepted", "received": 0,
                            "window": protocol.FILE_WINDOW, "chunk": FILE_CHUNK_MAX}  # fmt: skip
        done = await upload(v, 7, data, accepted["window"])
        assert done == {"type": "file_status", "id": 7, "status": "done", "received": len(data)}
        (ev,) = await file_events(display)
        assert ev.client_id == v.config["client_id"]
        assert ev.event == {"type": "file", "id": 7, "name": "report.csv",  # no directory part
                            "mime": "application/octet-stream", "size": len(data), "data": data}  # fmt: skip
    files = display.metrics()["display"]["files"]
    assert files["uploads_done"] == 1 and files["bytes_received"] == len(data)
    assert files["held_bytes"] == 0


@pytest.mark.parametrize(
    ("options", "view_only", "reason"),
    [({}, False, "disabled"), ({"uploads": True, "max_upload_bytes": 1000}, False, "too_big"),
     ({"uploads": True}, True, "view_only"), ({"uploads": True, "control": "exclusive"}, False,
                                              "control")],
)  # fmt: skip
async def test_offers_the_stream_may_not_take_are_refused_with_a_reason(
    serving, options: dict, view_only: bool, reason: str
) -> None:
    display, _ = await serving(160, 120, **options)
    async with client.connect(display.ws_url, JPEG, view_only=view_only) as v:
        await v.next_frame()
        status = await offer(v, 1, 5000)
        assert status["status"] == "refused" and status["reason"] == reason
        assert status["max_bytes"] == display.options.max_upload_bytes
        # A chunk it sent before it heard is dropped, not an error.
        await v.ws.send_bytes(FileChunkHeader(1, 0).pack(b"x" * 10))
        await v.send({"type": "request_keyframe", "reason": "still here"})
        await v.next_frame()
    files = display.metrics()["display"]["files"]
    assert files["uploads_refused"] == {reason: 1} and files["late_chunks"] == 1
    assert not [e for e in display.poll_events() if e.type == "file"]


@pytest.mark.parametrize(
    ("chunk", "code", "words"),
    [
        (FileChunkHeader(1, 100).pack(b"x"), 1008, "out of order"),
        (FileChunkHeader(1, 0).pack(b"x" * 1001), 1008, "past the size"),
        (FileChunkHeader(2, 0).pack(b"x"), 1008, "unknown upload 2"),
        (FileChunkHeader(1, 0).pack(b"x" * (FILE_CHUNK_MAX + 1)), 1009, "too big"),
        (protocol.pack_envelope({"type": "file_chunk", "id": 1}, b"x"), 1008, "'offset'"),
    ],
    ids=["out of order", "past the size", "unknown id", "too large", "no offset"],
)
async def test_a_chunk_that_breaks_its_offer_closes_only_that_viewer(
    serving, chunk: bytes, code: int, words: str
) -> None:
    display, _ = await serving(160, 120, uploads=True)
    async with (
        client.connect(display.ws_url, JPEG) as good,
        client.connect(display.ws_url, JPEG) as bad,
    ):
        await good.next_frame()
        await bad.next_frame()
        assert (await offer(bad, 1, 1000))["status"] == "accepted"
        await bad.ws.send_bytes(chunk)
        got, reason = await bad.wait_closed()
        assert got == code and words in reason, (got, reason)
        for _ in range(5):
            await good.next_frame(timeout=2)
    assert display.metrics()["display"]["files"]["held_bytes"] == 0


async def test_an_abandoned_upload_is_freed_and_memory_returns_to_baseline(
    serving, monkeypatch
) -> None:
    monkeypatch.setattr(core, "IDLE_S", 0.5)
    display, _ = await serving(160, 120, pattern=None, uploads=True)
    files = display.stream.files
    async with client.connect(display.ws_url, JPEG) as v:
        await v.send({"type": "request_keyframe", "reason": "settle"})
        await asyncio.sleep(0.2)
        gc.collect()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            await offer(v, 1, 16 * MB)
            part = b"z" * (8 * MB)
            for at in range(0, len(part), FILE_CHUNK_MAX):
                await v.ws.send_bytes(FileChunkHeader(1, at).pack(part[at : at + FILE_CHUNK_MAX]))
            async with asyncio.timeout(5):
                while files.held_bytes < len(part):
                    await asyncio.sleep(0.01)
            held = tracemalloc.get_traced_memory()[0] - baseline
            assert held >= 8 * MB  # the half that came is held...
            while (failed := await next_text(v, "file_status"))["status"] == "progress":
                pass  # ...until it times out
            assert failed == {"type": "file_status", "id": 1, "status": "failed",
                              "received": len(part), "reason": "timeout"}  # fmt: skip
            assert files.held_bytes == 0
            del part
            gc.collect()
            after = tracemalloc.get_traced_memory()[0] - baseline
        finally:
            tracemalloc.stop()
        assert after < 512 * 1024, after  # back to baseline (within what logging keeps)
        # A viewer that leaves half-way frees its upload too.
        await offer(v, 2, 4 * MB)
        await v.ws.send_bytes(FileChunkHeader(2, 0).pack(b"y" * FILE_CHUNK_MAX))
        async with asyncio.timeout(5):
            while files.held_bytes == 0:
                await asyncio.sleep(0.01)
    async with asyncio.timeout(5):
        while display.client_count:
            await asyncio.sleep(0.01)
    m = display.metrics()["display"]["files"]
    assert m["held_bytes"] == 0 and m["uploads_failed"] == {"timeout": 1, "closed": 1}


class Sink(io.BytesIO):
    closed_ok = False

    def close(self) -> None:
        self.closed_ok = True  # keep the bytes readable


async def test_an_upload_streams_into_the_applications_sink(serving) -> None:
    display, _ = await serving(160, 120, uploads=True)
    sinks: dict[str, Sink] = {}

    def handler(info):  # type: ignore[no-untyped-def]
        if info.name.endswith(".exe"):
            return False
        sinks[info.name] = Sink()
        return sinks[info.name]

    display.on_upload(handler)
    data = hashlib.shake_256(b"sink").digest(MB + 5)
    async with client.connect(display.ws_url, JPEG) as v:
        await v.next_frame()
        assert (await offer(v, 1, 10, "tool.exe"))["reason"] == "refused"
        accepted = await offer(v, 2, len(data), "big.ckpt")
        assert accepted["status"] == "accepted"
        assert display.stream.files.held_bytes == 0  # streamed: nothing held here
        assert (await upload(v, 2, data, accepted["window"]))["status"] == "done"
        (ev,) = await file_events(display)
        assert ev.event["data"] is None and ev.event["streamed"] is True
        assert ev.event["complete"] is True and ev.event["name"] == "big.ckpt"
    sink = sinks["big.ckpt"]
    assert sink.getvalue() == data and sink.closed_ok


async def test_send_file_reaches_viewers_that_take_files_and_no_others(serving) -> None:
    display, _ = await serving(160, 120)
    data = hashlib.shake_256(b"download").digest(2 * MB + 1)
    async with (
        client.connect(display.ws_url, JPEG, features=("files",)) as new,
        client.connect(display.ws_url, JPEG) as old,
    ):
        await new.next_frame()
        await old.next_frame()
        assert display.send_file("model.ckpt", data) == 1  # the 0.x-style client is skipped
        with pytest.raises(ValueError, match="without"):
            display.send_file("../x", b"")
        got = bytearray()
        async with asyncio.timeout(10):
            offered = None
            while len(got) < len(data):
                msg = await new.ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    m = json.loads(msg.data)
                    if m["type"] == "file_offer":
                        offered = m
                    continue
                header, payload = protocol.unpack_envelope(msg.data)
                if header["type"] != "file_chunk":
                    await new.ack(int(header["seq"]))
                    continue
                assert header["offset"] == len(got)
                got += payload
                await new.send({"type": "file_ack", "id": header["id"], "received": len(got)})
        assert offered == {"type": "file_offer", "id": offered["id"], "name": "model.ckpt",
                           "size": len(data), "mime": "application/octet-stream"}  # fmt: skip
        assert bytes(got) == data
        await old.next_frame()
        assert not any(t["type"].startswith("file") for t in old.texts)
        await asyncio.sleep(0.1)
    files = display.metrics()["display"]["files"]
    assert files["downloads_done"] == 1 and files["bytes_sent"] == len(data)
