// The gamepad normaliser and diff (src/gamepad.ts): what the Gamepad API reports becomes
// `gamepad` events the server accepts (rfb/protocol.py _gamepad), sent only on change, at
// most one per pad per reading, with disconnections.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  GAMEPAD_EPSILON,
  GamepadTracker,
  MAX_GAMEPAD_AXES,
  MAX_GAMEPAD_BUTTONS,
  MAX_GAMEPAD_ID,
  MAX_GAMEPADS,
  normalizePad,
  padChanged,
  type GamepadLike,
} from "../src/gamepad";

fc.configureGlobal({ numRuns: Number(process.env.FC_RUNS) || 500, seed: 20261207 });

function pad(over: Partial<GamepadLike> = {}): GamepadLike {
  return {
    index: 0,
    id: "Fake Pad (STANDARD GAMEPAD)",
    mapping: "standard",
    connected: true,
    buttons: Array.from({ length: 17 }, () => ({ pressed: false, touched: false, value: 0 })),
    axes: [0, 0, 0, 0],
    ...over,
  };
}

function press(p: GamepadLike, i: number, value = 1): GamepadLike {
  return { ...p, buttons: p.buttons.map((b, j) => (j === i ? { pressed: value > 0.5, touched: true, value } : b)) };
}

/** What rfb/protocol.py's _gamepad accepts. */
function accepted(ev: Record<string, unknown>): boolean {
  const ok = (v: unknown, lo: number, hi: number) => typeof v === "number" && Number.isFinite(v) && v >= lo && v <= hi;
  const buttons = ev.buttons as { pressed: unknown; value: unknown; touched?: unknown }[];
  const axes = ev.axes as unknown[];
  return (
    ev.type === "gamepad" &&
    Number.isInteger(ev.index) &&
    ok(ev.index, 0, MAX_GAMEPADS - 1) &&
    typeof ev.connected === "boolean" &&
    typeof ev.id === "string" &&
    Array.from(ev.id as string).length <= MAX_GAMEPAD_ID &&
    !/[\ud800-\udfff]/.test((ev.id as string).replace(/[\ud800-\udbff][\udc00-\udfff]/g, "")) &&
    typeof ev.mapping === "string" &&
    (ev.mapping as string).length <= 32 &&
    Array.isArray(buttons) &&
    buttons.length <= MAX_GAMEPAD_BUTTONS &&
    buttons.every((b) => typeof b.pressed === "boolean" && ok(b.value, 0, 1) && (b.touched === undefined || typeof b.touched === "boolean")) &&
    Array.isArray(axes) &&
    axes.length <= MAX_GAMEPAD_AXES &&
    axes.every((a) => ok(a, -1, 1)) &&
    ok(ev.timestamp, -1e12, 1e13) &&
    JSON.stringify(ev) !== undefined
  );
}

describe("normalizePad", () => {
  it("keeps a standard pad's state, rounded, and drops what the server cannot take", () => {
    const state = normalizePad(pad({ axes: [0.123456, -1, 1, 0], buttons: [{ pressed: true, value: 0.99999 }] }));
    expect(state).toEqual({ index: 0, id: "Fake Pad (STANDARD GAMEPAD)", mapping: "standard", connected: true, buttons: [{ pressed: true, value: 1 }], axes: [0.1235, -1, 1, 0] });
    expect(normalizePad(null)).toBeNull();
    expect(normalizePad(pad({ connected: false }))).toBeNull();
    expect(normalizePad(pad({ index: 4 }))).toBeNull();
  });
  it("clamps and cuts: NaN is 0, values in range, at most 32 buttons and 16 axes", () => {
    const s = normalizePad(pad({ axes: [NaN, 5, -Infinity, ...Array(20).fill(0.5)], buttons: Array(40).fill({ pressed: true, value: 7 }), id: "x".repeat(300) }))!;
    expect(s.axes.slice(0, 3)).toEqual([0, 1, -1]);
    expect(s.axes).toHaveLength(MAX_GAMEPAD_AXES);
    expect(s.buttons).toHaveLength(MAX_GAMEPAD_BUTTONS);
    expect(s.buttons[0].value).toBe(1);
    expect(s.id).toHaveLength(MAX_GAMEPAD_ID);
  });
  it("never leaves a lone surrogate in the id (the server refuses one)", () => {
    expect(normalizePad(pad({ id: "pad\ud800x" }))!.id).toBe("pad\ufffdx");
    expect(normalizePad(pad({ id: "🎮".repeat(200) }))!.id).toBe("🎮".repeat(128));
  });
});

describe("padChanged", () => {
  const base = normalizePad(pad())!;
  it("sees a press, a release and a real axis move, not noise", () => {
    expect(padChanged(null, base)).toBe(true);
    expect(padChanged(base, normalizePad(pad())!)).toBe(false);
    expect(padChanged(base, normalizePad(press(pad(), 0))!)).toBe(true);
    expect(padChanged(base, normalizePad(pad({ axes: [GAMEPAD_EPSILON / 2, 0, 0, 0] }))!)).toBe(false);
    expect(padChanged(base, normalizePad(pad({ axes: [0.5, 0, 0, 0] }))!)).toBe(true);
  });
  it("always sends a stick let go back to exactly 0, and a trigger reaching 1", () => {
    const near = normalizePad(pad({ axes: [0.01, 0, 0, 0] }))!;
    expect(padChanged(near, base)).toBe(true);
    const pulled = normalizePad(press(pad(), 7, 0.995))!;
    expect(padChanged(pulled, normalizePad(press(pad(), 7, 1))!)).toBe(true);
  });
});

