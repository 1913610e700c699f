// Image frames (JPEG, PNG, WebP): decoded with createImageBitmap, at most `maxInflight`
// at once; a newer frame replaces one still waiting, and the replaced one is acked as
// dropped so the server's credit stays right.

import { ImageScheduler } from "../flow";
import * as P from "../protocol";
import type { FrameSink } from "./sink";

interface ImageJob {
  seq: number;
  frameW: number;
  frameH: number;
  header: P.ImageFrameHeader;
  payload: Uint8Array;
  receivedAt: number;
}

export class ImagePipe {
  private readonly jobs: ImageScheduler<ImageJob>;

  constructor(
    private readonly sink: FrameSink,
    maxInflight: number,
  ) {
    this.jobs = new ImageScheduler<ImageJob>(Math.max(1, maxInflight));
  }

  /** Images decoding now. */
  get busy(): number {
    return this.jobs.busy;
  }

  push(header: P.ImageFrameHeader, payload: Uint8Array, receivedAt: number): void {
    const size = P.frameSize(header);
    const job = { seq: header.seq, frameW: size.width, frameH: size.height, header, payload, receivedAt };
    const { start, dropped } = this.jobs.push(job);
    if (dropped) {
      this.sink.dropped();
      this.sink.send(P.ack(dropped.seq, this.jobs.busy, false, dropped.receivedAt));
    }
    if (start) void this.decode(start);
  }

  private async decode(job: ImageJob): Promise<void> {
    let next: ImageJob | null = job;
    while (next) {
      const cur: ImageJob = next;
      try {
        const exact = cur.header.exact === true;
        const blob = new Blob([cur.payload as BlobPart], { type: cur.header.mime });
        // An exact still is drawn with its values as they are: no colour conversion.
        const bitmap = await createImageBitmap(blob, exact ? { colorSpaceConversion: "none", premultiplyAlpha: "none" } : undefined);
        const rtp = cur.header.rtp_timestamp;
        this.sink.draw(bitmap, cur.frameW, cur.frameH, () => bitmap.close(), {
          timestampUs: cur.header.timestamp_us,
          seq: cur.header.seq,
          exact,
          exactRtp: typeof rtp === "number" && Number.isFinite(rtp) ? rtp >>> 0 : null,
        });
        this.sink.decoded(performance.now() - cur.receivedAt);
        this.sink.send(P.ack(cur.header.seq, this.jobs.busy - 1, true, cur.receivedAt));
      } catch (err) {
        this.sink.dropped();
        this.sink.send(P.ack(cur.header.seq, 0, false, cur.receivedAt));
        this.sink.log(`image decode failed: ${err}`);
      }
      next = this.jobs.done();
    }
  }

  reset(): void {
    this.jobs.reset();
  }
}
