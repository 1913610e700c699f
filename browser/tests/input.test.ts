import { describe, expect, it } from "vitest";
import { mapButton, mapButtons, modifiers, MoveCoalescer, shouldPreventKey, wheelPixels } from "../src/input";

describe("buttons", () => {
  it("maps DOM button numbers to renderview's", () => {
    expect([0, 1, 2, 3, 4, 9].map(mapButton)).toEqual([1, 3, 2, 4, 5, 0]);
  });
  it("maps the buttons bitmask to a sorted list", () => {
    expect(mapButtons(0)).toEqual([]);
    expect(mapButtons(1)).toEqual([1]);
    expect(mapButtons(2)).toEqual([2]);
    expect(mapButtons(4)).toEqual([3]);
    expect(mapButtons(1 | 4 | 16)).toEqual([1, 3, 5]);
    expect(mapButtons(8)).toEqual([4]);
  });
});

describe("modifiers", () => {
  it("lists pressed modifiers in a fixed order", () => {
    expect(modifiers({ shiftKey: false, ctrlKey: false, altKey: false, metaKey: false })).toEqual([]);
    expect(modifiers({ shiftKey: true, ctrlKey: true, altKey: true, metaKey: true })).toEqual(["Shift", "Control", "Alt", "Meta"]);
    expect(modifiers({ shiftKey: false, ctrlKey: false, altKey: true, metaKey: false })).toEqual(["Alt"]);
  });
});

describe("wheel", () => {
  it("converts every deltaMode to pixels", () => {
    expect(wheelPixels(3, -100, 0, 800, 600)).toEqual({ dx: 3, dy: -100 });
    expect(wheelPixels(1, 3, 1, 800, 600)).toEqual({ dx: 16, dy: 48 });
    expect(wheelPixels(0, 1, 2, 800, 600)).toEqual({ dx: 0, dy: 600 });
  });
});

describe("pointer move coalescing", () => {
  it("keeps only the newest move between flushes and preserves order", () => {
    const out: string[] = [];
    const c = new MoveCoalescer<string>((s) => out.push(s));
    c.move("m1");
    c.move("m2");
    c.move("m3");
    expect(out).toEqual([]);
    c.flush();
    expect(out).toEqual(["m3"]);
    c.move("m4");
    c.other("down"); // a click flushes the pending move first
    expect(out).toEqual(["m3", "m4", "down"]);
    c.flush();
    expect(out).toEqual(["m3", "m4", "down"]);
    expect(c.hasPending).toBe(false);
  });
});

describe("keys", () => {
  it("keeps browser shortcuts, takes everything else", () => {
    expect(shouldPreventKey({ key: " ", ctrlKey: false, metaKey: false })).toBe(true);
    expect(shouldPreventKey({ key: "ArrowDown", ctrlKey: false, metaKey: false })).toBe(true);
    expect(shouldPreventKey({ key: "r", ctrlKey: true, metaKey: false })).toBe(false);
  });
});
