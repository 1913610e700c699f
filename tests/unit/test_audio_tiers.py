"""Audio tiers (session/audio.py): which tier a viewer's rung gives, which encoders run,
which packet each listener gets, and in-band FEC; with real Opus encoders, that a viewer
moving tier hears no glitch, and that FEC packets rebuild a lost one."""

from __future__ import annotations

import numpy as np
import pytest

from rfb.encoders.base import EncoderSettings
from rfb.session import audio as core
from rfb.session import ladder as ladders
from tests.support.tone import LibOpus, peak_hz, tone, tone_error

pytest.importorskip("av")
from rfb.encoders import opus

NORMAL, LOW = core.NORMAL, core.LOW


def _views(lad: ladders.Ladder, w: int, h: int) -> list[core.RungView]:
    n = len(lad)
    return [core.RungView(i, n, lad.bitrate(i, w, h) if lad.is_video else None) for i in range(n)]


def test_the_default_ladders_bottom_rungs_get_the_low_tier() -> None:
    lad = ladders.video_ladder(EncoderSettings(bitrate=4_000_000), 1280, 720)
    views = _views(lad, 1280, 720)
    tiers = [core.tier_for(v) for v in views]
    bps = [v.video_bps for v in views]
    assert tiers[0] == NORMAL and tiers[-1] == LOW
    # low exactly where the rung's rate is at or under LOW_TIER_VIDEO_BPS: the two bottom
    assert [b is not None and b <= core.LOW_TIER_VIDEO_BPS for b in bps] == [t == LOW for t in tiers]
    assert tiers.count(LOW) == 2, bps


def test_the_bottom_of_an_image_ladder_is_low_and_a_single_rung_is_normal() -> None:
    lad = ladders.image_ladder(EncoderSettings(quality=80), lossless=False, max_rungs=5)
    tiers = [core.tier_for(v) for v in _views(lad, 640, 360)]
    assert tiers == [NORMAL] * (len(lad) - 1) + [LOW]
    assert core.tier_for(core.RungView(0, 1, None)) == NORMAL
    assert core.tier_for(core.RungView(0, 1, 300_000)) == LOW  # a thin fixed rate
    assert core.tier_for(None) == NORMAL  # a recording, a relay


def test_low_tier_has_the_same_channels_at_half_the_rate() -> None:
    for channels in (1, 2):
        assert core.bitrate(LOW, channels) * 2 == core.bitrate(NORMAL, channels)


def _packets(plan: core.TierPlan, seq: int, ages: dict[core.Variant, int]) -> dict:
    """This block's packets from the encoders the plan runs; ``ages``: packets made so far
    by each (kept up to date)."""
    out = {}
    for v in sorted(plan.to_encode()):
        ages[v] = ages.get(v, 0) + 1
        out[v] = core.Packet(seq, seq * 20_000, 1, bytes([v[0]]), tier=v[0], fec=v[1],
                             warm=ages[v] >= core.WARM_PACKETS)  # fmt: skip
    for v in [v for v in ages if v not in out]:
        del ages[v]
    plan.block(out)
    return out


def test_a_tier_nobody_is_on_is_not_encoded() -> None:
    plan = core.TierPlan()
    assert plan.to_encode() == frozenset()
    plan.set("a", NORMAL)
    plan.set("b", NORMAL)
    assert plan.to_encode() == {(NORMAL, False)}  # two viewers, one encode
    plan.set("c", LOW)
    assert plan.to_encode() == {(NORMAL, False), (LOW, False)}
    plan.remove("c")
    assert plan.to_encode() == {(NORMAL, False)}


def test_a_viewer_moves_tier_once_the_new_encoder_is_warm() -> None:
    plan = core.TierPlan()
    ages: dict[core.Variant, int] = {}
    plan.set("a", NORMAL)
    plan.set("b", NORMAL)
    got = [plan.choose("a", _packets(plan, 0, ages)).variant]
    plan.set("a", LOW)  # its rung fell
    seq = 1
    while True:
        packets = _packets(plan, seq, ages)
        seq += 1
        assert plan.choose("b", packets).variant == (NORMAL, False)
        got.append(plan.choose("a", packets).variant)
        if got[-1] == (LOW, False):
            break
        assert (NORMAL, False) in plan.to_encode()  # still served while LOW warms up
    # it kept the normal packets until the low encoder's WARM_PACKETS-th packet
    assert got == [(NORMAL, False)] * core.WARM_PACKETS + [(LOW, False)]
    assert plan.serving("a") == (LOW, False)
    plan.remove("b")  # nobody left on normal: only the low tier runs
    assert plan.to_encode() == {(LOW, False)}


