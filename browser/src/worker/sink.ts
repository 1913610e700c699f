// What the decoding pipelines (images.ts, video.ts) need from the session.

export interface FrameSink {
  /** Draw a decoded picture at the published frame's size, then release it. */
  draw(picture: CanvasImageSource, frameW: number, frameH: number, release: () => void): void;
  /** A control message (acks, keyframe requests) to the server. */
  send(text: string): void;
  /** A frame was dropped before it was drawn. */
  dropped(): void;
  /** Receive -> drawn time of one frame, ms. */
  decoded(ms: number): void;
  log(message: string): void;
}
