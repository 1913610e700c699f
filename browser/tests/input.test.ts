import { describe, expect, it } from "vitest";
import { charEvents, MAX_CHAR_EVENTS, MAX_STRING, mapButton, mapButtons, modifiers, MoveCoalescer, pointerEvent, shouldPreventKey, wheelPixels } from "../src/input";

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
  it("keeps the newest move of each pointer: two fingers both move", () => {
    const out: string[] = [];
    const c = new MoveCoalescer<string>((s) => out.push(s));
    c.move("a1", 1);
    c.move("b1", 2);
    c.move("a2", 1);
    c.flush();
    expect(out).toEqual(["a2", "b1"]);
  });
});

describe("touch and pen", () => {
  const g = { cssWidth: 320, cssHeight: 240, canvasWidth: 320, canvasHeight: 240, ratio: 1, frameW: 320, frameH: 240, fit: "contain" as const };
  const base = { kind: "pointer_down" as const, cssX: 10, cssY: 20, button: 1, buttons: [1], modifiers: [], timestamp: 1 };
  it("carries pointer id, type, pressure, and tilt for pens", () => {
    const pen = pointerEvent({ ...base, pointerId: 3, pointerType: "pen", pressure: 0.25, tiltX: -30, tiltY: 100 }, g);
    expect(pen).toMatchObject({ pointer_id: 3, pointer_type: "pen", pressure: 0.25, tilt_x: -30, tilt_y: 90 });
    const finger = pointerEvent({ ...base, pointerId: 9, pointerType: "touch", pressure: 1, tiltX: 5, tiltY: 5 }, g);
    expect(finger).toMatchObject({ pointer_id: 9, pointer_type: "touch", pressure: 1 });
    expect(finger).not.toHaveProperty("tilt_x");
  });
  it("keeps every field within what the server accepts", () => {
    const odd = pointerEvent({ ...base, pointerId: -1, pointerType: "eye-tracker", pressure: Number.NaN }, g);
    expect(odd).not.toHaveProperty("pointer_id");
    expect(odd.pointer_type).toBe("mouse");
    expect(odd).not.toHaveProperty("pressure");
    expect(pointerEvent({ ...base, pointerId: 2 ** 40, pressure: 3 }, g)).toMatchObject({ pointer_id: 2 ** 31 - 1, pressure: 1 });
  });
});

describe("keys", () => {
  const k = (key: string, extra: Partial<{ ctrlKey: boolean; metaKey: boolean; isComposing: boolean }> = {}) =>
    shouldPreventKey({ key, ctrlKey: false, metaKey: false, ...extra });
  it("takes the keys the browser would act on, keeps shortcuts", () => {
    for (const key of ["Tab", "Backspace", "ArrowDown", "PageUp", "Enter", "Escape"]) expect(k(key)).toBe(true);
    expect(k("r", { ctrlKey: true })).toBe(false);
    expect(k("Tab", { metaKey: true })).toBe(false);
  });
  it("lets text through to the hidden field: printable, dead and IME keys", () => {
    for (const key of [" ", "a", "é", "Dead", "Process", "Unidentified"]) expect(k(key)).toBe(false);
    expect(k("Backspace", { isComposing: true })).toBe(false); // editing the composition
  });
});

describe("text", () => {
  const text = (data: string) => charEvents({ kind: "char", data, modifiers: ["Shift"], timestamp: 5 });
  it("sends composed text as one char event", () => {
    expect(text("日本語")).toEqual([{ type: "char", data: "日本語", modifiers: ["Shift"], timestamp: 5 }]);
    expect(text("")).toEqual([]);
  });
  it("splits a long paste by code points, never inside a surrogate pair", () => {
    const data = "a" + "😀".repeat(MAX_STRING); // 1 + 256 code points, 513 UTF-16 units
    const out = text(data);
    expect(out.map((e) => Array.from(e.data as string).length)).toEqual([MAX_STRING, 1]);
    expect(out.map((e) => e.data).join("")).toBe(data);
    expect((out[1].data as string).codePointAt(0)).toBe(0x1f600);
  });
  it("cuts a paste past MAX_CHAR_EVENTS events", () => {
    expect(text("x".repeat(MAX_STRING * (MAX_CHAR_EVENTS + 3))).length).toBe(MAX_CHAR_EVENTS);
  });
});

describe("double click", () => {
  it("is a pointer event in frame pixels", () => {
    const g = { cssWidth: 320, cssHeight: 240, canvasWidth: 640, canvasHeight: 480, ratio: 2, frameW: 640, frameH: 480, fit: "contain" as const };
    const ev = pointerEvent({ kind: "double_click", cssX: 80, cssY: 60, button: 1, buttons: [], modifiers: [], timestamp: 1 }, g);
    expect(ev).toMatchObject({ type: "double_click", x: 160, y: 120, button: 1, inside: true });
  });
});
