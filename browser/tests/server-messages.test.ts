// Server -> client messages: the golden vectors the Python encoders are held to
// (tests/fixtures/server-messages/, asserted byte for byte in tests/unit/test_protocol.py) are
// what this client parses, field for field and in key order.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as P from "../src/protocol";

const here = dirname(fileURLToPath(import.meta.url));
const dir = join(here, "..", "..", "tests", "fixtures", "server-messages");

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

interface TextCase {
  name: string;
  text: string;
  message: Record<string, unknown>;
}
interface EnvelopeCase {
  name: string;
  header: Record<string, unknown>;
  payloadHex: string;
  packedHex: string;
}
interface Doc {
  type: string;
  cases: (TextCase | EnvelopeCase)[];
}

const docs: Doc[] = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as Doc);
const texts = docs.flatMap((d) => d.cases.filter((c): c is TextCase => "text" in c).map((c) => ({ type: d.type, ...c })));
const envelopes = docs.flatMap((d) =>
  d.cases.filter((c): c is EnvelopeCase => "packedHex" in c).map((c) => ({ type: d.type, ...c })),
);
const byType = (type: string) => texts.filter((c) => c.type === type).map((c) => P.parseServerText(c.text));
// The messages P.ServerMessage leaves open (what the application says), as their fields.
const fieldsOf = (type: string) => byType(type) as Record<string, unknown>[];

// Python prints an integral float as 30.0, JavaScript as 30: such texts parse the same but
// do not re-serialise byte for byte.
const integralFloat = /[:[,]-?\d+\.0(?=[,}\]])/;

describe("server message golden vectors", () => {
  it("cover every server -> client message type", () => {
    expect(docs.map((d) => d.type).sort()).toEqual(
      ["audio_chunk", "clipboard", "close", "config", "control", "cursor", "file_chunk", "file_offer", "file_status", "image_frame", "input_frame", "message", "pointer_lock", "pointers", "stats", "video_chunk", "viewers"],
    );
    // Every feature a client can announce in hello has a message type here.
    const kinds: Record<string, string> = { messages: "message", cursor: "cursor", clipboard: "clipboard", pointer_lock: "pointer_lock", control: "control", presence: "viewers", files: "file_offer" };
    for (const f of P.FEATURES) {
      if (f === "exact_still") expect(envelopes.some((c) => c.header.exact === true)).toBe(true);
      else expect(byType(kinds[f]).length).toBeGreaterThan(0);
    }
  });

  for (const c of texts) {
    it(`parses ${c.type} ${c.name} field for field, keys in order`, () => {
      const m = P.parseServerText(c.text);
      expect(m.type).toBe(c.type);
      expect(m).toEqual(c.message);
      expect(Object.keys(m)).toEqual(Object.keys(c.message));
    });
  }

  // config, stats and close are ASCII with \uXXXX escapes (as Python's ensure_ascii);
  // what the application says is UTF-8 as is.
  for (const c of texts.filter((c) => !integralFloat.test(c.text))) {
    it(`re-serialises ${c.type} ${c.name} byte for byte`, () => {
      const m = P.parseServerText(c.text);
      const ascii = /^[\x20-\x7e]*$/.test(c.text);
      expect(ascii ? P.asciiJson(m) : JSON.stringify(m)).toBe(c.text);
    });
  }

  for (const c of envelopes) {
    it(`unpacks ${c.type} ${c.name} byte for byte`, () => {
      const { header, payload } = P.unpackEnvelope(hex(c.packedHex));
      expect(header).toEqual(c.header);
      expect(Object.keys(header)).toEqual(Object.keys(c.header));
      expect(toHex(payload)).toBe(c.payloadHex);
      expect(header.type).toBe(c.type);
      expect(P.isFrameHeader(header)).toBe(c.type === "image_frame" || c.type === "video_chunk");
      expect(toHex(P.packEnvelope(c.header, hex(c.payloadHex)))).toBe(c.packedHex);
    });
  }
});