describe("GamepadTracker", () => {
  it("sends a connect, one event per change, nothing while nothing changes, and a disconnect", () => {
    const t = new GamepadTracker();
    const first = t.update([pad(), null, null, null], 1);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ type: "gamepad", index: 0, connected: true, timestamp: 1 });
    expect(t.update([pad(), null], 2)).toEqual([]);
    expect(t.update([pad()], 3)).toEqual([]);
    const pressed = t.update([press(pad(), 0)], 4);
    expect(pressed).toHaveLength(1);
    expect((pressed[0].buttons as { pressed: boolean }[])[0].pressed).toBe(true);
    expect(t.update([press(pad(), 0)], 5)).toEqual([]);
    const moved = t.update([{ ...press(pad(), 0), axes: [0.75, 0, 0, 0] }], 6);
    expect(moved).toHaveLength(1);
    expect(moved[0].axes).toEqual([0.75, 0, 0, 0]);
    const gone = t.update([null, null, null, null], 7);
    expect(gone).toEqual([{ type: "gamepad", index: 0, id: "Fake Pad (STANDARD GAMEPAD)", mapping: "standard", connected: false, buttons: [], axes: [], timestamp: 7 }]);
    expect(t.update([], 8)).toEqual([]);
    expect(t.size).toBe(0);
  });
  it("keeps pads apart and says when another pad takes a slot", () => {
    const t = new GamepadTracker();
    expect(t.update([pad(), pad({ index: 1, id: "Second" })], 1).map((e) => e.index)).toEqual([0, 1]);
    const swapped = t.update([pad({ id: "Other" }), pad({ index: 1, id: "Second" })], 2);
    expect(swapped.map((e) => [e.index, e.id, e.connected])).toEqual([
      [0, "Fake Pad (STANDARD GAMEPAD)", false],
      [0, "Other", true],
    ]);
  });
  it("lets go of every pad at once (focus lost), and connects them again after", () => {
    const t = new GamepadTracker();
    t.update([press(pad(), 3), pad({ index: 2 })], 1);
    expect(t.releaseAll(2).map((e) => [e.index, e.connected])).toEqual([
      [0, false],
      [2, false],
    ]);
    expect(t.update([press(pad(), 3), pad({ index: 2 })], 3).map((e) => [e.index, e.connected])).toEqual([
      [0, true],
      [2, true],
    ]);
  });

  const anyNumber = fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, -0, 1e308), fc.integer());
  const rawPad = fc.record({
    index: fc.oneof(fc.integer({ min: -2, max: 6 }), fc.constantFrom(NaN, 1.5)),
    id: fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "binary", maxLength: 300 }), fc.constant("\ud800")),
    mapping: fc.oneof(fc.constantFrom("", "standard", "xr-standard"), fc.string({ maxLength: 40 })),
    connected: fc.boolean(),
    buttons: fc.array(fc.record({ pressed: fc.boolean(), touched: fc.boolean(), value: anyNumber }), { maxLength: 40 }),
    axes: fc.array(anyNumber, { maxLength: 24 }),
  });
  const readings = fc.array(fc.array(fc.option(rawPad, { nil: null }), { maxLength: 5 }), { minLength: 1, maxLength: 12 });

  it("only ever sends events the server accepts, at most one per pad per reading", () => {
    fc.assert(
      fc.property(readings, (rs) => {
        const t = new GamepadTracker();
        rs.forEach((r, i) => {
          const out = t.update(r, i);
          for (const ev of out) expect(accepted(ev)).toBe(true);
          // A slot's pad may be replaced (a disconnect, then the new pad); otherwise one.
          const perPad = new Map<unknown, number>();
          for (const ev of out) perPad.set(ev.index, (perPad.get(ev.index) ?? 0) + (ev.connected ? 1 : 0));
          for (const n of perPad.values()) expect(n).toBeLessThanOrEqual(1);
        });
        for (const ev of t.releaseAll(99)) expect(accepted(ev)).toBe(true);
      }),
    );
  });

  it("sends nothing for a reading the same as the last one", () => {
    fc.assert(
      fc.property(fc.array(fc.option(rawPad, { nil: null }), { maxLength: 5 }), (r) => {
        const t = new GamepadTracker();
        t.update(r, 1);
        expect(t.update(r, 2)).toEqual([]);
      }),
    );
  });

  it("leaves the application with the pads' last state: replaying the events gives the reading", () => {
    fc.assert(
      fc.property(readings, (rs) => {
        const t = new GamepadTracker();
        const app = new Map<unknown, Record<string, unknown>>();
        for (const [i, r] of rs.entries()) {
          for (const ev of t.update(r, i)) {
            if (ev.connected) app.set(ev.index, ev);
            else app.delete(ev.index);
          }
          // Every pad now connected is known to the app, and within epsilon of its reading.
          const now = new Map<number, ReturnType<typeof normalizePad>>();
          for (const raw of r) {
            const s = normalizePad(raw);
            if (s && !now.has(s.index)) now.set(s.index, s);
          }
          expect([...app.keys()].sort()).toEqual([...now.keys()].sort());
          for (const [index, s] of now) {
            const sent = app.get(index)!;
            expect(sent.buttons).toHaveLength(s!.buttons.length);
            expect((sent.buttons as { pressed: boolean }[]).map((b) => b.pressed)).toEqual(s!.buttons.map((b) => b.pressed));
            (sent.axes as number[]).forEach((a, k) => expect(Math.abs(a - s!.axes[k])).toBeLessThan(GAMEPAD_EPSILON + 1e-9));
          }
        }
      }),
    );
  });
});
