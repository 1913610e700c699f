// Property-based fuzzing (fast-check) of what parses untrusted input: the binary envelope
// unpacker, the server's text control messages, and the DOM input normaliser.
// The requirement: a fuzzed input never escapes the parser as anything but the protocol's
// own error (ProtocolError), and the normaliser never throws and only ever produces events
// the server accepts (rfb/protocol.py validate_input_event, docs/internals/protocol.md).
//
// Runs are deterministic (a fixed seed); FC_SEED=<n> or FC_SEED=random explores others,
// FC_RUNS=<n> runs more. A failure prints the seed and the shrunk counterexample.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backingSize, frameToCanvas, layout, type Fit } from "../src/geometry";
import {
  keyEvent,
  mapButton,
  mapButtons,
  modifiers,
  pointerEvent,
  wheelPixels,
  type KeyInput,
  type PointerGeometry,
  type PointerInput,
} from "../src/input";
import * as P from "../src/protocol";

const seedEnv = process.env.FC_SEED;
const RUNS = Number(process.env.FC_RUNS) || 1000;
fc.configureGlobal({
  numRuns: RUNS,
  includeErrorInReport: true,
  ...(seedEnv === "random" ? {} : { seed: seedEnv ? Number(seedEnv) : 20240917 }),
});

const enc = new TextEncoder();

/** Run `f`; it may return anything or throw a ProtocolError, and nothing else. */
function onlyProtocolErrors<T>(f: () => T): { ok: true; value: T } | { ok: false; error: P.ProtocolError } {
  try {
    return { ok: true, value: f() };
  } catch (err) {
    if (!(err instanceof P.ProtocolError)) {
      throw new Error(`escaped as ${Object.prototype.toString.call(err)} ${String(err)}`);
    }
    expect(err.message.length).toBeGreaterThan(0);
    return { ok: false, error: err };
  }
}

/** The JSON a value turns into on the wire, parsed back (what a peer sees). */
const wire = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

// -- the binary envelope -----------------------------------------------------------------

/** A valid-looking frame header, with fields dropped, retyped or made huge at random. */
const frameHeaderish = fc
  .record(
    {
      type: fc.oneof(fc.constantFrom("image_frame", "video_chunk", "config", ""), fc.jsonValue()),
      seq: fc.oneof(fc.nat(), fc.double(), fc.constantFrom("1", null, true, 2 ** 53, -1)),
      timestamp_us: fc.oneof(fc.nat(), fc.jsonValue()),
      width: fc.oneof(fc.integer({ min: -10, max: 1 << 16 }), fc.double(), fc.jsonValue()),
      height: fc.oneof(fc.integer({ min: -10, max: 1 << 16 }), fc.double(), fc.jsonValue()),
      frame_width: fc.oneof(fc.integer({ min: -10, max: 1 << 16 }), fc.jsonValue()),
      frame_height: fc.oneof(fc.integer({ min: -10, max: 1 << 16 }), fc.jsonValue()),
      mime: fc.oneof(fc.constant("image/jpeg"), fc.jsonValue()),
      keyframe: fc.oneof(fc.boolean(), fc.jsonValue()),
    },
    { requiredKeys: [] },
  )
  .map((h) => JSON.stringify(h));

/** Header text that is almost right: JSON with huge numbers, not an object, cut short, garbled. */
const headerText = fc.oneof(
  fc.json(),
  frameHeaderish,
  fc.jsonValue().map((v) => JSON.stringify(v)), // arrays, strings, numbers, null
  fc.string({ unit: "binary" }),
  // huge and odd numbers JSON.parse accepts (1e400 is Infinity)
  fc
    .constantFrom("1e400", "-1e400", "1e-400", "123456789012345678901234567890", "-0", "0.1e308")
    .chain((n) =>
      fc.constantFrom(
        `{"type":"image_frame","seq":${n},"width":1,"height":1}`,
        `{"type":"video_chunk","seq":1,"width":${n},"height":${n}}`,
        `{"type":"image_frame","seq":1,"width":2,"height":2,"frame_width":${n},"frame_height":${n}}`,
        n,
      ),
    ),
  // deep nesting
  fc.integer({ min: 1, max: 20000 }).map((d) => "[".repeat(d) + "]".repeat(d)),
  fc.integer({ min: 1, max: 20000 }).map((d) => '{"a":'.repeat(d) + "1" + "}".repeat(d)),
  // JSON text cut short, or with one character replaced
  fc.tuple(fc.json(), fc.nat()).map(([s, k]) => s.slice(0, k % (s.length + 1))),
  fc.tuple(fc.json(), fc.nat(), fc.string({ minLength: 1, maxLength: 1, unit: "binary" })).map(
    ([s, k, c]) => (s.length ? s.slice(0, k % s.length) + c + s.slice((k % s.length) + 1) : c),
  ),
);

