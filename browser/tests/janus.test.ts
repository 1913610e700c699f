import { describe, expect, it } from "vitest";
import { readEvents, request, STREAMING } from "../src/janus.js";

describe("Janus HTTP API messages", () => {
  it("builds requests with a verb and a transaction", () => {
    expect(JSON.parse(request("attach", "t1", { plugin: STREAMING }))).toEqual({
      janus: "attach", transaction: "t1", plugin: "janus.plugin.streaming",
    });
  });

  it("finds the offer for our handle among long-poll events", () => {
    const offer = { type: "offer", sdp: "v=0\r\n" };
    const reply = [
      { janus: "keepalive" },
      { janus: "event", sender: 99, jsep: { type: "offer", sdp: "not ours" } },
      { janus: "event", sender: 7, plugindata: { plugin: STREAMING, data: { result: { status: "preparing" } } }, jsep: offer },
    ];
    const ev = readEvents(reply, 7);
    expect(ev.offer).toEqual(offer);
    expect(ev.started).toBe(true);
    expect(ev.ended).toBeNull();
  });

  it("says when the session or the stream is gone", () => {
    expect(readEvents({ janus: "error", error: { code: 458, reason: "No such session" } }, 7).ended)
      .toBe("Janus error 458: No such session");
    expect(readEvents({ janus: "hangup", sender: 7, reason: "DTLS alert" }, 7).ended).toBe("Janus hangup: DTLS alert");
    expect(readEvents({ janus: "hangup", sender: 8 }, 7).ended).toBeNull();
    expect(readEvents({ janus: "event", sender: 7, plugindata: { data: { error: "No such mountpoint/stream 3" } } }, 7).ended)
      .toBe("streaming plugin: No such mountpoint/stream 3");
    for (const junk of [null, 3, "x", [null], {}]) expect(readEvents(junk, 7)).toEqual({ offer: null, ended: null, started: false, substream: null });
  });
});
