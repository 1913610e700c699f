// Click-to-photon, the page's half: one sample per stamped input, when its first frame is drawn.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { atOrAfter, DRAWN_HISTORY, PhotonMatcher, RECENT_SAMPLES } from "../src/photon";
import * as P from "../src/protocol";

describe("PhotonMatcher", () => {
  it("numbers inputs 1, 2, 3 ... and times a stamped one from send to draw", () => {
    const m = new PhotonMatcher();
    expect([m.sent(0), m.sent(5), m.sent(10)]).toEqual([1, 2, 3]);
    expect(m.note(7, 3)).toBeNull(); // frame 7 first reflects input 3; not drawn yet
    expect(m.drawnFrame(6, 40)).toEqual([]);
    expect(m.drawnFrame(7, 52)).toEqual([{ seq: 3, ms: 42, at: 52 }]);
    expect(m.figures()).toMatchObject({ count: 1, lastMs: 42, p50Ms: 42, p95Ms: 42, recent: [{ seq: 3, ms: 42, at: 52 }] });
  });

  it("makes no sample from frames without a stamp, however many are drawn", () => {
    const m = new PhotonMatcher();
    m.sent(0);
    for (let k = 0; k < 100; k++) expect(m.drawnFrame(k, k * 16)).toEqual([]);
    expect(m.figures().count).toBe(0);
  });

  it("samples an input once: a repeated stamp or a later frame makes none", () => {
    const m = new PhotonMatcher();
    m.sent(0);
    m.note(3, 1);
    expect(m.drawnFrame(3, 30)).toHaveLength(1);
    expect(m.note(4, 1)).toBeNull(); // the same number again (a reconnect, a repeat)
    expect(m.drawnFrame(4, 46)).toEqual([]);
    expect(m.drawnFrame(5, 62)).toEqual([]);
    expect(m.figures().count).toBe(1);
  });

  it("forgets older inputs (never taken, dropped) once a newer one is matched", () => {
    const m = new PhotonMatcher();
    m.sent(0); // 1: dropped by the server, never stamped
    m.sent(10); // 2: taken
    m.note(9, 2);
    expect(m.drawnFrame(9, 60)).toEqual([{ seq: 2, ms: 50, at: 60 }]);
    m.note(10, 1); // a stamp for 1 now would be stale: nothing
    expect(m.drawnFrame(10, 76)).toEqual([]);
  });

  it("carries a stamp forward to the next frame drawn when its own frame was not", () => {
    const m = new PhotonMatcher();
    m.sent(100);
    m.note(5, 1); // frame 5 carried it but was dropped before drawing
    expect(m.drawnFrame(6, 150)).toEqual([{ seq: 1, ms: 50, at: 150 }]);
  });

  it("matches a note that arrives after its frame was drawn (WebRTC's data channel)", () => {
    const m = new PhotonMatcher();
    m.sent(0);
    m.drawnFrame(1000, 20);
    m.drawnFrame(4000, 53);
    m.drawnFrame(7000, 86);
    expect(m.note(4000, 1)).toEqual({ seq: 1, ms: 53, at: 53 });
  });

  it("compares RTP timestamps across the 32-bit wrap", () => {
    expect(atOrAfter(5, 0xfffffff0)).toBe(true);
    expect(atOrAfter(0xfffffff0, 5)).toBe(false);
    const m = new PhotonMatcher();
    m.sent(0);
    m.note(0xfffffff0, 1);
    expect(m.drawnFrame(0x10, 33)).toEqual([{ seq: 1, ms: 33, at: 33 }]);
  });

  it("drops notes and drawn frames on reset (frame keys start over)", () => {
    const m = new PhotonMatcher();
    m.sent(0);
    m.note(50, 1);
    m.reset();
    expect(m.drawnFrame(60, 10)).toEqual([]); // a new connection's frame 60 is not the old one's
    expect(m.note(61, 1)).toBeNull();
    expect(m.drawnFrame(61, 30)).toEqual([{ seq: 1, ms: 30, at: 30 }]);
  });

  it("keeps at most RECENT_SAMPLES for the figures and DRAWN_HISTORY frames", () => {
    const m = new PhotonMatcher();
    for (let i = 1; i <= RECENT_SAMPLES + 10; i++) {
      m.sent(i * 100);
      m.note(i, i);
      m.drawnFrame(i, i * 100 + i);
    }
    const f = m.figures();
    expect(f.count).toBe(RECENT_SAMPLES + 10);
    expect(f.recent).toHaveLength(RECENT_SAMPLES);
    expect(f.lastMs).toBe(RECENT_SAMPLES + 10);
    for (let k = 0; k < DRAWN_HISTORY + 5; k++) m.drawnFrame(1000 + k, 0);
    m.sent(0);
    expect(m.note(0, RECENT_SAMPLES + 11)).toBeNull(); // frame 0 is older than the history
    expect(m.drawnFrame(2000, 10)).toEqual([]); // ...and not kept for a later frame either
    expect(m.note(1100, RECENT_SAMPLES + 11)).toEqual({ seq: RECENT_SAMPLES + 11, ms: 0, at: 0 });
  });

  it("never samples an input it did not send, whatever the stamps and draws (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ op: fc.constant("send") }), fc.record({ op: fc.constant("note"), key: fc.nat(50), seq: fc.nat(60) }), fc.record({ op: fc.constant("draw"), key: fc.nat(50) })), { maxLength: 80 }),
        (ops) => {
          const m = new PhotonMatcher();
          let sent = 0;
          let now = 0;
          const seen = new Set<number>();
          for (const o of ops) {
            now += 5;
            const out = o.op === "send" ? (m.sent(now), sent++, []) : o.op === "note" ? [m.note(o.key, o.seq)].filter((s) => s !== null) : m.drawnFrame(o.key, now);
            for (const s of out) {
              expect(s!.seq).toBeGreaterThanOrEqual(1);
              expect(s!.seq).toBeLessThanOrEqual(sent);
              expect(s!.ms).toBeGreaterThanOrEqual(0);
              expect(seen.has(s!.seq)).toBe(false);
              seen.add(s!.seq);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("click-to-photon messages", () => {
  it("number input events and report samples as the server parses them", () => {
    expect(JSON.parse(P.event({ type: "pointer_down", x: 1, y: 2 }, 7))).toEqual({ type: "event", event: { type: "pointer_down", x: 1, y: 2 }, input_seq: 7 });
    expect(JSON.parse(P.event({ type: "key_down", key: "a" }))).toEqual({ type: "event", event: { type: "key_down", key: "a" } });
    expect(JSON.parse(P.inputPhoton(7, 41.23456))).toEqual({ type: "input_photon", input_seq: 7, ms: 41.235 });
  });

  it("read the input_frame note, and refuse a malformed one", () => {
    expect(P.inputFrameOf({ type: "input_frame", rtp_timestamp: 90000, input_seq: 3 })).toEqual({ rtp: 90000, seq: 3 });
    expect(P.inputFrameOf({ type: "input_frame", rtp_timestamp: -1, input_seq: 3 })).toBeNull();
    expect(P.inputFrameOf({ type: "input_frame", rtp_timestamp: 2 ** 32, input_seq: 3 })).toBeNull();
    expect(P.inputFrameOf({ type: "input_frame", rtp_timestamp: 1, input_seq: "3" })).toBeNull();
  });
});
