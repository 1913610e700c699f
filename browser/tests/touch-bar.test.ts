// The touch keyboard bar's logic (src/touch-bar.ts): sticky modifiers (once, locked,
// off), the key events each tap sends (a hardware keyboard's), shortcuts typed through
// the device keyboard, and when the bar shows.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  activeModifiers,
  BAR_LAYOUT,
  charCode,
  consume,
  keyboardBarWanted,
  MODIFIERS,
  NO_STICKY,
  releaseAll,
  tapKey,
  tapModifier,
  typeWithSticky,
  withSticky,
  type BarKey,
  type KeyPress,
  type Modifier,
  type StickyState,
} from "../src/touch-bar";

fc.configureGlobal({ numRuns: Number(process.env.FC_RUNS) || 500, seed: 20261207 });

const ESC = BAR_LAYOUT.find((k) => typeof k !== "string" && k.key === "Escape") as BarKey;

describe("the bar's keys", () => {
  it("has Esc, Tab, the sticky modifiers, the arrows and F1-F12, as a keyboard names them", () => {
    const keys = BAR_LAYOUT.map((k) => (typeof k === "string" ? k : k.key));
    expect(keys).toEqual([
      "Escape", "Tab", "Control", "Alt", "Meta", "Shift", "ArrowLeft", "ArrowUp", "ArrowDown", "ArrowRight",
      ...Array.from({ length: 12 }, (_, i) => `F${i + 1}`),
    ]); // prettier-ignore
    for (const k of BAR_LAYOUT) if (typeof k !== "string") expect(k.code).toBe(k.key === "Escape" ? "Escape" : k.key);
  });
  it("a tap sends key_down then key_up", () => {
    expect(tapKey(NO_STICKY, ESC)).toEqual({
      state: NO_STICKY,
      presses: [
        { kind: "key_down", key: "Escape", code: "Escape", modifiers: [] },
        { kind: "key_up", key: "Escape", code: "Escape", modifiers: [] },
      ],
    });
  });
});