describe("server messages as this client reads them", () => {
  it("config", () => {
    const all = byType("config") as P.ConfigMessage[];
    for (const m of all) {
      expect(m.coords).toBe("frame-pixels");
      expect(["image", "webcodecs", "webrtc"]).toContain(m.transport);
      expect(Number.isInteger(m.width) && Number.isInteger(m.height)).toBe(true);
      expect(typeof m.client_id).toBe("string");
    }
    const image = all.find((m) => m.transport === "image" && m.mime === "image/jpeg");
    expect(image?.codec).toBeUndefined();
    const ws = all.find((m) => m.transport === "webcodecs");
    expect(ws).toMatchObject({ codec: "avc1.42C01F", view_only: true, webrtc: "/cam/whep" });
    expect(ws?.color).toEqual({ primaries: "bt709", transfer: "iec61966-2-1", matrix: "smpte170m", full_range: false, bit_depth: 8 });
    const rtc = all.find((m) => m.transport === "webrtc") as (P.ConfigMessage & { ice_servers?: unknown }) | undefined;
    expect(rtc?.codec).toBeUndefined(); // before the first unit: the frames say it
    expect(rtc?.ice_servers).toEqual([]);
    expect(all.find((m) => m.client_id === "vé")).toBeDefined(); // \u00e9 decoded
  });

  it("stats", () => {
    const all = byType("stats") as P.StatsMessage[];
    const adapted = all.filter((m) => typeof m.rung === "number");
    expect(adapted.length).toBe(2);
    for (const m of adapted) {
      for (const k of ["rungs", "target_rung", "rung_width", "rung_height", "rung_quality", "estimate_bps", "queue_ms", "rung_switches", "adapt_reason"]) {
        expect(k in m).toBe(true);
      }
    }
    const bare = all.find((m) => m.rung === undefined);
    expect(bare).toMatchObject({ rtt_ms: null, latency_ms: null, latency_source: null, viewers: 1 });
    const rtc = all.find((m) => m.latency_source === "shown");
    expect(rtc).toMatchObject({ keyframe_requests: 4, remb_bps: 2500000, fraction_lost: 0.0125, pacing_bps: 3125000 });
  });

  it("what the application says", () => {
    expect(fieldsOf("message").map((m) => m.data)).toEqual([{ speed: 2, label: "vitesse é ✓" }, null, [1, 2.5, "two", true, { k: [] }]]);
    const [byName, withImage] = fieldsOf("cursor");
    expect(byName).toEqual({ type: "cursor", cursor: "crosshair" });
    expect(withImage.image).toMatch(/^data:image\/png;base64,/);
    expect(withImage.hotspot).toEqual([3, 4]);
    expect(fieldsOf("clipboard")[0].text).toBe('copied ✓\n"quoted" 😀');
    expect(fieldsOf("pointer_lock").map((m) => m.lock)).toEqual([true, false]);
  });

  it("close (the WebRTC data channel's goodbye)", () => {
    const codes = JSON.parse(readFileSync(join(here, "fixtures", "close-codes.json"), "utf8"));
    expect(byType("close")).toEqual([{ type: "close", code: codes.GOING_AWAY, reason: "server shutting down" }]);
  });

  it("frame headers: the frame's size when the picture is coded smaller", () => {
    const frames = envelopes.filter((c) => c.type === "image_frame" || c.type === "video_chunk");
    const sizes = frames.map((c) => P.frameSize(P.unpackEnvelope(hex(c.packedHex)).header as unknown as P.FrameHeader));
    const names = frames.map((c) => `${c.type} ${c.name}`);
    expect(Object.fromEntries(names.map((n, i) => [n, [sizes[i].width, sizes[i].height]]))).toEqual({
      "image_frame exact_still": [640, 480],
      "image_frame exact_still_webrtc": [640, 480],
      "image_frame jpeg": [1280, 720],
      "image_frame jpeg_input_seq": [1280, 720],
      "image_frame pixel_ratio_same_size": [64, 64],
      "image_frame scaled_rung": [1280, 720],
      "video_chunk delta": [1280, 720],
      "video_chunk delta_input_seq": [1280, 720],
      "video_chunk keyframe_scaled": [1280, 720],
      "video_chunk no_duration": [2, 2],
    });
  });

  it("frame headers and the input_frame note: the input a frame first reflects (click-to-photon)", () => {
    const stamped = envelopes.filter((c) => typeof c.header.input_seq === "number");
    expect(stamped.map((c) => [c.type, (P.unpackEnvelope(hex(c.packedHex)).header as unknown as P.FrameHeader).input_seq])).toEqual([
      ["image_frame", 7],
      ["video_chunk", 42],
    ]);
    const notes = byType("input_frame").map((m) => P.inputFrameOf(m as Record<string, unknown>));
    expect(notes).toEqual([{ rtp: 3735928559, seq: 42 }]);
  });
});
