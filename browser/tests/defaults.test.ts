import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULTS, WORKER_OPTION_KEYS, defaultUrl, resolveOptions, workerOptions, type DefaultedOption } from "../src/defaults";
import type { RemoteFramebufferViewOptions } from "../src/view";

const page = { protocol: "http:", host: "example.test:8765" };

/** Options a caller may give, any subset of them. */
const givenOptions: fc.Arbitrary<RemoteFramebufferViewOptions> = fc.record(
  {
    url: fc.constantFrom("ws://a.test/", "wss://b.test/cam"),
    autoResize: fc.boolean(),
    maxBackingDimension: fc.integer({ min: 1, max: 16384 }),
    imageOnly: fc.boolean(),
    maxInflight: fc.integer({ min: 1, max: 8 }),
    fit: fc.constantFrom("contain", "cover", "fill"),
    background: fc.constantFrom("#fff", "rgb(1,2,3)"),
    token: fc.option(fc.string(), { nil: null }),
    debug: fc.boolean(),
    transport: fc.constantFrom("websocket", "webrtc", "auto"),
    autoFallbackMs: fc.integer({ min: 0, max: 10_000 }),
    timecode: fc.boolean(),
    pointerLock: fc.boolean(),
    devicePixelRatio: fc.double({ min: 0.5, max: 4, noNaN: true }),
  },
  { requiredKeys: [] },
);

describe("resolveOptions", () => {
  it("gives every default, and the page's own server, when nothing is given", () => {
    expect(resolveOptions({}, page)).toEqual({ ...DEFAULTS, url: "ws://example.test:8765/" });
    expect(defaultUrl({ protocol: "https:", host: "example.test" })).toBe("wss://example.test/");
  });

  it("keeps what was given and fills in each default that was not", () => {
    fc.assert(
      fc.property(givenOptions, (given) => {
        const resolved = resolveOptions(given, page);
        for (const name of Object.keys(DEFAULTS) as DefaultedOption[]) {
          expect(resolved[name]).toEqual(name in given ? given[name] : DEFAULTS[name]);
        }
        expect(resolved.url).toBe(given.url ?? defaultUrl(page));
        expect(resolved.devicePixelRatio).toBe(given.devicePixelRatio);
      }),
    );
  });

  it("counts an option given as undefined as left out", () => {
    const resolved = resolveOptions({ fit: undefined, transport: undefined, autoFallbackMs: undefined, url: undefined }, page);
    expect(resolved).toEqual({ ...DEFAULTS, url: defaultUrl(page) });
  });

  it("passes callbacks and the worker factory through untouched", () => {
    const onState = () => undefined;
    const workerFactory = () => ({}) as Worker;
    const resolved = resolveOptions({ onState, workerFactory }, page);
    expect(resolved.onState).toBe(onState);
    expect(resolved.workerFactory).toBe(workerFactory);
  });

  it("never changes DEFAULTS", () => {
    const before = { ...DEFAULTS };
    const resolved = resolveOptions({}, page);
    resolved.fit = "fill";
    resolved.background = "red";
    expect(DEFAULTS).toEqual(before);
  });
});

describe("workerOptions", () => {
  it("takes the worker's share of the resolved options without loss, and its link", () => {
    fc.assert(
      fc.property(givenOptions, (given) => {
        const resolved = resolveOptions(given, page);
        const w = workerOptions(resolved);
        expect(Object.keys(w).sort()).toEqual([...WORKER_OPTION_KEYS, "mode"].sort());
        for (const name of WORKER_OPTION_KEYS) expect(w[name]).toEqual(resolved[name]);
        expect(w.mode).toBe(resolved.transport === "websocket" ? "websocket" : "webrtc");
        // It crosses to the worker by postMessage: plain data that clones whole.
        expect(structuredClone(w)).toEqual(w);
      }),
    );
  });
});
