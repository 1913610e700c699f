// Exact stills (rfb addition): the resting frame as a lossless picture drawn over the video.
// Two pure pieces: the data channel's part framing (an exact still over WebRTC is bigger
// than one data-channel message), and what the worker may draw over an exact picture.
// See docs/internals/protocol.md ("Exact stills").

/** Bytes of one data-channel part at most, its 8-byte prefix included. */
export const PART_MAX = 64 * 1024;
export const PART_PREFIX = 8;

/** Split a binary message into parts: u32 LE message id, u16 LE index, u16 LE count, slice.
 * (The server does this; here for tests and tools.) */
export function splitParts(message: Uint8Array, id: number): Uint8Array[] {
  const step = PART_MAX - PART_PREFIX;
  const count = Math.max(1, Math.ceil(message.byteLength / step));
  if (count > 0xffff) throw new RangeError("message too big for the data channel");
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const slice = message.subarray(i * step, (i + 1) * step);
    const part = new Uint8Array(PART_PREFIX + slice.byteLength);
    const v = new DataView(part.buffer);
    v.setUint32(0, id >>> 0, true);
    v.setUint16(4, i, true);
    v.setUint16(6, count, true);
    part.set(slice, PART_PREFIX);
    out.push(part);
  }
  return out;
}

/** Reassembles parts (the channel is ordered and reliable, so one message is in progress at
 * a time; a part of another message, out of order or malformed drops what was gathered). */
export class PartAssembler {
  private id = -1;
  private parts: Uint8Array[] = [];
  private count = 0;

  /** One part; returns the whole message once its last part came, else null. */
  push(data: ArrayBuffer | Uint8Array): Uint8Array | null {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    if (bytes.byteLength < PART_PREFIX || bytes.byteLength > PART_MAX) return this.drop();
    const v = new DataView(bytes.buffer, bytes.byteOffset, PART_PREFIX);
    const id = v.getUint32(0, true);
    const index = v.getUint16(4, true);
    const count = v.getUint16(6, true);
    if (count === 0 || index >= count) return this.drop();
    if (index === 0) {
      this.id = id;
      this.count = count;
      this.parts = [];
    } else if (id !== this.id || count !== this.count || index !== this.parts.length) {
      return this.drop();
    }
    this.parts.push(bytes.subarray(PART_PREFIX));
    if (this.parts.length < this.count) return null;
    const size = this.parts.reduce((n, p) => n + p.byteLength, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    this.drop();
    return out;
  }

  private drop(): null {
    this.id = -1;
    this.parts = [];
    this.count = 0;
    return null;
  }
}

/** RTP ticks (90 kHz) within which a WebRTC video frame counts as the same picture: a
 * re-encoded keyframe of the same frame goes out a tick or a few later. */
export const SAME_FRAME_RTP_TICKS = 90;

/** What a picture drawn is, as far as exact stills care. */
export interface DrawMeta {
  /** The published frame's timestamp (WebSocket units). */
  timestampUs?: number;
  /** WebRTC video: the frame's RTP timestamp. */
  rtp?: number | null;
  /** The resting frame bit-exact. */
  exact?: boolean;
  /** WebRTC exact still: the RTP timestamp of the video frame it shows. */
  exactRtp?: number | null;
  /** WebSocket: the unit's seq (click-to-photon matches frames by it, photon.ts). */
  seq?: number;
}

/** Keeps an exact picture on the canvas: a later picture of the same frame (a repeated
 * keyframe, a lower rung's picture) is not drawn over it; a new frame is. An exact picture
 * older than the frame drawn last (it was on its way when the scene moved) is not drawn. */
export class ExactHold {
  private timestampUs: number | null = null;
  private rtp: number | null = null;
  private lastUs: number | null = null; // the newest frame timestamp drawn

  /** Whether to draw a picture with `meta` (and remember it when it is exact). */
  admit(meta: DrawMeta | undefined): boolean {
    if (meta?.exact) {
      const t = meta.timestampUs ?? null;
      if (t !== null && this.lastUs !== null && t < this.lastUs) return false;
      this.timestampUs = t;
      this.rtp = meta.exactRtp ?? null;
      if (t !== null) this.lastUs = t;
      return true;
    }
    if (this.covers(meta)) return false;
    this.timestampUs = null;
    this.rtp = null;
    if (meta?.timestampUs !== undefined) this.lastUs = meta.timestampUs;
    return true;
  }

  /** The canvas was cleared (resize, fit) or the stream restarted: nothing is held. */
  clear(): void {
    this.timestampUs = null;
    this.rtp = null;
    this.lastUs = null;
  }

  /** Whether an exact picture is on the canvas. */
  get holding(): boolean {
    return this.timestampUs !== null || this.rtp !== null;
  }

  private covers(meta: DrawMeta | undefined): boolean {
    if (!meta) return false;
    if (meta.timestampUs !== undefined) return this.timestampUs !== null && meta.timestampUs === this.timestampUs;
    // WebRTC: the server said which RTP timestamp the exact picture shows (where it knew).
    if (typeof meta.rtp === "number") return this.rtp !== null && ((meta.rtp - this.rtp) >>> 0) < SAME_FRAME_RTP_TICKS;
    return false;
  }
}