def test_a_new_viewer_starts_on_its_tier_at_once() -> None:
    plan = core.TierPlan()
    ages: dict[core.Variant, int] = {}
    plan.set("a", NORMAL)
    for seq in range(5):
        plan.choose("a", _packets(plan, seq, ages))
    plan.set("b", LOW)
    packets = _packets(plan, 5, ages)
    # its decoder starts from silence, as the new low encoder does: no need to wait
    assert not packets[(LOW, False)].warm
    assert plan.choose("b", packets).variant == (LOW, False)
    assert plan.choose("a", packets).variant == (NORMAL, False)


def test_fec_follows_a_lossy_listener_on_its_tier() -> None:
    plan = core.TierPlan()
    ages: dict[core.Variant, int] = {}
    plan.set("ws", NORMAL)
    plan.set("rtc", NORMAL, lossy=False)
    plan.set("slow", LOW, lossy=True)
    assert not plan.fec(LOW)  # the low tier has no FEC (FEC_LOSS_PERCENT)
    assert not plan.fec(NORMAL)
    listeners = ("ws", "rtc", "slow")
    for seq in range(5):
        packets = _packets(plan, seq, ages)
        for c in listeners:
            plan.choose(c, packets)
    plan.set("rtc", NORMAL, lossy=True)  # its receiver reports say loss
    assert plan.fec(NORMAL)
    assert plan.wanted("ws") == (NORMAL, True)  # the whole tier: one encode
    for seq in range(5, 5 + core.WARM_PACKETS):
        packets = _packets(plan, seq, ages)
        assert (NORMAL, False) in packets  # the old encoder serves until the new is warm
        chosen = {c: plan.choose(c, packets).variant for c in listeners}
    assert chosen == {"ws": (NORMAL, True), "rtc": (NORMAL, True), "slow": (LOW, False)}
    assert plan.to_encode() == {(NORMAL, True), (LOW, False)}
    plan.set("rtc", NORMAL, lossy=False)  # loss went away: back to the low-delay encoder
    assert plan.to_encode() >= {(NORMAL, False), (NORMAL, True)}


# -- with real Opus -------------------------------------------------------------------------


def _run(plan: core.TierPlan, moves: dict[int, tuple[int, bool]], blocks: int,
         x: np.ndarray) -> tuple[np.ndarray, list[core.Packet]]:  # fmt: skip
    """Encode ``x`` as StreamAudio does (an encoder per variant the plan runs) for one
    listener "a" whose (tier, lossy) changes at the blocks in ``moves``; its packets
    decoded with libopus, and the packets it got."""
    encoders: dict[core.Variant, opus.OpusEncoder] = {}
    dec = LibOpus(1)
    out, got = [], []
    for i in range(blocks):
        if i in moves:
            plan.set("a", *moves[i])
        encode = plan.to_encode()
        for v in [v for v in encoders if v not in encode]:
            del encoders[v]
        packets = {}
        for v in sorted(encode):
            enc = encoders.get(v) or encoders.setdefault(v, opus.encoder_for(v, 1))
            data = enc.encode(x[i * 960 : (i + 1) * 960, None])
            packets[v] = core.Packet(i, i * 20_000, 1, data, tier=v[0], fec=v[1],
                                     warm=enc.encoded >= core.WARM_PACKETS)  # fmt: skip
        plan.block(packets)
        packet = plan.choose("a", packets)
        assert packet is not None
        got.append(packet)
        out.append(dec.decode(packet.data))
    dec.close()
    return np.concatenate(out)[:, 0], got