/** Header bytes: encoded text, or bytes that are not UTF-8 at all. */
const headerBytes = fc.oneof(
  { weight: 4, arbitrary: headerText.map((s) => enc.encode(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom(new Uint8Array([0x7b, 0xff, 0x7d]), new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]), new Uint8Array([0xc0])) },
);

/** An envelope with a right, wrong, or absurd length prefix, maybe cut short. */
const nearEnvelope = fc
  .record({
    head: headerBytes,
    payload: fc.uint8Array({ maxLength: 32 }),
    prefix: fc.oneof(
      { weight: 4, arbitrary: fc.constant("right" as const) },
      { weight: 1, arbitrary: fc.constantFrom(0, 1, 0xffffffff, 0x80000000, 0x7fffffff) },
      { weight: 1, arbitrary: fc.nat({ max: 64 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
    ),
    cut: fc.option(fc.nat(), { freq: 4 }),
  })
  .map(({ head, payload, prefix, cut }) => {
    const whole = concat(u32le(prefix === "right" ? head.byteLength : prefix), head, payload);
    return cut === null ? whole : whole.subarray(0, cut % (whole.byteLength + 1));
  });

/** The same bytes as an ArrayBuffer, a Uint8Array, or a view into a larger buffer. */
function asInputs(bytes: Uint8Array, offset: number): (ArrayBuffer | Uint8Array)[] {
  const big = new Uint8Array(bytes.byteLength + offset + 3).fill(0x7b);
  big.set(bytes, offset);
  const buf = bytes.slice().buffer;
  return [buf, new Uint8Array(buf), big.subarray(offset, offset + bytes.byteLength)];
}

function checkUnpacked(input: ArrayBuffer | Uint8Array, total: number): void {
  const r = onlyProtocolErrors(() => P.unpackEnvelope(input));
  if (!r.ok) return;
  const { header, payload } = r.value;
  // a well-formed result: a JSON object header and a payload view of the rest
  expect(typeof header === "object" && header !== null && !Array.isArray(header)).toBe(true);
  expect(payload).toBeInstanceOf(Uint8Array);
  const n = new DataView(payload.buffer, payload.byteOffset - (total - payload.byteLength), 4).getUint32(0, true);
  expect(payload.byteLength).toBe(total - 4 - n);
  // what the worker does with it next must not throw either, and a frame header it accepts
  // has the numbers acks and geometry are computed from
  if (P.isFrameHeader(header)) {
    expect(Number.isFinite(header.seq)).toBe(true);
    expect(Number.isFinite(header.width)).toBe(true);
    expect(Number.isFinite(header.height)).toBe(true);
    const size = P.frameSize(header);
    expect(Number.isFinite(size.width) && Number.isFinite(size.height)).toBe(true);
  }
}

describe("fuzz: unpackEnvelope", () => {
  it("arbitrary bytes unpack or raise ProtocolError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat({ max: 7 }), (bytes, offset) => {
        for (const input of asInputs(bytes, offset)) checkUnpacked(input, bytes.byteLength);
      }),
    );
  });

  it("near-valid envelopes unpack or raise ProtocolError", () => {
    fc.assert(
      fc.property(nearEnvelope, fc.nat({ max: 7 }), (bytes, offset) => {
        for (const input of asInputs(bytes, offset)) checkUnpacked(input, bytes.byteLength);
      }),
      { numRuns: 2 * RUNS },
    );
  });

  it("a header length beyond the message is a ProtocolError naming it", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: 0xffffffff }), (rest, extra) => {
        const n = Math.min(rest.byteLength + extra, 0xffffffff);
        expect(() => P.unpackEnvelope(concat(u32le(n), rest))).toThrow(P.ProtocolError);
        expect(() => P.unpackEnvelope(concat(u32le(n), rest))).toThrow(/exceeds/);
      }),
    );
  });

  it("headers that are JSON but not objects are a ProtocolError", () => {
    const notObject = fc.oneof(fc.array(fc.jsonValue(), { maxLength: 4 }), fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
    fc.assert(
      fc.property(notObject, fc.uint8Array({ maxLength: 8 }), (v, payload) => {
        const head = enc.encode(JSON.stringify(v));
        expect(() => P.unpackEnvelope(concat(u32le(head.byteLength), head, payload))).toThrow(P.ProtocolError);
      }),
    );
  });

  it("round-trips packEnvelope for any JSON-object header and payload", () => {
    const header = fc.dictionary(fc.string({ unit: "binary" }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 });
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 64 }), (h, payload) => {
        const packed = P.packEnvelope(h, payload);
        // the header is ASCII-only JSON (non-ASCII escaped as \uXXXX), length-prefixed LE
        const n = new DataView(packed.buffer).getUint32(0, true);
        expect(packed.byteLength).toBe(4 + n + payload.byteLength);
        expect(packed.subarray(4, 4 + n).every((b) => b < 0x80)).toBe(true);
        const out = P.unpackEnvelope(packed);
        expect(out.header).toEqual(wire(h));
        expect(Object.keys(out.header)).toEqual(Object.keys(wire(h) as object)); // key order kept
        expect(Array.from(out.payload)).toEqual(Array.from(payload));
      }),
    );
  });
});

