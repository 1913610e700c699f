import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as P from "../src/protocol";

const here = dirname(fileURLToPath(import.meta.url));
const pdumDir = join(here, "..", "..", "tests", "fixtures", "pdum-rfb-0.x");

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

interface Fixture {
  name: string;
  header: Record<string, unknown>;
  payloadHex: string;
  packedHex: string;
}

const pdum: Fixture[] = readdirSync(pdumDir)
  .filter((f) => f.endsWith(".json"))
  .map((f) => ({ name: f, ...JSON.parse(readFileSync(join(pdumDir, f), "utf8")) }));
const python: Fixture[] = JSON.parse(readFileSync(join(here, "fixtures", "python.json"), "utf8"));

describe("golden vectors", () => {
  it("has fixtures from both sides", () => {
    expect(pdum.length).toBeGreaterThanOrEqual(3);
    expect(python.length).toBeGreaterThanOrEqual(5);
  });

  for (const f of [...pdum, ...python]) {
    it(`unpacks ${f.name} byte for byte`, () => {
      const packed = hex(f.packedHex);
      const { header, payload } = P.unpackEnvelope(packed.buffer);
      expect(header).toEqual(f.header);
      expect(Object.keys(header)).toEqual(Object.keys(f.header)); // key order kept
      expect(toHex(payload)).toBe(f.payloadHex);
    });
  }

  // Integral floats (pixel_ratio 2.0) print differently in JS; every other vector packs identically.
  for (const f of [...pdum, ...python].filter((f) => !("pixel_ratio" in f.header))) {
    it(`packs ${f.name} byte for byte`, () => {
      expect(toHex(P.packEnvelope(f.header, hex(f.payloadHex)))).toBe(f.packedHex);
    });
  }

  it("pdum's own .bin files match their hex", () => {
    for (const f of pdum) {
      const bin = readFileSync(join(pdumDir, f.name.replace(".json", ".bin")));
      expect(toHex(new Uint8Array(bin))).toBe(f.packedHex);
    }
  });
});

describe("unpackEnvelope", () => {
  it("rejects short and broken buffers", () => {
    expect(() => P.unpackEnvelope(new Uint8Array([1, 0]))).toThrow(P.ProtocolError);
    expect(() => P.unpackEnvelope(new Uint8Array([9, 0, 0, 0, 0x7b]))).toThrow(/exceeds/);
    expect(() => P.unpackEnvelope(new Uint8Array([2, 0, 0, 0, 0x7b, 0x78]))).toThrow(/not JSON/);
    expect(() => P.unpackEnvelope(new Uint8Array([2, 0, 0, 0, 0x5b, 0x5d]))).toThrow(/object/);
  });

  it("works on a view into a larger buffer", () => {
    const packed = P.packEnvelope({ type: "image_frame", seq: 1, width: 1, height: 1 }, new Uint8Array([7, 8]));
    const big = new Uint8Array(packed.length + 10);
    big.set(packed, 5);
    const { header, payload } = P.unpackEnvelope(big.subarray(5, 5 + packed.length));
    expect(header.seq).toBe(1);
    expect(Array.from(payload)).toEqual([7, 8]);
  });

  it("recognises frame headers", () => {
    expect(P.isFrameHeader({ type: "video_chunk", seq: 1, width: 2, height: 2 })).toBe(true);
    expect(P.isFrameHeader({ type: "video_chunk", seq: "1", width: 2, height: 2 })).toBe(false);
    expect(P.isFrameHeader({ type: "config" })).toBe(false);
  });
});

describe("client messages", () => {
  it("builds hello, ack, viewport, event as the server parses them", () => {
    expect(JSON.parse(P.hello([P.CAP_JPEG, P.CAP_H264], "t"))).toEqual({
      type: "hello",
      supported: ["image/jpeg", "webcodecs/h264-annexb"],
      device_pixel_ratio: 1,
      scaled_frames: true,
      features: ["messages", "cursor", "clipboard", "pointer_lock", "exact_still", "control", "presence", "files"],
      token: "t",
    });
    expect(JSON.parse(P.hello([P.CAP_PNG]))).not.toHaveProperty("token");
    expect(JSON.parse(P.ack(5, 1))).toEqual({ type: "ack", seq: 5, decode_queue_size: 1, displayed: true });
    expect(JSON.parse(P.ack(5, 0, true, 1234.56789))).toEqual({ type: "ack", seq: 5, decode_queue_size: 0, displayed: true, received_ms: 1234.568 });
    expect(JSON.parse(P.setViewport({ width: 640, height: 480, pwidth: 1280, pheight: 960, ratio: 2 }))).toEqual({
      type: "set_viewport",
      width: 640,
      height: 480,
      pwidth: 1280,
      pheight: 960,
      ratio: 2,
    });
    expect(JSON.parse(P.event({ type: "key_down", key: "A" }))).toEqual({ type: "event", event: { type: "key_down", key: "A" } });
    expect(JSON.parse(P.requestKeyframe("gap"))).toEqual({ type: "request_keyframe", reason: "gap" });
    expect(JSON.parse(P.decoderReset())).toEqual({ type: "decoder_reset" });
    // RTP timestamps are unsigned 32-bit on the wire, whatever sign JS hands over
    expect(JSON.parse(P.frameShown(4294967295))).toEqual({ type: "frame_shown", rtp_timestamp: 4294967295 });
    expect(JSON.parse(P.frameShown(-1))).toEqual({ type: "frame_shown", rtp_timestamp: 4294967295 });
    expect(JSON.parse(P.frameShown(7, 10.5))).toEqual({ type: "frame_shown", rtp_timestamp: 7, received_ms: 10.5 });
    expect(JSON.parse(P.frameShown(7, null))).toEqual({ type: "frame_shown", rtp_timestamp: 7 });
  });

  it("draws a lower rung at the frame's size, not its coded size", () => {
    const base = { type: "video_chunk", seq: 1, timestamp_us: 0, codec: "avc1.42E01F", bitstream: "annexb", keyframe: true } as const;
    expect(P.frameSize({ ...base, width: 640, height: 360, frame_width: 1280, frame_height: 720 })).toEqual({ width: 1280, height: 720 });
    expect(P.frameSize({ ...base, width: 1280, height: 720 })).toEqual({ width: 1280, height: 720 });
  });

  it("parses server text and rejects typeless messages", () => {
    expect(P.parseServerText('{"type":"config","transport":"image"}').type).toBe("config");
    expect(() => P.parseServerText("[]")).toThrow();
    expect(() => P.parseServerText('{"x":1}')).toThrow();
  });
});
