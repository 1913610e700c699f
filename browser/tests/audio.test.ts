// The program's sound: the audio_chunk golden vectors as this client reads them, hello's
// "audio" feature, and the jitter-buffer worklet (audio-worklet.ts) run under stand-ins
// for the AudioWorkletGlobalScope.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as P from "../src/protocol";
import { WORKLET_NAME, WORKLET_SOURCE } from "../src/audio-worklet";

const here = dirname(fileURLToPath(import.meta.url));
const fixture = JSON.parse(readFileSync(join(here, "..", "..", "tests", "fixtures", "server-messages", "audio_chunk.json"), "utf8"));
const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

describe("audio_chunk", () => {
  it("reads the golden vectors as audio headers", () => {
    for (const c of fixture.cases) {
      const { header } = P.unpackEnvelope(hex(c.packedHex));
      expect(P.isAudioHeader(header)).toBe(true);
      expect(P.isFrameHeader(header)).toBe(false);
      expect(header).toMatchObject({ codec: "opus", sample_rate: 48000, duration_us: 20000 });
    }
    expect(P.isAudioHeader({ type: "audio_chunk", seq: 1, timestamp_us: 0, channels: 3 })).toBe(false);
    expect(P.isAudioHeader({ type: "audio_chunk", seq: Infinity, timestamp_us: 0, channels: 1 })).toBe(false);
  });

  it("hello says audio only when asked", () => {
    expect(JSON.parse(P.hello(["image/jpeg"])).features).not.toContain("audio");
    expect(JSON.parse(P.hello(["image/jpeg"], null, true)).features).toEqual([...P.FEATURES, "audio"]);
  });
});

// -- the worklet --------------------------------------------------------------------------

interface Proc {
  port: { onmessage: (e: { data: unknown }) => void; postMessage: (m: unknown) => void };
  process(inputs: unknown[], outputs: Float32Array[][]): boolean;
  underruns: number;
  late: number;
  adjusted: number;
  level: number;
  playing: boolean;
}

function worklet(targetMs = 50, maxMs = 200, driftEvery = 8): { proc: Proc; reports: Record<string, unknown>[] } {
  const reports: Record<string, unknown>[] = [];
  let Ctor: (new (o: unknown) => Proc) | null = null;
  class Base {
    port = { onmessage: (_: { data: unknown }) => {}, postMessage: (m: unknown) => reports.push(m as Record<string, unknown>) };
  }
  const define = new Function("AudioWorkletProcessor", "registerProcessor", "sampleRate", WORKLET_SOURCE);
  define(Base, (name: string, c: new (o: unknown) => Proc) => {
    expect(name).toBe(WORKLET_NAME);
    Ctor = c;
  }, 48000);
  const proc = new Ctor!({ processorOptions: { targetMs, maxMs, driftEvery } });
  return { proc, reports };
}

const packet = (start: number, n = 960): Float32Array[] => [Float32Array.from({ length: n }, (_, i) => start + i)];
const feed = (p: Proc, chs: Float32Array[]) => p.port.onmessage({ data: { type: "pcm", channels: chs } });
function quantum(p: Proc): Float32Array[] {
  const out = [new Float32Array(128), new Float32Array(128)];
  p.process([], [out]);
  return out;
}

describe("the jitter-buffer worklet", () => {
  it("waits for its target, then plays the samples in order on both channels", () => {
    const { proc } = worklet(50);
    feed(proc, packet(1));
    feed(proc, packet(961)); // 40 ms: under the 50 ms target
    expect(quantum(proc)[0].every((x) => x === 0)).toBe(true);
    feed(proc, packet(1921)); // 60 ms
    const out = quantum(proc);
    expect(Array.from(out[0].slice(0, 3))).toEqual([1, 2, 3]);
    expect(Array.from(out[1].slice(0, 3))).toEqual([1, 2, 3]); // mono on both
    expect(proc.playing).toBe(true);
  });

  it("counts an underrun and re-buffers when it runs dry", () => {
    const { proc } = worklet(20);
    feed(proc, packet(1));
    for (let i = 0; i < 7; i++) quantum(proc); // 896 of 960
    const out = quantum(proc); // runs dry in this one
    expect(out[0][63]).toBe(960);
    expect(out[0][64]).toBe(0);
    expect(proc.underruns).toBe(1);
    expect(proc.playing).toBe(false);
  });

  it("drops the oldest packets down to its target over its limit (late)", () => {
    const { proc } = worklet(40, 100);
    for (let i = 0; i < 6; i++) feed(proc, packet(i * 960)); // 120 ms > 100
    expect(proc.late).toBe(4);
    expect(proc.level).toBe(2 * 960);
    expect(quantum(proc)[0][0]).toBe(4 * 960); // the newest 40 ms play
  });

  it("corrects drift by dropping or repeating single frames, slowly", () => {
    // Fed 1 % faster than it plays: the level rises until the drops hold it.
    const { proc } = worklet(40, 1000, 1);
    for (let i = 0; i < 3; i++) feed(proc, packet(0));
    let fed = 0;
    for (let q = 0; q < 4000; q++) {
      quantum(proc);
      fed += 128 * 1.01;
      while (fed >= 960) {
        feed(proc, packet(0));
        fed -= 960;
      }
    }
    expect(proc.adjusted).toBeGreaterThan(0);
    expect(proc.level / 48).toBeLessThan(40 + 15 + 25); // held near target + band
    expect(proc.underruns).toBe(0);
  });

  it("reports its buffer delay", () => {
    const { proc, reports } = worklet(20);
    feed(proc, packet(0));
    for (let i = 0; i < 100; i++) quantum(proc);
    expect(reports.length).toBeGreaterThan(0);
    expect(reports[0]).toMatchObject({ type: "report" });
    expect(typeof reports[0].bufferMs).toBe("number");
  });
});