describe("sticky modifiers", () => {
  it("Ctrl once: held (its key_down) for the next key, then let go (its key_up)", () => {
    const ctrl = tapModifier(NO_STICKY, "Control");
    expect(ctrl.presses).toEqual([{ kind: "key_down", key: "Control", code: "ControlLeft", modifiers: ["Control"] }]);
    expect(activeModifiers(ctrl.state)).toEqual(["Control"]);
    const esc = tapKey(ctrl.state, ESC);
    expect(esc.presses).toEqual([
      { kind: "key_down", key: "Escape", code: "Escape", modifiers: ["Control"] },
      { kind: "key_up", key: "Escape", code: "Escape", modifiers: ["Control"] },
      { kind: "key_up", key: "Control", code: "ControlLeft", modifiers: [] },
    ]);
    expect(esc.state).toEqual(NO_STICKY);
  });
  it("a second tap locks it (nothing sent), a third lets go", () => {
    const once = tapModifier(NO_STICKY, "Alt").state;
    const locked = tapModifier(once, "Alt");
    expect(locked.presses).toEqual([]);
    expect(locked.state.Alt).toBe("locked");
    const after = tapKey(locked.state, ESC);
    expect(after.state.Alt).toBe("locked"); // a locked modifier outlives a key
    expect(after.presses.every((p) => p.modifiers.includes("Alt"))).toBe(true);
    expect(tapModifier(after.state, "Alt").presses).toEqual([{ kind: "key_up", key: "Alt", code: "AltLeft", modifiers: [] }]);
  });
  it("lists modifiers in a hardware keyboard's order, its own first-class ones kept", () => {
    let s: StickyState = NO_STICKY;
    for (const m of ["Meta", "Shift"] as Modifier[]) s = tapModifier(s, m).state;
    expect(withSticky(["Control"], s)).toEqual(["Shift", "Control", "Meta"]);
    expect(withSticky([], NO_STICKY)).toEqual([]);
  });
  it("Ctrl + a letter typed on the device keyboard is the letter's key press, not text", () => {
    const ctrl = tapModifier(NO_STICKY, "Control").state;
    const step = typeWithSticky(ctrl, "c")!;
    expect(step.rest).toBe("");
    expect(step.presses).toEqual([
      { kind: "key_down", key: "c", code: "KeyC", modifiers: ["Control"] },
      { kind: "key_up", key: "c", code: "KeyC", modifiers: ["Control"] },
      { kind: "key_up", key: "Control", code: "ControlLeft", modifiers: [] },
    ]);
    expect(typeWithSticky(NO_STICKY, "c")).toBeNull(); // nothing sticks: text is text
    expect(typeWithSticky(tapModifier(NO_STICKY, "Shift").state, "c")).toBeNull(); // Shift alone too
    const shifted = typeWithSticky(tapModifier(ctrl, "Shift").state, "zoo")!;
    expect(shifted.presses[0]).toMatchObject({ key: "Z", code: "KeyZ", modifiers: ["Shift", "Control"] });
    expect(shifted.rest).toBe("oo");
  });
  it("knows a US keyboard's codes", () => {
    expect(["a", "Q", "7", " ", "/", "é"].map(charCode)).toEqual(["KeyA", "KeyQ", "Digit7", "Space", "Slash", ""]);
  });

  // Any sequence of taps: every key_down of a modifier is matched by its key_up once it is
  // off, the state shown is what was sent, and releaseAll leaves nothing held.
  const action = fc.oneof(
    fc.constantFrom(...MODIFIERS).map((m) => ({ mod: m as Modifier })),
    fc.constantFrom(...BAR_LAYOUT.filter((k): k is BarKey => typeof k !== "string")).map((k) => ({ key: k })),
    fc.constant({ consume: true as const }),
    fc.string({ minLength: 1, maxLength: 3 }).map((t) => ({ text: t })),
  );
  it("never leaves a modifier held that the state says is off", () => {
    fc.assert(
      fc.property(fc.array(action, { maxLength: 30 }), (actions) => {
        let s: StickyState = NO_STICKY;
        const held = new Set<string>();
        const track = (presses: KeyPress[]) => {
          for (const p of presses) {
            if (!(MODIFIERS as readonly string[]).includes(p.key)) {
              // A key carries exactly the modifiers held (sent down, not yet up).
              expect(new Set(p.modifiers)).toEqual(held);
              continue;
            }
            if (p.kind === "key_down") {
              expect(held.has(p.key)).toBe(false);
              held.add(p.key);
            } else {
              expect(held.has(p.key)).toBe(true);
              held.delete(p.key);
            }
            expect(new Set(p.modifiers)).toEqual(held);
          }
        };
        for (const a of actions) {
          let step;
          if ("mod" in a) step = tapModifier(s, a.mod);
          else if ("key" in a) step = tapKey(s, a.key);
          else if ("consume" in a) step = consume(s);
          else step = typeWithSticky(s, a.text) ?? consume(s);
          track(step.presses);
          s = step.state;
          expect(new Set(activeModifiers(s))).toEqual(held);
          // After a key, only locked modifiers stay.
          if ("key" in a) expect(MODIFIERS.every((m) => s[m] !== "once")).toBe(true);
        }
        const end = releaseAll(s);
        track(end.presses);
        expect(held.size).toBe(0);
        expect(end.state).toEqual(NO_STICKY);
      }),
    );
  });
});

describe("when the bar shows", () => {
  it("auto: on a touch device's coarse primary pointer; true and false force it", () => {
    expect(keyboardBarWanted("auto", { coarsePointer: true })).toBe(true);
    expect(keyboardBarWanted("auto", { coarsePointer: false })).toBe(false);
    expect(keyboardBarWanted(true, { coarsePointer: false })).toBe(true);
    expect(keyboardBarWanted(false, { coarsePointer: true })).toBe(false);
  });
});
