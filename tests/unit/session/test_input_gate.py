"""The per-viewer input gate (rfb/session/input_gate.py): a token bucket that merges
moves, drops the rest over budget and always lets a release through."""

from __future__ import annotations

from rfb.session.input_gate import InputGate, Verdict

from support.events import CLICK, key, move, pad


def test_gate_limits_rate_coalesces_moves_and_always_releases_presses() -> None:
    gate = InputGate(0.0, rate=10)
    assert [gate.admit(move(i), 0.0) for i in range(10)] == [Verdict.DELIVER] * 10
    assert gate.admit(move(99), 0.0) is Verdict.COALESCE  # over budget: moves merge
    assert gate.admit(CLICK, 0.0) is Verdict.DROP_RATE  # other events are dropped
    assert gate.admit(move(1), 0.1) is Verdict.DELIVER  # one token back after 0.1 s
    # A press the application saw is always released, even over budget.
    assert gate.admit(key("key_down"), 0.2) is Verdict.DELIVER
    for i in range(5):
        gate.admit(move(i), 0.2)
    assert gate.admit(key("key_up", "KeyB"), 0.2) is Verdict.DROP_RATE  # nothing to release
    assert gate.admit(key("key_up"), 0.2) is Verdict.DELIVER
    assert gate.admit(key("key_up"), 0.2) is Verdict.DROP_RATE  # released already
    # The bucket holds one second's worth, no more, however long it rested.
    assert [gate.admit(CLICK, 100.0) for _ in range(11)].count(Verdict.DELIVER) == 10
    assert InputGate(0.0, view_only=True).admit(CLICK, 0.0) is Verdict.DROP_VIEW_ONLY
    unlimited = InputGate(0.0, rate=None)
    assert all(unlimited.admit(move(i), 0.0) is Verdict.DELIVER for i in range(10_000))


def test_gamepad_states_count_against_the_rate_and_coalesce_over_it() -> None:
    gate = InputGate(0.0, rate=3)
    assert [gate.admit(pad(axis=i / 10), 0.0) for i in range(3)] == [Verdict.DELIVER] * 3
    # Over budget a pad's state is merged (its newest state still arrives), not dropped.
    assert gate.admit(pad(pressed=True), 0.0) is Verdict.COALESCE
    assert InputGate(0.0, view_only=True).admit(pad(), 0.0) is Verdict.DROP_VIEW_ONLY


def test_a_viewer_that_stops_driving_lets_go_of_its_gamepads() -> None:
    gate = InputGate(0.0, rate=None)
    gate.admit(pad(0, pressed=True), 0.0)
    gate.admit(pad(1), 0.0)
    gate.admit(pad(1, connected=False), 0.0)  # unplugged: nothing owed for it
    (gone,) = gate.release_all()
    assert gone == {"type": "gamepad", "index": 0, "id": "Fake Pad (STANDARD GAMEPAD)",
                    "mapping": "standard", "connected": False, "buttons": [], "axes": [],
                    "synthetic": True}  # fmt: skip
    assert gate.release_all() == []