// -- text control messages from the server -----------------------------------------------

describe("fuzz: parseServerText", () => {
  const checkParsed = (text: string) => {
    const r = onlyProtocolErrors(() => P.parseServerText(text));
    if (!r.ok) return;
    expect(typeof r.value).toBe("object");
    expect(Array.isArray(r.value)).toBe(false);
    expect(typeof r.value.type).toBe("string");
  };

  it("arbitrary text parses to a typed message or raises ProtocolError", () => {
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), headerText), checkParsed), { numRuns: 2 * RUNS });
  });

  it("arbitrary JSON values: an object with a string type is returned as is, anything else is a ProtocolError", () => {
    const typed = fc
      .record({ type: fc.oneof(fc.constantFrom("config", "stats", "error", ""), fc.jsonValue()) }, { requiredKeys: [] })
      .chain((t) => fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }).map((rest) => ({ ...rest, ...t })));
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), typed), (v) => {
        const text = JSON.stringify(v);
        const r = onlyProtocolErrors(() => P.parseServerText(text));
        const ok = typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as { type?: unknown }).type === "string";
        expect(r.ok).toBe(ok);
        if (r.ok) expect(r.value).toEqual(wire(v));
      }),
    );
  });
});

// -- the DOM input normaliser ------------------------------------------------------------

// What the server accepts (rfb/protocol.py validate_input_event; docs/internals/protocol.md, close 1008):
const MAX_COORD = 4 * 16384;
const MAX_STRING = 256;
const MODIFIERS = new Set(["Shift", "Control", "Alt", "Meta"]);

const inRange = (v: unknown, lo: number, hi: number) => typeof v === "number" && Number.isFinite(v) && v >= lo && v <= hi;
const codePoints = (s: string) => Array.from(s).length;

/** Plain JSON all the way down: no NaN or Infinity (JSON null), no undefined (dropped). */
function expectJsonSafe(v: unknown, path = "event"): void {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`${path} is ${v}`);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => expectJsonSafe(x, `${path}[${i}]`));
  } else if (typeof v === "object" && v !== null) {
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    for (const [k, x] of Object.entries(v)) expectJsonSafe(x, `${path}.${k}`);
  } else if (!(typeof v === "string" || typeof v === "boolean" || v === null)) {
    throw new Error(`${path} is ${typeof v}`);
  }
}

/** Assert that the server would accept `ev`; returns nothing, throws a readable failure. */
function expectAccepted(ev: Record<string, unknown>): void {
  expectJsonSafe(ev);
  const t = ev.type;
  if (t === "key_down" || t === "key_up") {
    expect(typeof ev.key === "string" && codePoints(ev.key) <= MAX_STRING).toBe(true);
    if ("code" in ev) expect(typeof ev.code === "string" && codePoints(ev.code) <= MAX_STRING).toBe(true);
  } else {
    expect(["pointer_move", "pointer_down", "pointer_up", "wheel"]).toContain(t);
    expect(inRange(ev.x, -MAX_COORD, MAX_COORD)).toBe(true);
    expect(inRange(ev.y, -MAX_COORD, MAX_COORD)).toBe(true);
    expect(typeof ev.inside).toBe("boolean");
    if ("pixel_ratio" in ev) expect(inRange(ev.pixel_ratio, 0.01, 100)).toBe(true);
    if ("button" in ev) expect(inRange(ev.button, 0, 16)).toBe(true);
    const buttons = ev.buttons as unknown[];
    expect(Array.isArray(buttons) && buttons.length <= 8 && buttons.every((b) => Number.isInteger(b) && inRange(b, 0, 16))).toBe(true);
    if (t === "wheel") {
      expect(inRange(ev.dx, -1e7, 1e7)).toBe(true);
      expect(inRange(ev.dy, -1e7, 1e7)).toBe(true);
      expect("button" in ev).toBe(false);
    }
  }
  const mods = ev.modifiers as unknown[];
  expect(Array.isArray(mods) && mods.length <= 8 && mods.every((m) => MODIFIERS.has(m as string))).toBe(true);
  if ("timestamp" in ev) expect(inRange(ev.timestamp, -1e12, 1e13)).toBe(true);
}

