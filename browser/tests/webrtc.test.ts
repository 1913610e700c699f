import { describe, expect, it } from "vitest";
import { audioStatsOf, parseIceLinks, whepUrl } from "../src/webrtc";

describe("whepUrl", () => {
  it("puts a stream's WHEP endpoint beside its WebSocket path", () => {
    expect(whepUrl("ws://h:1/")).toBe("http://h:1/whep");
    expect(whepUrl("ws://h:1/cam")).toBe("http://h:1/cam/whep");
    expect(whepUrl("wss://h/rfb/cam/?token=x")).toBe("https://h/rfb/cam/whep");
    expect(whepUrl("wss://h/rfb")).toBe("https://h/rfb/whep");
    expect(whepUrl("ws://h:1/cam?token=x&rfb_key=k1")).toBe("http://h:1/cam/whep?rfb_key=k1");
  });
});

describe("parseIceLinks", () => {
  it("reads ICE servers with credentials from Link headers", () => {
    const links =
      '<stun:s.example:3478>; rel="ice-server", <turn:t.example:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"';
    expect(parseIceLinks(links)).toEqual([
      { urls: "stun:s.example:3478" },
      { urls: "turn:t.example:3478?transport=udp", username: "u", credential: "p" },
    ]);
    expect(parseIceLinks(null)).toEqual([]);
  });
});

describe("audioStatsOf", () => {
  it("gives the jitter buffer's delay since the last report", () => {
    const first = { jitterBufferDelay: 600, jitterBufferEmittedCount: 10000, packetsReceived: 50, packetsLost: 1, concealedSamples: 960 };
    expect(audioStatsOf(first, null)).toEqual({ jitterBufferMs: 60, packetsReceived: 50, packetsLost: 1, concealedSamples: 960 });
    const next = { ...first, jitterBufferDelay: 1000, jitterBufferEmittedCount: 20000 };
    expect(audioStatsOf(next, { delay: 600, count: 10000 })?.jitterBufferMs).toBeCloseTo(40);
    expect(audioStatsOf(null, null)).toBeNull();
  });
});
