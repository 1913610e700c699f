"""Audio, sans I/O (rfb/session/audio.py): the checks on publish_audio's input, the 20 ms
blocks and their timestamps on the stream's clock, pacing, and each viewer's queue."""

from __future__ import annotations

import numpy as np
import pytest

from rfb.session import audio as core


def pcm(n: int, channels: int = 1, value: float = 0.25) -> np.ndarray:
    return np.full((n, channels), value, np.float32)


# -- publish_audio's input -------------------------------------------------------------


@pytest.mark.parametrize(("shape", "dtype"), [((960,), np.int16), ((960, 1), np.float32),
                                              ((960, 2), np.int16), ((0, 2), np.float32)])  # fmt: skip
def test_good_input_comes_out_float_n_by_channels(shape, dtype) -> None:
    x = np.ones(shape, dtype)
    out, rate = core.check_samples(x, 48000)
    assert out.dtype == np.float32 and out.ndim == 2 and out.shape[0] == shape[0]
    assert out.flags.c_contiguous and not np.shares_memory(out, x)
    assert rate == 48000
    if dtype == np.int16 and shape[0]:
        assert out[0, 0] == pytest.approx(1 / 32768)


def test_float_input_is_clipped_and_int16_scaled() -> None:
    out, _ = core.check_samples(np.array([2.0, -3.0, 0.5], np.float32), 48000)
    assert out[:, 0].tolist() == [1.0, -1.0, 0.5]
    out, _ = core.check_samples(np.array([-32768, 32767], np.int16), 48000)
    assert out[0, 0] == -1.0 and out[1, 0] == pytest.approx(32767 / 32768)


@pytest.mark.parametrize(("x", "exc", "match"), [
    (np.zeros((3, 5, 2)), TypeError, r"got \(3, 5, 2\) float64"),
    (np.zeros((3, 5, 2), np.float32), ValueError,
     r"samples must be \(n,\) or \(n, 1\|2\) int16 or float32, got \(3, 5, 2\) float32"),
    (np.zeros((10, 3), np.int16), ValueError, r"got \(10, 3\) int16"),
    (np.zeros(10, np.int32), TypeError, r"got \(10,\) int32"),
    ([0.0, 0.1], TypeError, "NumPy arrays, got list"),
    (np.array([np.nan], np.float32), ValueError, "finite"),
])  # fmt: skip
def test_bad_input_names_what_is_expected(x, exc, match) -> None:
    with pytest.raises(exc, match=match):
        core.check_samples(x, 48000)


@pytest.mark.parametrize(("rate", "exc"), [(1000, ValueError), (384000, ValueError),
                                           (48000.0, TypeError), (True, TypeError)])  # fmt: skip
def test_bad_rates_are_refused(rate, exc) -> None:
    with pytest.raises(exc, match="sample_rate must be"):
        core.check_samples(np.zeros(10, np.int16), rate)


# -- blocks and timestamps ---------------------------------------------------------------


def test_chunks_become_20ms_blocks_stamped_from_the_publish_time() -> None:
    f = core.Framer()
    # 10 ms chunks published every 10 ms (with a few ms of jitter) from t = 1 s
    for i, jitter in enumerate([0, 3000, -2000, 1000, 4000, 0]):
        f.push(pcm(480, value=i / 10), 1_000_000 + i * 10_000 + jitter)
    blocks = f.due(1_060_000)
    assert [b.timestamp_us for b in blocks] == [1_000_000, 1_020_000, 1_040_000]
    assert all(b.pcm.shape == (960, 1) for b in blocks)
    # sample for sample: the second chunk's samples follow the first's in block 0
    assert blocks[0].pcm[479, 0] == 0.0 and blocks[0].pcm[480, 0] == np.float32(0.1)
    assert f.due(2_000_000) == []  # nothing partial left


def test_blocks_wait_for_their_time() -> None:
    f = core.Framer()
    f.push(pcm(48000), 0)  # one second at once, at t = 0
    assert [b.timestamp_us for b in f.due(0)] == [0]
    assert f.next_due_us() == 20_000
    assert [b.timestamp_us for b in f.due(45_000)] == [20_000, 40_000]
    assert len(f.due(10_000_000)) == 47


def test_a_partial_block_is_padded_and_sent_after_its_end() -> None:
    f = core.Framer()
    f.push(pcm(240), 500_000)  # a 5 ms click, then nothing
    assert f.due(500_000 + core.FRAME_US) == []
    assert f.next_due_us() == 500_000 + core.FRAME_US + core.FLUSH_US
    (b,) = f.due(500_000 + core.FRAME_US + core.FLUSH_US)
    assert b.timestamp_us == 500_000
    assert (b.pcm[:240] == 0.25).all() and (b.pcm[240:] == 0).all()
    # the next chunk, much later, starts a new timeline at its own publish time
    f.push(pcm(960), 2_000_000)
    assert [b.timestamp_us for b in f.due(2_000_000)] == [2_000_000]


