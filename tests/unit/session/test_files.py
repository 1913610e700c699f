"""Files both ways, sans I/O (rfb/session/files.py) on a fake clock: an upload's chunks are
checked against its offer (out of order, too large, past the size, unknown id close the
sender; late chunks of an ended upload are dropped and counted), an upload that never
finishes is abandoned and freed; a download goes in order, under its window and the link's
backlog, and a stalled one is dropped."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfb import protocol
from rfb.protocol import FILE_CHUNK_MAX, FileChunk, FileOffer, ProtocolError
from rfb.session import files
from rfb.session.files import Chunk, Downloads, Offer, Uploads


def offer(size: int, upload_id: int = 1, name: str = "a.bin") -> FileOffer:
    return FileOffer(upload_id, name, size, "application/octet-stream")


def chunks_of(data: bytes, upload_id: int = 1, step: int = FILE_CHUNK_MAX) -> list[FileChunk]:
    return [FileChunk(upload_id, i, data[i : i + step]) for i in range(0, len(data), step)]


def test_an_upload_gathers_its_chunks_and_hands_over_the_whole_file() -> None:
    up = Uploads()
    data = bytes(range(256)) * 1000
    assert up.refusal(offer(len(data))) is None
    upload = up.accept(offer(len(data)), now=0.0)
    for i, c in enumerate(chunks_of(data)):
        assert up.chunk(c, now=float(i)) is upload
        assert upload.received == min(len(data), (i + 1) * FILE_CHUNK_MAX)
    assert upload.done and not up.active
    assert up.held_bytes == 0  # done: no longer counted as in progress
    assert upload.take() == data
    assert upload.buffer is None  # handed over: nothing kept


def test_an_empty_file_is_done_at_once() -> None:
    up = Uploads()
    upload = up.accept(offer(0), now=0.0)
    assert upload.done and not up.active and upload.take() == b""


@pytest.mark.parametrize(
    ("chunk", "words"),
    [
        (FileChunk(1, 10, b"x"), "out of order"),  # a gap
        (FileChunk(2, 0, b"x"), "unknown upload 2"),  # never offered
        (FileChunk(1, 0, b"x" * 101), "past the size"),  # overflowing the size announced
    ],
)
def test_a_chunk_that_does_not_fit_its_offer_closes_the_sender(
    chunk: FileChunk, words: str
) -> None:
    up = Uploads()
    up.accept(offer(100), now=0.0)
    with pytest.raises(ProtocolError) as err:
        up.chunk(chunk, now=0.0)
    assert err.value.close_code == protocol.CLOSE_POLICY_VIOLATION and words in err.value.reason


def test_a_chunk_repeated_is_out_of_order() -> None:
    up = Uploads()
    up.accept(offer(100), now=0.0)
    up.chunk(FileChunk(1, 0, b"x" * 50), now=0.0)
    with pytest.raises(ProtocolError, match="out of order: offset 0, expected 50"):
        up.chunk(FileChunk(1, 0, b"x" * 50), now=0.0)


def test_a_chunk_over_the_chunk_size_closes_with_1009() -> None:
    too_big = protocol.FileChunkHeader(1, 0).pack(b"x" * (FILE_CHUNK_MAX + 1))
    with pytest.raises(ProtocolError) as err:
        protocol.parse_client_binary(too_big)
    assert err.value.close_code == protocol.CLOSE_TOO_BIG


def test_an_offer_reusing_an_id_in_progress_closes_the_sender() -> None:
    up = Uploads()
    up.accept(offer(100), now=0.0)
    with pytest.raises(ProtocolError, match="already in progress"):
        up.refusal(offer(5))


def test_offers_over_the_limit_or_too_many_at_once_are_refused() -> None:
    up = Uploads(max_bytes=1000, max_uploads=2)
    assert up.refusal(offer(1001)) == files.TOO_BIG
    assert up.refusal(offer(1000)) is None
    up.accept(offer(10, 1), 0.0)
    up.accept(offer(10, 2), 0.0)
    assert up.refusal(offer(10, 3)) == files.BUSY


def test_late_chunks_of_a_refused_or_ended_upload_are_dropped_and_counted() -> None:
    up = Uploads()
    up.refuse(offer(100, 5))
    assert up.chunk(FileChunk(5, 0, b"x"), now=0.0) is None
    up.accept(offer(100, 6), 0.0)
    up.cancel(6)
    assert up.chunk(FileChunk(6, 0, b"x"), now=0.0) is None
    assert up.late_chunks == 2


def test_an_upload_that_never_finishes_is_abandoned_and_freed() -> None:
    up = Uploads(idle_s=30.0)
    a = up.accept(offer(10 * FILE_CHUNK_MAX, 1), now=0.0)
    b = up.accept(offer(10 * FILE_CHUNK_MAX, 2), now=0.0)
    up.chunk(FileChunk(1, 0, b"a" * FILE_CHUNK_MAX), now=1.0)
    up.chunk(FileChunk(2, 0, b"b" * FILE_CHUNK_MAX), now=20.0)
    assert up.held_bytes == 2 * FILE_CHUNK_MAX
    assert up.next_deadline() == 31.0
    assert up.expire(30.9) == []
    assert up.expire(31.0) == [a]  # a sent nothing for 30 s; b is still going
    assert a.buffer is None and up.held_bytes == FILE_CHUNK_MAX
    assert up.next_deadline() == 50.0
    assert up.expire(50.0) == [b] and up.held_bytes == 0 and up.next_deadline() is None
    assert up.chunk(FileChunk(1, FILE_CHUNK_MAX, b"late"), now=51.0) is None  # in flight: late


def test_a_leaving_viewer_frees_every_upload() -> None:
    up = Uploads()
    for i in range(3):
        up.accept(offer(1000, i), 0.0)
        up.chunk(FileChunk(i, 0, b"x" * 500), 0.0)
    assert up.held_bytes == 1500
    gone = up.close()
    assert len(gone) == 3 and all(u.buffer is None for u in gone) and up.held_bytes == 0


@given(st.integers(0, 4 * FILE_CHUNK_MAX), st.lists(st.floats(0, 1), max_size=12))
def test_any_split_into_in_order_chunks_gives_the_file_back(size: int, cuts: list[float]) -> None:
    blob = bytes(i % 251 for i in range(size))
    # Cut points, and at least every FILE_CHUNK_MAX bytes (no chunk may be larger).
    points = sorted({0, size, *(round(c * size) for c in cuts),
                     *range(0, size, FILE_CHUNK_MAX)})  # fmt: skip
    up = Uploads(max_bytes=size)
    upload = up.accept(offer(size), 0.0)
    for a, b in itertools.pairwise(points):
        up.chunk(FileChunk(1, a, blob[a:b]), 0.0)
    assert upload.done and upload.take() == blob


# -- downloads ---------------------------------------------------------------------------


def run(d: Downloads, now: float = 0.0, backlog: int = 0) -> list[Offer | Chunk]:
    out: list[Offer | Chunk] = []
    while (step := d.next(now, backlog)) is not None:
        out.append(step)
    return out


def test_a_download_is_offered_then_sent_in_order_within_its_window() -> None:
    d = Downloads(window=4 * FILE_CHUNK_MAX)
    data = memoryview(bytes(10 * FILE_CHUNK_MAX + 7))
    d.add(1, "f.csv", "text/csv", data, 0.0)
    first = run(d)
    assert isinstance(first[0], Offer)
    chunks = [c for c in first if isinstance(c, Chunk)]
    assert [c.offset for c in chunks] == [i * FILE_CHUNK_MAX for i in range(4)]  # the window
    assert not d.ack(1, 2 * FILE_CHUNK_MAX, 1.0)
    assert [c.offset for c in run(d)] == [4 * FILE_CHUNK_MAX, 5 * FILE_CHUNK_MAX]  # type: ignore[union-attr]
    d.ack(1, 6 * FILE_CHUNK_MAX, 2.0)
    assert len(run(d)) == 4  # up to 10 chunks: the window again
    d.ack(1, 7 * FILE_CHUNK_MAX, 3.0)
    (last,) = run(d)
    assert isinstance(last, Chunk) and len(last.data) == 7
    assert d.ack(1, len(data), 4.0)
    assert d.current is None and d.finished == 1 and d.bytes_sent == len(data)


def test_a_download_waits_while_the_link_has_frames_queued() -> None:
    d = Downloads(max_backlog=64 * 1024)
    d.add(1, "f", "x", memoryview(b"x" * 100), 0.0)
    assert isinstance(d.next(0.0, backlog=10**6), Offer)  # the offer is small: it goes
    assert d.next(0.0, backlog=10**6) is None and d.waiting_for_link(10**6)
    step = d.next(0.0, backlog=1000)
    assert isinstance(step, Chunk) and bytes(step.data) == b"x" * 100


def test_downloads_go_one_after_another() -> None:
    d = Downloads()
    d.add(1, "a", "x", memoryview(b"a" * 10), 0.0)
    d.add(2, "b", "x", memoryview(b"b" * 10), 0.0)
    assert [type(s).__name__ for s in run(d)] == ["Offer", "Chunk"]
    d.ack(1, 10, 0.0)
    second = run(d)
    assert isinstance(second[0], Offer) and second[0].download.id == 2


def test_acks_of_more_than_was_sent_close_the_viewer_and_stray_acks_are_ignored() -> None:
    d = Downloads()
    d.add(1, "a", "x", memoryview(b"a" * 10), 0.0)
    run(d)
    assert not d.ack(99, 5, 0.0)  # a cancelled or unknown download
    with pytest.raises(ProtocolError, match="only 10 were sent"):
        d.ack(1, 11, 0.0)


def test_a_stalled_download_is_dropped() -> None:
    d = Downloads(idle_s=30.0)
    d.add(1, "a", "x", memoryview(b"a" * (20 * FILE_CHUNK_MAX)), 0.0)
    run(d)
    d.ack(1, FILE_CHUNK_MAX, 5.0)
    assert d.expire(34.0) is None and d.next_deadline() == 35.0
    assert d.expire(35.0) is not None and d.current is None and d.dropped == 1


def test_an_empty_download_is_done_once_offered_and_the_queue_is_bounded() -> None:
    d = Downloads(max_queued=2)
    d.add(1, "empty", "x", memoryview(b""), 0.0)
    assert d.add(2, "b", "x", memoryview(b"b"), 0.0) is not None
    assert d.add(3, "c", "x", memoryview(b"c"), 0.0) is None and d.dropped == 1
    assert isinstance(d.next(0.0, 0), Offer) and d.finished == 1
    assert d.current is not None and d.current.id == 2


# -- acks under the video ------------------------------------------------------------------


def test_acks_go_at_once_while_the_video_has_credit() -> None:
    acks = files.AckPacer(max_hold_s=0.25)
    assert acks.took(100, 0.0, busy=False) == 100
    assert acks.pending is None and acks.due() is None


def test_acks_are_held_while_the_video_is_short_of_credit_at_most_max_hold() -> None:
    acks = files.AckPacer(max_hold_s=0.25)
    assert acks.took(100, 1.0, busy=True) is None
    assert acks.took(200, 1.1, busy=True) is None  # the newest count replaces the held one
    assert acks.due() == 1.25
    assert acks.poll(1.2, busy=True) is None
    assert acks.poll(1.2, busy=False) == 200  # the video has credit again
    assert acks.took(300, 2.0, busy=True) is None
    assert acks.poll(2.25, busy=True) == 300  # held long enough: the upload never stops


def test_a_rate_cap_spaces_the_acks() -> None:
    acks = files.AckPacer(rate=1000.0)
    assert acks.took(100, 0.0, busy=False) is None  # 100 bytes may be acked at 0.1 s
    assert acks.poll(0.05, busy=False) is None
    assert acks.poll(0.1, busy=False) == 100
