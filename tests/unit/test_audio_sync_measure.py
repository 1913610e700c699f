"""The A/V sync measurement's bookkeeping (tests/support/av_sync.py), on made-up page
timings: what a starved page or publisher could not time is left out with its reason,
and a late publisher's click stamp is corrected for where stamps matter."""

from __future__ import annotations

from support.av_sync import MAX_SPAN_MS, Publisher, pair


def _run(lates: dict[int, float], flashes_at: list[int], restart_at: int = 0) -> Publisher:
    """A publisher ticking every 10 ms, late by ``lates`` (ms) at those ticks."""
    p = Publisher(100.0, 0.01)
    for k in range(max(flashes_at) + 1):
        late = lates.get(k, 0.5)
        p.tick(k, 100.0 + k * 0.01 + late / 1000, k in flashes_at, restart=k == restart_at)
    return p


def test_timed_flashes_give_their_offsets() -> None:
    p = _run({}, [100, 160])
    offset = 5.0  # page ms - monotonic ms
    at = [t * 1000 + offset for t, _ in p.flashes]
    whites = [a + 20 for a in at]
    clicks = [a + 90 for a in at]
    spans = [[w - 12, w + 2] for w in whites]
    r = pair(p.flashes, clicks, whites, spans, [], offset, correct_lead=True)
    assert [round(x) for x in r.offsets] == [70, 70]
    assert not r.left_out


def test_a_stalled_page_leaves_its_flash_out_and_says_why() -> None:
    p = _run({}, [100, 160, 220])
    at = [t * 1000 for t, _ in p.flashes]
    whites = [a + 20 for a in at]
    clicks = [a + 90 for a in at]
    spans = [[w - 12, w + 2] for w in whites]
    spans[1] = [whites[1] - 140, whites[1] + 3]  # the read-back waited: shown within 143 ms
    long_tasks = [[whites[1] - 130, whites[1] - 20]]  # the main thread busy 110 ms
    r = pair(p.flashes, clicks, whites, spans, long_tasks, 0.0, correct_lead=False)
    assert len(r.offsets) == 2
    assert r.left_out == {"picture untimed": 1}
    assert "143 ms span" in r.notes[0] and "busy 110 ms" in r.notes[0], r.notes
    assert spans[1][1] - spans[1][0] > MAX_SPAN_MS


def test_a_late_publisher_is_corrected_where_stamps_matter() -> None:
    # tick 160 published 20 ms late: its click is stamped 20 ms before its frame
    p = _run({160: 20.5}, [100, 160])
    assert [round(lead) for _, lead in p.flashes] == [0, 20]
    at = [t * 1000 for t, _ in p.flashes]
    whites = [a + 20 for a in at]
    clicks = [at[0] + 90, at[1] + 90 - 20]  # WebRTC played that click 20 ms early
    spans = [[w - 12, w + 2] for w in whites]
    rtc = pair(p.flashes, clicks, whites, spans, [], 0.0, correct_lead=True)
    assert [round(x) for x in rtc.offsets] == [70, 70]
    ws = pair(p.flashes, clicks, whites, spans, [], 0.0, correct_lead=False)
    assert [round(x) for x in ws.offsets] == [70, 50]


def test_flashes_soon_after_a_publisher_stall_are_left_out() -> None:
    p = _run({150: 90.0}, [100, 160, 300])  # a 90 ms stall: the timeline started again
    assert p.flashes[1][1] is None and p.flashes[2][1] is not None
    at = [t * 1000 for t, _ in p.flashes]
    whites = [a + 20 for a in at]
    clicks = [a + 90 for a in at]
    spans = [[w - 12, w + 2] for w in whites]
    r = pair(p.flashes, clicks, whites, spans, None, 0.0, correct_lead=True)
    assert r.left_out == {"publisher stalled": 1} and len(r.offsets) == 2


def test_a_missing_click_or_white_is_reported() -> None:
    p = _run({}, [100, 160])
    at = [t * 1000 for t, _ in p.flashes]
    r = pair(p.flashes, [at[0] + 90], [at[1] + 20], [[at[1] + 8, at[1] + 22]], [], 0.0,
             correct_lead=False)  # fmt: skip
    assert r.left_out == {"no white seen": 1, "no click heard": 1}
    assert r.offsets == []
