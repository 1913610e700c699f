// Exact stills: the data channel's part framing and what may be drawn over an exact picture.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ExactHold, PART_MAX, PART_PREFIX, PartAssembler, splitParts } from "../src/exact-still";

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe("data channel parts", () => {
  it("reassemble any message split into parts of at most 64 KiB", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 * PART_MAX + 17 }), fc.integer({ min: 0, max: 0xffffffff }), (n, id) => {
        const msg = bytes(n, id & 0xff);
        const parts = splitParts(msg, id);
        expect(parts.every((p) => p.byteLength <= PART_MAX && p.byteLength >= PART_PREFIX)).toBe(true);
        const asm = new PartAssembler();
        const out = parts.map((p) => asm.push(p));
        expect(out.slice(0, -1).every((o) => o === null)).toBe(true);
        expect(out[out.length - 1]).toEqual(msg);
      }),
      { numRuns: 40 },
    );
  });

  it("match the server's framing: id, index, count little-endian", () => {
    const parts = splitParts(bytes(PART_MAX), 0x01020304);
    expect(parts.length).toBe(2);
    expect(Array.from(parts[1].subarray(0, PART_PREFIX))).toEqual([4, 3, 2, 1, 1, 0, 2, 0]);
    expect(parts[0].byteLength).toBe(PART_MAX);
  });

  it("drop a message whose parts are mixed with another's, and recover with the next", () => {
    const a = splitParts(bytes(2 * PART_MAX), 1);
    const b = splitParts(bytes(PART_MAX + 5, 9), 2);
    const asm = new PartAssembler();
    expect(asm.push(a[0])).toBeNull();
    expect(asm.push(b[1])).toBeNull(); // not the next part of message 1
    expect(asm.push(a[1])).toBeNull(); // message 1 was dropped
    expect(asm.push(b[0])).toBeNull();
    expect(asm.push(b[1])).toEqual(bytes(PART_MAX + 5, 9));
    expect(asm.push(new Uint8Array(3))).toBeNull(); // too short to be a part
    expect(asm.push(splitParts(bytes(10), 3)[0])).toEqual(bytes(10));
  });
});

describe("exact hold", () => {
  it("keeps an exact picture over a repeated keyframe of the same frame, not over a new frame", () => {
    const hold = new ExactHold();
    expect(hold.admit({ timestampUs: 100 })).toBe(true);
    expect(hold.admit({ timestampUs: 100, exact: true })).toBe(true);
    expect(hold.holding).toBe(true);
    expect(hold.admit({ timestampUs: 100 })).toBe(false); // a repeated IDR of that frame
    expect(hold.admit({ timestampUs: 133 })).toBe(true); // motion again
    expect(hold.holding).toBe(false);
    expect(hold.admit({ timestampUs: 100, exact: true })).toBe(false); // stale: a newer frame is shown
  });

  it("over WebRTC matches RTP timestamps within a few ticks, wrapping at 2^32", () => {
    const hold = new ExactHold();
    expect(hold.admit({ timestampUs: 5, exact: true, exactRtp: 0xfffffffe })).toBe(true);
    expect(hold.admit({ rtp: 0xfffffffe })).toBe(false);
    expect(hold.admit({ rtp: 1 })).toBe(false); // re-encoded a few ticks on, wrapped
    expect(hold.admit({ rtp: 3000 })).toBe(true);
  });

  it("draws everything when it cannot tell (no timestamps), and after clear()", () => {
    const hold = new ExactHold();
    hold.admit({ timestampUs: 7, exact: true, exactRtp: null });
    expect(hold.admit({ rtp: 12345 })).toBe(true);
    hold.admit({ timestampUs: 7, exact: true });
    hold.clear();
    expect(hold.admit({ timestampUs: 7 })).toBe(true);
    expect(hold.admit(undefined)).toBe(true);
  });
});