def test_moving_tier_plays_the_tone_without_a_glitch() -> None:
    x = tone(960 * 90, amp=0.3)
    y, got = _run(core.TierPlan(), {0: (NORMAL, False), 30: (LOW, False), 60: (NORMAL, False)},
                  90, x)  # fmt: skip
    tiers = [p.tier for p in got]
    assert tiers[29] == NORMAL and tiers[40] == LOW and tiers[80] == NORMAL
    normal = np.mean([len(p.data) for p in got[5:30]])
    low = np.mean([len(p.data) for p in got[40:60]])
    assert low < 0.6 * normal  # half the bitrate (VBR: a tone takes about that)
    assert abs(peak_hz(y[960 * 40 : 960 * 60]) - 440) < 5  # the low tier is the tone
    err = tone_error(y[960 * 2 :])
    steady_low = float(np.max(err[45:55]))  # the low tier's own codec noise
    # around both switches, no block strays above the low tier's own noise (a glitch: 0.3+)
    assert float(np.max(err[20:75])) <= max(1.5 * steady_low, 0.12), np.round(err[20:75], 2)


def test_fec_packets_rebuild_a_lost_one() -> None:
    x = tone(960 * 40, amp=0.3)
    _, got = _run(core.TierPlan(), {0: (NORMAL, True)}, 40, x)
    lib = LibOpus(1)
    lbrr = [lib.has_lbrr(p.data) for p in got]
    assert all(p.fec for p in got[core.WARM_PACKETS :])
    assert sum(lbrr[10:]) >= 20  # they carry LBRR (SILK's in-band FEC)
    # Lose packet k: decoding k+1's FEC gives k back (close to the tone); concealment
    # (decoding nothing) gives far worse.
    errs: dict[bool, list[float]] = {True: [], False: []}
    for use_fec in (True, False):
        for k in range(15, 35, 4):
            dec = LibOpus(1)
            out = [dec.decode(p.data) for p in got[:k]]
            out.append(dec.decode(got[k + 1].data, fec=True) if use_fec else dec.decode(None))
            out.append(dec.decode(got[k + 1].data))
            z = np.concatenate(out)[:, 0]
            err = tone_error(z[960 * (k - 3) :])
            errs[use_fec].append(float(err[3]))  # the lost block
            dec.close()
    print("lost block error, FEC vs concealment:", np.round(errs[True], 3), np.round(errs[False], 3))
    assert max(errs[True]) < 0.3, errs
    assert np.mean(errs[True]) < 0.5 * np.mean(errs[False]), errs


def test_the_low_tier_is_not_fec_and_an_fec_tier_is_hybrid() -> None:
    fec = opus.encoder_for((NORMAL, True), 1)
    plain = opus.encoder_for((NORMAL, False), 1)
    x = tone(960 * 10, amp=0.3)
    a = [fec.encode(x[i * 960 : (i + 1) * 960, None]) for i in range(10)]
    b = [plain.encode(x[i * 960 : (i + 1) * 960, None]) for i in range(10)]
    # Opus TOC configs: 12..15 hybrid (SILK + CELT), 16..31 CELT only
    assert all(12 <= p[0] >> 3 <= 15 for p in a[2:])
    assert all(p[0] >> 3 >= 16 for p in b)
    assert core.FEC_LOSS_PERCENT[LOW] is None


def test_turning_fec_on_and_off_steps_the_sound_once_each() -> None:
    """The FEC encoder (hybrid, 6.5 ms look-ahead) plays 4 ms later than the low-delay one
    (2.5 ms): each switch is heard as one short disturbance, then the tone goes on."""
    x = tone(960 * 90, amp=0.3)
    y, got = _run(core.TierPlan(), {0: (NORMAL, False), 30: (NORMAL, True), 60: (NORMAL, False)},
                  90, x)  # fmt: skip
    assert [p.fec for p in got[25:90:10]] == [False, True, True, True, False, False, False]
    err = tone_error(y[960 * 2 :])
    for switch in (30 + core.WARM_PACKETS - 1, 60 + core.WARM_PACKETS - 1):
        around = err[switch - 2 - 4 : switch - 2 + 8]
        # one step: the block with it, and its neighbours (tone_error fits over 3 blocks)
        assert (around > 0.2).sum() <= 3, np.round(around, 2)
        assert float(np.max(err[switch - 2 + 4 : switch - 2 + 20])) < 0.1  # then clean
    assert abs(peak_hz(y[960 * 40 : 960 * 60]) - 440) < 5
