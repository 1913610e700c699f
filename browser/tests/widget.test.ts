import { describe, expect, it } from "vitest";
import { statusLine, widgetUrl } from "../src/widget";

const base = { url: "", host: "auto", base_path: "", port: 8765, stream: "default", secure: false, key: "" };
const lab = { protocol: "http:", hostname: "nb.example", host: "nb.example:8888" };

describe("widgetUrl", () => {
  it("connects to the stream's own port on the notebook's host, or the named one", () => {
    expect(widgetUrl(base, lab)).toBe("ws://nb.example:8765/");
    expect(widgetUrl({ ...base, host: "127.0.0.1", stream: "cam" }, lab)).toBe("ws://127.0.0.1:8765/cam");
    expect(widgetUrl({ ...base, host: "::1", secure: true }, lab)).toBe("wss://[::1]:8765/");
  });

  it("goes through a proxy path on the notebook's own origin, wss under https", () => {
    expect(widgetUrl({ ...base, base_path: "/proxy/8765/", stream: "cam" }, lab)).toBe("ws://nb.example:8888/proxy/8765/cam");
    const https = { ...lab, protocol: "https:", host: "nb.example" };
    expect(widgetUrl({ ...base, base_path: "/user/ada/proxy/8765" }, https)).toBe("wss://nb.example/user/ada/proxy/8765/");
  });

  it("takes an explicit url as given, and adds the kernel's key", () => {
    expect(widgetUrl({ ...base, url: "wss://x.example/rfb/cam", key: "k/1" }, lab)).toBe("wss://x.example/rfb/cam?rfb_key=k%2F1");
    expect(widgetUrl({ ...base, key: "abc" }, lab)).toBe("ws://nb.example:8765/?rfb_key=abc");
  });
});

describe("statusLine", () => {
  it("says the state until frames flow, then the figures", () => {
    expect(statusLine("connecting", null)).toBe("connecting");
    const stats = { width: 640, height: 360, codec: "avc1.42C01E", fps: 29.6, latencyMs: 21.4, bitrate: 1.5e6, transport: "websocket" };
    expect(statusLine("negotiated", stats as never)).toBe("640×360 · avc1.42C01E · 30 fps · 21 ms · 1.50 Mbit/s · websocket");
  });
});