/** Any number a DOM event or a layout could hand over, weighted towards the awkward ones. */
const anyNumber = fc.oneof(
  fc.double(), // NaN, ±Infinity, ±0, huge, tiny
  fc.integer({ min: -100000, max: 100000 }),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, -1, 1e-9, 2 ** 31, 2 ** 32),
);
const size = fc.oneof(fc.integer({ min: 0, max: 8000 }), fc.constantFrom(0, 1, 2), anyNumber);
const mods = fc.record({ shiftKey: fc.boolean(), ctrlKey: fc.boolean(), altKey: fc.boolean(), metaKey: fc.boolean() });
const fit = fc.constantFrom<Fit>("contain", "cover", "fill");

/** A DOM pointer/wheel event as view.ts reads it. */
const domPointer = fc.record({
  kind: fc.constantFrom<PointerInput["kind"]>("pointer_move", "pointer_down", "pointer_up", "wheel"),
  clientX: anyNumber,
  clientY: anyNumber,
  rectLeft: anyNumber,
  rectTop: anyNumber,
  button: fc.oneof(fc.integer({ min: -3, max: 40 }), anyNumber),
  buttons: fc.oneof(fc.nat({ max: 63 }), fc.integer(), anyNumber),
  mods,
  deltaX: anyNumber,
  deltaY: anyNumber,
  deltaMode: fc.oneof(fc.constantFrom(0, 1, 2, 3), anyNumber),
  timestamp: fc.double({ min: 0, max: 4e9, noNaN: true }), // Date.now() / 1000
});

type DomPointer = typeof domPointer extends fc.Arbitrary<infer T> ? T : never;

/** The view's geometry: arbitrary numbers, or what view.ts/worker.ts compute from a CSS size and DPR. */
const geometry: fc.Arbitrary<PointerGeometry> = fc.oneof(
  fc.record({
    cssWidth: size,
    cssHeight: size,
    canvasWidth: fc.oneof(fc.integer({ min: 0, max: 16384 }), size), // canvas.width is an unsigned long
    canvasHeight: fc.oneof(fc.integer({ min: 0, max: 16384 }), size),
    ratio: anyNumber,
    frameW: size,
    frameH: size,
    fit,
  }),
  fc
    .record({
      cssW: fc.oneof(fc.double({ min: 0, max: 10000, noNaN: true }), fc.constantFrom(0, 1)),
      cssH: fc.oneof(fc.double({ min: 0, max: 10000, noNaN: true }), fc.constantFrom(0, 1)),
      dpr: anyNumber, // opts.devicePixelRatio ?? window.devicePixelRatio: 0, NaN, ...
      maxDim: fc.constantFrom(4096, 8192, 1, 0),
      frameW: fc.oneof(fc.integer({ min: 0, max: 16384 }), size),
      frameH: fc.oneof(fc.integer({ min: 0, max: 16384 }), size),
      fit,
    })
    .map(({ cssW, cssH, dpr, maxDim, frameW, frameH, fit }) => {
      // view.ts measure(): a zero rect falls back to the canvas's client size, then 300x150
      const cssWidth = cssW || 300;
      const cssHeight = cssH || 150;
      const b = backingSize(cssWidth, cssHeight, dpr, maxDim);
      return { cssWidth, cssHeight, canvasWidth: b.width, canvasHeight: b.height, ratio: b.ratio, frameW, frameH, fit };
    }),
);

