// The worker's canvas: draws each decoded picture with the fit mode (letterbox bars in the
// background colour), clears on resize, reads the timecode stamped into a frame, and
// captures what was drawn. geometry.ts does the arithmetic, shared with input mapping.

import { frameToCanvas, layout, type Fit, type Layout } from "../geometry";
import { BITS, BLOCK, decodeTimecode, latencyMs } from "../timecode";

export class FrameCanvas {
  private readonly ctx: OffscreenCanvasRenderingContext2D;

  constructor(
    private readonly canvas: OffscreenCanvas,
    private _fit: Fit,
    private background: string,
  ) {
    // Opaque and desynchronized: the stream covers the canvas, and latency beats tearing.
    const ctx = canvas.getContext("2d", { alpha: false, desynchronized: true });
    if (!ctx) throw new Error("no 2D context on the OffscreenCanvas");
    this.ctx = ctx;
  }

  get fit(): Fit {
    return this._fit;
  }

  /** Backing size, in device pixels. */
  get width(): number {
    return this.canvas.width;
  }

  get height(): number {
    return this.canvas.height;
  }

  /** Draw a picture at the published frame's size with the fit mode; returns where it went. */
  draw(picture: CanvasImageSource, frameW: number, frameH: number): Layout {
    const ctx = this.ctx;
    const l = layout(frameW, frameH, this.canvas.width, this.canvas.height, this._fit);
    ctx.fillStyle = this.background;
    if (l.x > 0 || l.y > 0) ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(picture, l.x, l.y, l.w, l.h);
    return l;
  }

  /** A new backing size: the canvas is cleared where it changed. */
  resize(width: number, height: number): void {
    if (this.canvas.width === width && this.canvas.height === height) return;
    this.canvas.width = width;
    this.canvas.height = height;
    this.clear();
  }

  setFit(fit: Fit, background?: string): void {
    this._fit = fit;
    if (background) this.background = background;
    this.clear();
  }

  /** No decoded picture is kept (each is closed once drawn), so a change clears to the
   * background; the session asks the server for a full picture, which comes within a frame. */
  clear(): void {
    this.ctx.fillStyle = this.background;
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
  }

  /** Publish -> display ms from the wall-clock time the "timecode" pattern stamped into
   * the frame just drawn at `l`; null where the frame is too narrow or the reading is off. */
  timecodeMs(frameW: number, frameH: number, l: Layout): number | null {
    if (frameW < BITS * BLOCK) return null;
    const a = frameToCanvas(0, BLOCK / 2, frameW, frameH, l);
    const b = frameToCanvas(BITS * BLOCK, BLOCK / 2, frameW, frameH, l);
    const x0 = Math.max(0, Math.floor(a.x));
    const w = Math.max(1, Math.min(this.canvas.width - x0, Math.ceil(b.x - a.x)));
    const y = Math.min(this.canvas.height - 1, Math.max(0, Math.floor(a.y)));
    const row = this.ctx.getImageData(x0, y, w, 1).data;
    const lumas = new Array<number>(BITS);
    for (let k = 0; k < BITS; k++) {
      const px = Math.min(w - 1, Math.floor(((k + 0.5) * BLOCK * (b.x - a.x)) / (BITS * BLOCK)));
      lumas[k] = row[4 * px + 1]; // green is close enough to luma for black and white
    }
    const ms = latencyMs(decodeTimecode(lumas), Date.now());
    return ms >= 0 && ms < 60_000 ? ms : null;
  }

  /** The canvas as drawn: a PNG ("blob") or its pixels ("imagedata"). */
  async capture(format: "imagedata" | "blob"): Promise<ImageData | Blob> {
    if (format === "blob") return this.canvas.convertToBlob({ type: "image/png" });
    return this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
  }
}
