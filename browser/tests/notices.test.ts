import { describe, expect, it } from "vitest";
import { cssCursor } from "../src/cursor";
import { clipboardText, mergeMoves, MoveCoalescer, pointerEvent, type PointerInput } from "../src/input";
import { appMessage, FEATURES, hello, MAX_APP_MESSAGE_BYTES } from "../src/protocol";

describe("cursor", () => {
  it("takes CSS names and checked image URLs only", () => {
    expect(cssCursor("crosshair")).toBe("crosshair");
    expect(cssCursor("url(evil)")).toBe("default");
    const png = "data:image/png;base64,iVBORw0KGgo=";
    expect(cssCursor("pointer", png, [4, 5])).toBe(`url("${png}") 4 5, pointer`);
    expect(cssCursor("pointer", "javascript:alert(1)", [0, 0])).toBe("pointer");
    expect(cssCursor("pointer", 'data:image/png;base64,AA") , url(x', [0, 0])).toBe("pointer");
    expect(cssCursor("pointer", png, [-1, 2])).toBe(`url("${png}"), pointer`);
  });
});

describe("application messages", () => {
  it("are events the server delivers, bounded in size", () => {
    expect(JSON.parse(appMessage({ speed: 2 }, 5))).toEqual({ type: "event", event: { type: "message", data: { speed: 2 }, timestamp: 5 } });
    expect(() => appMessage("x".repeat(MAX_APP_MESSAGE_BYTES), 0)).toThrow(RangeError);
    expect(() => appMessage(undefined, 0)).toThrow(TypeError); // JSON would drop it
    expect(() => appMessage(() => 1, 0)).toThrow(TypeError);
    expect(JSON.parse(appMessage(null, 0)).event.data).toBeNull();
    const big = { a: 1n } as unknown;
    expect(() => appMessage(big, 0)).toThrow(TypeError);
  });
  it("hello says which server messages this client understands", () => {
    expect(JSON.parse(hello(["image/jpeg"])).features).toEqual(FEATURES);
  });
});

describe("clipboard text", () => {
  it("is cut by code points and by JSON bytes, never inside a pair", () => {
    expect(clipboardText("abc", 2, 100)).toBe("ab");
    expect(clipboardText("日本語", 10, 7)).toBe("日本"); // 3 bytes each
    expect(clipboardText("😀😀", 10, 5)).toBe("😀");
    expect(clipboardText('a"\n', 10, 3)).toBe("a\""); // a quote is 2 bytes escaped; \n is \u000a-ish
  });
});

describe("pointer lock", () => {
  const move = (dx: number, locked = true): PointerInput => ({ kind: "pointer_move", cssX: 5, cssY: 5, button: 0, buttons: [], modifiers: [], timestamp: 0, locked, moveX: dx, moveY: -dx });
  it("adds up relative motion when moves are coalesced", () => {
    const out: PointerInput[] = [];
    const c = new MoveCoalescer<PointerInput>((i) => out.push(i), mergeMoves);
    c.move(move(3), 1);
    c.move(move(4), 1);
    c.flush();
    expect([out[0].moveX, out[0].moveY]).toEqual([7, -7]);
    expect(mergeMoves(move(3, false), move(4)).moveX).toBe(4);
  });
  it("sends dx, dy and locked on a locked move", () => {
    const g = { cssWidth: 10, cssHeight: 10, canvasWidth: 10, canvasHeight: 10, ratio: 1, frameW: 10, frameH: 10, fit: "contain" as const };
    expect(pointerEvent(move(3), g)).toMatchObject({ type: "pointer_move", locked: true, dx: 3, dy: -3, x: 5, y: 5 });
    expect(pointerEvent(move(3, false), g)).not.toHaveProperty("dx");
  });
});
