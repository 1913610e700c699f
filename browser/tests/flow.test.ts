import { describe, expect, it } from "vitest";
import { Backoff, ImageScheduler, PendingChunks } from "../src/flow";
import { KeyframeGate } from "../src/keyframe-gate";

describe("KeyframeGate", () => {
  it("drops deltas until a keyframe, asking at most every interval", () => {
    const g = new KeyframeGate(500);
    expect(g.admit(false, 0)).toEqual({ decode: false, request: true });
    expect(g.admit(false, 100)).toEqual({ decode: false, request: false });
    expect(g.admit(false, 600)).toEqual({ decode: false, request: true });
    expect(g.admit(true, 700)).toEqual({ decode: true, request: false });
    expect(g.admit(false, 733)).toEqual({ decode: true, request: false });
    g.close(); // decoder reset or reconfigure
    expect(g.isOpen).toBe(false);
    expect(g.admit(false, 800)).toEqual({ decode: false, request: false }); // asked 100 ms ago
    expect(g.admit(false, 1200)).toEqual({ decode: false, request: true });
  });
});

describe("ImageScheduler", () => {
  it("decodes one at a time and lets the newest waiting frame win", () => {
    const s = new ImageScheduler<{ seq: number }>(1);
    expect(s.push({ seq: 1 })).toEqual({ start: { seq: 1 }, dropped: null });
    expect(s.push({ seq: 2 })).toEqual({ start: null, dropped: null });
    expect(s.push({ seq: 3 })).toEqual({ start: null, dropped: { seq: 2 } });
    expect(s.done()).toEqual({ seq: 3 });
    expect(s.done()).toBeNull();
    expect(s.busy).toBe(0);
  });

  it("allows maxInflight decodes in parallel", () => {
    const s = new ImageScheduler<{ seq: number }>(2);
    expect(s.push({ seq: 1 }).start).toEqual({ seq: 1 });
    expect(s.push({ seq: 2 }).start).toEqual({ seq: 2 });
    expect(s.push({ seq: 3 }).start).toBeNull();
    expect(s.busy).toBe(2);
  });
});

describe("PendingChunks", () => {
  it("maps decoder output back to its seq and forgets what the decoder skipped", () => {
    const p = new PendingChunks();
    p.submit(1, 100, 0);
    p.submit(2, 200, 5);
    p.submit(3, 300, 10);
    expect(p.output(2, 12)).toBe(7);
    expect(p.size).toBe(1); // seq 1 will never come out
    expect(p.oldestAgeMs(20)).toBe(10);
    expect(p.output(1, 30)).toBeNull();
    p.clear();
    expect(p.oldestAgeMs(100)).toBe(0);
  });

  it("keeps each chunk's frame size, for rungs coded smaller than the frame", () => {
    const p = new PendingChunks();
    p.submit(1, 0, 3, 1280, 720);
    p.submit(2, 0, 4, 1280, 720);
    expect(p.take(2)).toEqual({ submittedAt: 4, timestampUs: 0, frameW: 1280, frameH: 720 });
    expect(p.take(1)).toBeNull();
  });
});

describe("Backoff", () => {
  it("doubles to a cap and resets", () => {
    const b = new Backoff(250, 2000);
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([250, 500, 1000, 2000, 2000]);
    b.reset();
    expect(b.next()).toBe(250);
  });
});

import { decodeTimecode, latencyMs } from "../src/timecode";

describe("timecode", () => {
  it("decodes the 32 blocks MSB first and measures across the wrap", () => {
    const value = 0xdeadbeef;
    const lumas = Array.from({ length: 32 }, (_, k) => ((value >>> (31 - k)) & 1 ? 240 : 20));
    expect(decodeTimecode(lumas)).toBe(value);
    expect(latencyMs(1000, 1042)).toBe(42);
    expect(latencyMs(2 ** 32 - 10, 2 ** 32 + 5)).toBe(15);
  });
});
