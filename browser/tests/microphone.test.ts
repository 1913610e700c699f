// The microphone's audio_in message, byte for byte what rfb/protocol.py's AudioIn.pack()
// gives (tests/unit/session/test_audio_in.py parses the same bytes).
import { describe, expect, it } from "vitest";
import * as P from "../src/protocol";
import { audioInHeader, MIC_FRAME_US, MIC_SAMPLE_RATE } from "../src/microphone";

// protocol.AudioIn(7, 1234567, 20000, 48000, 1, b"\xf8\xff\xfe").pack().hex()
export const AUDIO_IN_GOLDEN =
  "760000007b2274797065223a22617564696f5f696e222c22736571223a372c2274696d657374616d705f7573223a313233343536372c226475726174696f6e5f7573223a32303030302c22636f646563223a226f707573222c2273616d706c655f72617465223a34383030302c226368616e6e656c73223a317df8fffe";
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

describe("audio_in", () => {
  it("packs as the server parses it", () => {
    const msg = P.packEnvelope(audioInHeader(7, 1234567, 20000), new Uint8Array([0xf8, 0xff, 0xfe]));
    expect(hex(msg)).toBe(AUDIO_IN_GOLDEN);
  });

  it("says Opus, 48 kHz, whole microseconds", () => {
    const h = audioInHeader(0, 10.6, MIC_FRAME_US);
    expect(h).toEqual({ type: "audio_in", seq: 0, timestamp_us: 11, duration_us: 20000, codec: "opus", sample_rate: MIC_SAMPLE_RATE, channels: 1 });
  });
});
