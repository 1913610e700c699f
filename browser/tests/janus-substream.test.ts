import { describe, expect, it } from "vitest";
import { readEvents, STREAMING } from "../src/janus.js";
import { interval, type ReceiveSample, SUBSTREAM_POLICY, SubstreamPolicy } from "../src/janus-substream.js";

/** A receiver's cumulative figures, one second at a time, on a path that is good or not. */
class Receiver {
  s: ReceiveSample = { at: 0, framesDecoded: 0, packetsReceived: 0, packetsLost: 0, freezeCount: 0, jitterBufferDelay: 0, jitterBufferEmittedCount: 0 };
  second(good: boolean): ReceiveSample {
    const s = this.s;
    this.s = {
      at: s.at + 1000,
      framesDecoded: s.framesDecoded + (good ? 30 : 12),
      packetsReceived: s.packetsReceived + (good ? 100 : 80),
      packetsLost: s.packetsLost + (good ? 0 : 20),
      freezeCount: s.freezeCount + (good ? 0 : 1),
      jitterBufferDelay: s.jitterBufferDelay + (good ? 30 * 0.04 : 12 * 0.4),
      jitterBufferEmittedCount: s.jitterBufferEmittedCount + (good ? 30 : 12),
    };
    return this.s;
  }
}

/** Runs a policy over `seconds` of path; Janus switches at once to what is asked. */
function run(policy: SubstreamPolicy, rx: Receiver, seconds: number, good: (t: number) => boolean): number[] {
  const asked: number[] = [];
  for (let i = 0; i < seconds; i++) {
    const s = rx.second(good(s0(rx)));
    const to = policy.sample(s);
    if (to !== null) {
      asked.push(to);
      if (to <= 2 && to !== policy.substream) policy.switched(to, s.at + 300); // the keyframe comes
    }
  }
  return asked;
}
const s0 = (rx: Receiver): number => rx.s.at / 1000;

describe("Janus simulcast: the substream the path carries", () => {
  it("reads which substream Janus sends from its events", () => {
    const ev = readEvents({ janus: "event", sender: 7, plugindata: { plugin: STREAMING, data: { streaming: "event", result: { mid: "v", substream: 1 } } } }, 7);
    expect(ev.substream).toBe(1);
    expect(readEvents({ janus: "event", sender: 8, plugindata: { data: { result: { substream: 1 } } } }, 7).substream).toBeNull();
  });

  it("judges an interval by loss, freezes and a growing jitter buffer", () => {
    const rx = new Receiver();
    const a = rx.s;
    const good = interval(a, rx.second(true), 40);
    expect(good).toMatchObject({ loss: 0, freezes: 0, fps: 30, bad: false });
    expect(good.delayMs).toBeCloseTo(40);
    const bad = interval(rx.s, rx.second(false), 40);
    expect(bad.loss).toBeCloseTo(0.2);
    expect(bad.bad).toBe(true);
    // Only the delay grows: a queue builds at the bottleneck.
    const b = { ...rx.s, at: rx.s.at + 1000, framesDecoded: rx.s.framesDecoded + 30, packetsReceived: rx.s.packetsReceived + 100,
      jitterBufferDelay: rx.s.jitterBufferDelay + 30 * 0.25, jitterBufferEmittedCount: rx.s.jitterBufferEmittedCount + 30 };
    expect(interval(rx.s, b, 40).bad).toBe(true);
    expect(interval(rx.s, b, 200).bad).toBe(false);
  });

  it("steps down on a path that cannot carry the top, one substream at a time", () => {
    const p = new SubstreamPolicy();
    const rx = new Receiver();
    p.sample(rx.s);
    p.switched(2, 0);
    const asked = run(p, rx, 12, () => false);
    expect(asked).toEqual([1, 0]);
    expect(p.substream).toBe(0);
    expect(p.log.map((l) => l.to)).toEqual([1, 0]);
  });

  it("climbs back when the path recovers, and waits longer after a try that fails", () => {
    const p = new SubstreamPolicy();
    const rx = new Receiver();
    p.sample(rx.s);
    p.switched(2, 0);
    // The path carries substream 1 but not 2.
    const carries = (): boolean => (p.substream ?? 0) <= 1;
    const asked = run(p, rx, 60, carries);
    // Down to 1; a try up after CLIMB_BASE, back down; the next try only after twice as long.
    expect(asked.slice(0, 5)).toEqual([1, 2, 1, 2, 1]);
    const tries = p.log.filter((l) => l.to === 2).map((l) => l.at);
    // A try that fails is short: its keyframe, then one bad interval.
    const back = p.log.find((l) => l.at > tries[0] && l.to === 1);
    expect(back && back.at - tries[0]).toBeLessThanOrEqual(SUBSTREAM_POLICY.probeSettleMs + 2000);
    expect(tries[1] - tries[0]).toBeGreaterThanOrEqual(2 * SUBSTREAM_POLICY.climbBaseMs);
    // Now the path recovers: the next try holds, and the watcher stays on the top.
    const more = run(p, rx, 200, () => true);
    expect(more).toEqual([2]);
    expect(p.substream).toBe(2);
  });

  it("takes a mountpoint with fewer substreams as it is", () => {
    const p = new SubstreamPolicy();
    const rx = new Receiver();
    p.sample(rx.s);
    p.switched(1, 0); // Janus aims at 2, but there is no substream 2
    let asked: number[] = [];
    for (let i = 0; i < 30; i++) {
      const to = p.sample(rx.second(true));
      if (to !== null) asked.push(to); // Janus never switches
    }
    expect(asked).toEqual([1]); // stop aiming at a substream that is not there
    expect(p.top).toBe(1);
    asked = [];
    for (let i = 0; i < 100; i++) {
      const to = p.sample(rx.second(true));
      if (to !== null) asked.push(to);
    }
    expect(asked).toEqual([]);
  });
});
