"""The pacer (rfb/rtp/pacer.py): a burst, then packets spaced at the rate; retransmissions
and rate changes; and the pacing rate the hub asks for, probing above the estimate."""

from __future__ import annotations

import pytest

from rfb.rtp.pacer import Pacer


def test_pacing_probes_above_the_estimate_only_below_the_top_rung() -> None:
    from rfb.rtp.pacer import pacing_rate

    # At the top rung: a little over the estimate, within 1.5x..3x the rung's rate.
    assert pacing_rate(2.8e6, 10e6) == pytest.approx(3 * 2.8e6)
    assert pacing_rate(2.8e6, 3e6) == pytest.approx(1.5 * 2.8e6)
    # Below it: up to twice the estimate, no faster than the top rung needs to fit clearly.
    assert pacing_rate(1.37e6, 1.85e6) == pytest.approx(1.2 * 1.85e6)
    assert pacing_rate(1.37e6, 1.85e6, probe_for_bps=2.8e6) == pytest.approx(2 * 1.85e6)
    assert pacing_rate(1.37e6, 2.5e6, probe_for_bps=2.8e6) == pytest.approx(3 * 1.37e6)
    assert pacing_rate(1e6, 1.5e6, probe_for_bps=1.2e6) == pytest.approx(2.4e6)


def test_pacer_lets_a_burst_go_then_spaces_packets_at_the_rate() -> None:
    p = Pacer(1e6, burst_s=0.01, min_burst_bytes=0)
    delays = [p.reserve(1250, 0.0) for _ in range(5)]  # 10 ms each at 1 Mbit/s
    assert delays[:2] == [0.0, 0.0]
    assert delays[2:] == pytest.approx([0.01, 0.02, 0.03])
    assert p.queued_s(0.0) == pytest.approx(0.04)
    # idle for a while: the next packet goes at once
    assert p.reserve(1250, 1.0) == 0.0


def test_pacer_retransmissions_delay_what_follows_and_rate_changes_keep_the_queue() -> None:
    p = Pacer(1e6, burst_s=0.0, min_burst_bytes=0)
    p.charge(12_500, 0.0)  # 100 ms of RTX
    assert p.reserve(1250, 0.0) == pytest.approx(0.1)
    p.set_rate(2e6, 0.0)  # 13 750 bytes queued drain twice as fast
    assert p.queued_s(0.0) == pytest.approx(0.055)
    with pytest.raises(ValueError):
        Pacer(0)