/** view.ts pointerInput() + the wheel listener, over plain objects. */
function toPointerInput(e: DomPointer, g: PointerGeometry): PointerInput {
  const input: PointerInput = {
    kind: e.kind,
    cssX: e.clientX - e.rectLeft,
    cssY: e.clientY - e.rectTop,
    button: e.kind === "pointer_move" || e.kind === "wheel" ? 0 : mapButton(e.button),
    buttons: mapButtons(e.buttons),
    modifiers: modifiers(e.mods),
    timestamp: e.timestamp,
  };
  if (e.kind === "wheel") {
    const { dx, dy } = wheelPixels(e.deltaX, e.deltaY, e.deltaMode, g.cssWidth, g.cssHeight);
    input.dx = dx;
    input.dy = dy;
  }
  return input;
}

/** Key strings: empty, named keys, long unicode, lone surrogates, over the server's limit. */
const keyString = fc.oneof(
  fc.constantFrom("", "a", "A", " ", "Enter", "ArrowDown", "Unidentified", "Dead", "é", "👍🏽", "\u0000", "\ud800"),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: "grapheme", maxLength: 300 }),
  fc.string({ unit: "binary", minLength: 200, maxLength: 600 }),
  fc.integer({ min: 250, max: 300 }).map((n) => "🙂".repeat(n)), // 2 UTF-16 units per code point
);

describe("fuzz: input normaliser", () => {
  it("buttons, modifiers and wheel deltas never throw and stay in their vocabularies", () => {
    fc.assert(
      fc.property(anyNumber, anyNumber, mods, anyNumber, anyNumber, anyNumber, size, size, (button, mask, m, dx, dy, mode, pw, ph) => {
        expect([0, 1, 2, 3, 4, 5]).toContain(mapButton(button));
        const bs = mapButtons(mask);
        expect(bs).toEqual([...new Set(bs)].sort());
        expect(bs.every((b) => b >= 1 && b <= 5)).toBe(true);
        expect(modifiers(m).every((x) => MODIFIERS.has(x))).toBe(true);
        const w = wheelPixels(dx, dy, mode, pw, ph);
        expect(typeof w.dx === "number" && typeof w.dy === "number").toBe(true);
      }),
    );
  });

  it("backingSize never returns zero, non-finite or oversized backing pixels", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e5, noNaN: true }), fc.double({ min: 0, max: 1e5, noNaN: true }), anyNumber, fc.integer({ min: 1, max: 16384 }), (w, h, dpr, maxDim) => {
        const b = backingSize(w, h, dpr, maxDim);
        expect(Number.isInteger(b.width) && b.width >= 1 && b.width <= Math.max(1, maxDim)).toBe(true);
        expect(Number.isInteger(b.height) && b.height >= 1 && b.height <= Math.max(1, maxDim)).toBe(true);
        expect(Number.isFinite(b.ratio) && b.ratio > 0).toBe(true);
      }),
    );
  });

  it("a fuzzed pointer or wheel event becomes an event the server accepts; never throws", () => {
    fc.assert(
      fc.property(domPointer, geometry, (e, g) => {
        const ev = pointerEvent(toPointerInput(e, g), g);
        expectAccepted(ev);
        expect(ev.type).toBe(e.kind);
        // inside means on the picture: within the frame (1x1 while its size is unknown)
        if (ev.inside) {
          expect(ev.x as number).toBeGreaterThanOrEqual(0);
          expect(ev.y as number).toBeGreaterThanOrEqual(0);
          expect(ev.x as number).toBeLessThanOrEqual(g.frameW || 1);
          expect(ev.y as number).toBeLessThanOrEqual(g.frameH || 1);
        }
      }),
      { numRuns: 2 * RUNS },
    );
  });

  it("with sane geometry, a point on the picture maps back to its frame pixel, inside", () => {
    const sane = fc.record({
      cssWidth: fc.integer({ min: 50, max: 4000 }),
      cssHeight: fc.integer({ min: 50, max: 4000 }),
      dpr: fc.constantFrom(1, 1.25, 1.5, 2, 3),
      frameW: fc.integer({ min: 16, max: 8192 }),
      frameH: fc.integer({ min: 16, max: 8192 }),
      fit,
    });
    const unit = fc.double({ min: 0.001, max: 0.999, noNaN: true });
    fc.assert(
      fc.property(sane, unit, unit, (s, u, v) => {
        const b = backingSize(s.cssWidth, s.cssHeight, s.dpr, 16384);
        const g: PointerGeometry = { cssWidth: s.cssWidth, cssHeight: s.cssHeight, canvasWidth: b.width, canvasHeight: b.height, ratio: b.ratio, frameW: s.frameW, frameH: s.frameH, fit: s.fit };
        const fx = u * s.frameW;
        const fy = v * s.frameH;
        const c = frameToCanvas(fx, fy, s.frameW, s.frameH, layout(s.frameW, s.frameH, b.width, b.height, s.fit));
        if (c.x < 0 || c.y < 0 || c.x >= b.width || c.y >= b.height) return; // cropped away (cover)
        const input: PointerInput = { kind: "pointer_down", cssX: (c.x * s.cssWidth) / b.width, cssY: (c.y * s.cssHeight) / b.height, button: 1, buttons: [1], modifiers: [], timestamp: 1 };
        const ev = pointerEvent(input, g);
        expectAccepted(ev);
        expect(ev.x as number).toBeCloseTo(fx, 2);
        expect(ev.y as number).toBeCloseTo(fy, 2);
        expect(ev.inside).toBe(true);
      }),
    );
  });

  it("a fuzzed key event is dropped or becomes an event the server accepts; never throws", () => {
    fc.assert(
      fc.property(fc.constantFrom<KeyInput["kind"]>("key_down", "key_up"), keyString, keyString, mods, (kind, key, code, m) => {
        const input: KeyInput = { kind, key, code, modifiers: modifiers(m), timestamp: 1700000000.5 };
        const ev = keyEvent(input);
        if (ev === null) {
          // only a key the server could not take is dropped
          expect(codePoints(key)).toBeGreaterThan(MAX_STRING);
          return;
        }
        expectAccepted(ev);
        expect(ev.key).toBe(key);
      }),
    );
  });
});

