// What the decoding pipelines (images.ts, video.ts) need from the session.

import type { DrawMeta } from "../exact-still";

export interface FrameSink {
  /** Draw a decoded picture at the published frame's size, then release it. `meta`: which
   * frame it shows, so that nothing of the same frame is drawn over an exact still. */
  draw(picture: CanvasImageSource, frameW: number, frameH: number, release: () => void, meta?: DrawMeta): void;
  /** A control message (acks, keyframe requests) to the server. */
  send(text: string): void;
  /** A frame was dropped before it was drawn. */
  dropped(): void;
  /** Receive -> drawn time of one frame, ms. */
  decoded(ms: number): void;
  log(message: string): void;
}