def test_a_producer_that_fell_behind_starts_again_at_its_publish_time() -> None:
    f = core.Framer()
    f.push(pcm(480), 0)
    f.push(pcm(960), core.RESYNC_US + 10_000 + 1)  # a pause longer than RESYNC_US
    blocks = f.due(1_000_000)
    assert [b.timestamp_us for b in blocks] == [0, core.RESYNC_US + 10_001]
    assert (blocks[0].pcm[480:] == 0).all()  # the pause's half block: silence
    assert f.resyncs == 1


def test_small_lateness_keeps_the_timeline() -> None:
    f = core.Framer()
    f.push(pcm(960), 0)
    f.push(pcm(960), 20_000 + core.RESYNC_US - 1)  # late, but within RESYNC_US
    assert [b.timestamp_us for b in f.due(10**7)] == [0, 20_000]


def test_a_new_channel_count_starts_a_new_block() -> None:
    f = core.Framer()
    f.push(pcm(480, 1), 0)
    f.push(pcm(960, 2), 10_000)
    blocks = f.due(10**7)
    assert [(b.channels, b.timestamp_us) for b in blocks] == [(1, 0), (2, 10_000)]


def test_audio_too_far_ahead_is_dropped_and_counted() -> None:
    f = core.Framer()
    n = 48 * (core.MAX_AHEAD_US // 1000)  # MAX_AHEAD_US of samples
    f.push(pcm(n + 960), 0)
    assert f.dropped_ahead == 960
    assert f.queued == n // 960


def test_reset_forgets_everything() -> None:
    f = core.Framer()
    f.push(pcm(2000), 0)
    f.reset()
    assert f.due(10**9) == [] and f.next_due_us() is None and f.end_us is None


# -- each viewer's queue ---------------------------------------------------------------


def test_a_viewer_gets_packets_in_order_while_in_time() -> None:
    out = core.AudioOut()
    assert out.offer(b"a", 0, 0) and out.offer(b"b", 5_000, 0)
    assert out.take(10_000) == b"a" and out.take(10_000) == b"b" and out.take(10_000) is None
    assert out.sent == 2 and out.dropped == 0 and out.bytes_sent == 2


def test_late_packets_are_dropped_not_sent() -> None:
    out = core.AudioOut()
    out.offer(b"old", 0, 0)
    out.offer(b"new", 50_000, 0)
    assert out.take(core.MAX_WAIT_US + 1) == b"new"
    assert out.dropped == 1


def test_a_crowded_queue_drops_its_oldest() -> None:
    out = core.AudioOut()
    for i in range(core.MAX_QUEUED + 3):
        out.offer(bytes([i]), 0, 0)
    assert len(out) == core.MAX_QUEUED and out.dropped == 3
    assert out.take(0) == bytes([3])


def test_a_backlogged_link_gets_no_audio() -> None:
    out = core.AudioOut()
    assert not out.offer(b"x", 0, core.BACKLOG_BYTES + 1)
    assert len(out) == 0 and out.dropped == 1
    assert out.offer(b"x", 0, core.BACKLOG_BYTES)


def test_a_producer_that_caught_up_after_a_stall_is_brought_back_to_its_calls() -> None:
    f = core.Framer()
    # a 200 ms stall at t = 0, then 20 chunks of 10 ms at once (catching up)...
    for _ in range(20):
        f.push(pcm(480), 0)
    assert f.end_us == 200_000
    # ...then 10 ms every 10 ms: the timeline stays 200 ms ahead of the calls
    t = 0
    while f.cut_us == 0 and t < 2_000_000:
        t += 10_000
        f.due(t)
        f.push(pcm(480), t)
    assert core.LEAD_WINDOW_US <= t <= core.LEAD_WINDOW_US + 30_000
    assert 150_000 <= f.cut_us <= 220_000  # the lead, cut once
    assert f.end_us == t + 10_000  # the sound plays at its calls again
    for _ in range(50):  # and stays there
        t += 10_000
        f.due(t)
        f.push(pcm(480), t)
    assert f.end_us - t <= 20_000


def test_a_file_pushed_in_a_burst_keeps_its_timeline() -> None:
    f = core.Framer()
    for i in range(100):  # 2 s of sound in 100 calls within 1 ms
        f.push(pcm(960), i * 10)
    assert f.cut_us == 0 and f.queued == 100
    assert [b.timestamp_us for b in f.due(1_000_000)][-1] == 1_000_000
