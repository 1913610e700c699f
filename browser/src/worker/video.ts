// H.264 over the WebSocket: one WebCodecs VideoDecoder, configured from keyframes (a rung
// change is a keyframe at another coded size: the same decoder is configured anew, so the
// picture never blanks), a keyframe gate after any gap, and a watchdog for a decoder that
// stops producing frames.

import { KeyframeGate } from "../keyframe-gate";
import { PendingChunks } from "../flow";
import * as P from "../protocol";
import type { FrameSink } from "./sink";

const STALL_MS = 2000;

export class VideoPipe {
  private decoder: VideoDecoder | null = null;
  private decoderKey = "";
  private readonly gate = new KeyframeGate();
  private readonly chunks = new PendingChunks();

  constructor(private readonly sink: FrameSink) {}

  get queueSize(): number | null {
    return this.decoder?.decodeQueueSize ?? null;
  }

  push(header: P.VideoChunkHeader, payload: Uint8Array, receivedAt: number): void {
    // A new codec or size needs a new configuration, which only a keyframe can start.
    const key = `${header.codec}/${header.width}x${header.height}`;
    if (key !== this.decoderKey || !this.decoder || this.decoder.state === "closed") {
      if (!header.keyframe) {
        this.drop(header, "waiting for a keyframe", receivedAt);
        return;
      }
      this.ensureDecoder(header, key);
    }
    const { decode, request } = this.gate.admit(header.keyframe, performance.now());
    if (!decode) {
      this.drop(header, request ? "waiting for a keyframe" : null, receivedAt);
      return;
    }
    const size = P.frameSize(header);
    this.chunks.submit(header.seq, header.timestamp_us, receivedAt, size.width, size.height);
    try {
      this.decoder!.decode(
        new EncodedVideoChunk({
          type: header.keyframe ? "key" : "delta",
          timestamp: header.seq, // unique per connection; maps the output frame back to its ack
          duration: header.duration_us,
          data: payload,
        }),
      );
    } catch (err) {
      this.rebuild(`decode threw: ${err}`);
    }
  }

  /** Called every half second: a decoder holding chunks for too long is rebuilt. */
  watchdog(): void {
    if (!this.decoder || this.chunks.size === 0) return;
    if (this.chunks.oldestAgeMs(performance.now()) > STALL_MS) this.rebuild("stalled");
  }

  reset(): void {
    this.close();
    this.gate.close();
  }

  private config(header: P.VideoChunkHeader): VideoDecoderConfig {
    const config: VideoDecoderConfig = {
      codec: header.codec,
      codedWidth: header.width,
      codedHeight: header.height,
      optimizeForLatency: true,
    };
    const color = header.color;
    if (color) {
      config.colorSpace = {
        primaries: color.primaries as VideoColorPrimaries,
        transfer: color.transfer as VideoTransferCharacteristics,
        matrix: color.matrix as VideoMatrixCoefficients,
        fullRange: color.full_range,
      };
    }
    return config;
  }

  private ensureDecoder(header: P.VideoChunkHeader, key: string): void {
    if (this.decoder && this.decoder.state === "configured") {
      // Another rung: configure the same decoder anew. Chunks already queued still come
      // out first, so the picture never blanks.
      this.decoder.configure(this.config(header));
      this.decoderKey = key;
      this.gate.close();
      return;
    }
    this.close();
    const decoder = new VideoDecoder({
      output: (frame) => this.output(frame),
      error: (err) => {
        this.sink.log(`decoder error: ${err.message}`);
        if (this.decoder === decoder) this.rebuild("decoder error");
      },
    });
    decoder.configure(this.config(header));
    this.decoder = decoder;
    this.decoderKey = key;
    this.gate.close();
    this.chunks.clear();
  }

  private output(frame: VideoFrame): void {
    const seq = frame.timestamp;
    const chunk = this.chunks.take(seq);
    this.sink.draw(frame, chunk?.frameW || frame.displayWidth, chunk?.frameH || frame.displayHeight, () => frame.close(),
      chunk ? { timestampUs: chunk.timestampUs, seq } : { seq });
    if (chunk) this.sink.decoded(performance.now() - chunk.submittedAt);
    this.sink.send(P.ack(seq, this.decoder?.decodeQueueSize ?? 0, true, chunk?.submittedAt));
  }

  private drop(header: P.VideoChunkHeader, requestReason: string | null, receivedAt: number): void {
    this.sink.dropped();
    this.sink.send(P.ack(header.seq, this.decoder?.decodeQueueSize ?? 0, false, receivedAt));
    if (requestReason) this.sink.send(P.requestKeyframe(requestReason));
  }

  private close(): void {
    if (this.decoder && this.decoder.state !== "closed") {
      try {
        this.decoder.close();
      } catch {
        /* already closed */
      }
    }
    this.decoder = null;
    this.decoderKey = "";
    this.chunks.clear();
  }

  private rebuild(reason: string): void {
    this.sink.log(`rebuilding decoder: ${reason}`);
    this.close();
    this.gate.close();
    this.sink.send(P.decoderReset());
  }
}

/** What H.264 this browser decodes with WebCodecs at low latency: any (the 0.x probe),
 * and High 4:4:4 (full-resolution colour) too. */
export async function probeH264(): Promise<{ h264: boolean; h264_444: boolean }> {
  if (typeof VideoDecoder === "undefined") {
    // WebCodecs is only exposed to secure contexts (https, or a page from localhost).
    if (!self.isSecureContext) console.warn("rfb: no WebCodecs in an insecure context (http:// from another host): using images; serve https (--certfile) or tunnel to localhost for H.264");
    return { h264: false, h264_444: false };
  }
  const supported = async (codec: string): Promise<boolean> => {
    try {
      const r = await VideoDecoder.isConfigSupported({ codec, optimizeForLatency: true });
      return r.supported === true;
    } catch {
      return false;
    }
  };
  const h264 = await supported(P.PROBE_CODEC);
  return { h264, h264_444: h264 && (await supported(P.PROBE_CODEC_444)) };
}