// The counterexamples fast-check found, kept as plain cases.
describe("fuzz regressions", () => {
  const zeroView: PointerGeometry = { cssWidth: 0, cssHeight: 0, canvasWidth: 0, canvasHeight: 0, ratio: 0, frameW: 0, frameH: 0, fit: "contain" };
  const move: PointerInput = { kind: "pointer_move", cssX: 0, cssY: 0, button: 0, buttons: [], modifiers: [], timestamp: 1 };

  it("a header number JSON reads as Infinity is not a frame header", () => {
    const head = enc.encode('{"type":"image_frame","seq":1e400,"width":1,"height":1}');
    const { header } = P.unpackEnvelope(concat(u32le(head.byteLength), head));
    expect(header.seq).toBe(Infinity);
    expect(P.isFrameHeader(header)).toBe(false);
    const scaled = { type: "image_frame", seq: 1, timestamp_us: 0, width: 2, height: 2, mime: "image/png", frame_width: Infinity, frame_height: 4 } as const;
    expect(P.frameSize(scaled)).toEqual({ width: 2, height: 2 });
  });

  it("server text that is not JSON is a ProtocolError, not a SyntaxError", () => {
    expect(() => P.parseServerText("")).toThrow(P.ProtocolError);
    expect(() => P.parseServerText("{")).toThrow(/not JSON/);
  });

  it("an infinite device-pixel ratio gives a finite backing size", () => {
    expect(backingSize(0, 0, Infinity, 1)).toEqual({ width: 1, height: 1, ratio: 1 });
    expect(backingSize(100, 50, 1e308, 4096)).toEqual({ width: 4096, height: 2048, ratio: 40.96 });
  });

  it("a zero-sized view sends finite coordinates, outside, and no pixel_ratio", () => {
    const ev = pointerEvent(move, zeroView);
    expect(ev).toMatchObject({ x: 0, y: 0, inside: false });
    expect(ev).not.toHaveProperty("pixel_ratio");
    expect(pointerEvent({ ...move, cssX: 1 }, zeroView).x).toBe(MAX_COORD);
  });

  it("a drag far outside a small view is clamped to the server's range", () => {
    const small: PointerGeometry = { cssWidth: 100, cssHeight: 56.25, canvasWidth: 100, canvasHeight: 56, ratio: 1, frameW: 1920, frameH: 1080, fit: "contain" };
    const ev = pointerEvent({ ...move, cssX: -4000, cssY: 20 }, small); // 4000 CSS px = 76800 frame px
    expect(ev.x).toBe(-MAX_COORD);
    expect(ev.inside).toBe(false);
  });

  it("a key longer than the server takes is dropped, an over-long code left out", () => {
    const key: KeyInput = { kind: "key_down", key: "🙂".repeat(257), code: "", modifiers: [], timestamp: 1 };
    expect(keyEvent(key)).toBeNull();
    expect(keyEvent({ ...key, key: "🙂".repeat(256) })).not.toBeNull(); // 512 UTF-16 units, 256 characters
    expect(keyEvent({ ...key, key: "a", code: "x".repeat(300) })).not.toHaveProperty("code");
  });
});
