// Client-side flow control: what to decode next, and what to acknowledge.

/**
 * Images: at most `maxInflight` decodes at once; when more arrive, only the newest waits
 * and the ones it replaces are dropped (acked as not displayed, so the server's credit
 * returns at once). Latest wins.
 */
export class ImageScheduler<T extends { seq: number }> {
  private decoding = 0;
  private waiting: T | null = null;

  constructor(private readonly maxInflight: number) {}

  /** A frame arrived: returns the frame to start decoding now (if any) and the dropped one. */
  push(frame: T): { start: T | null; dropped: T | null } {
    if (this.decoding < this.maxInflight) {
      this.decoding++;
      return { start: frame, dropped: null };
    }
    const dropped = this.waiting;
    this.waiting = frame;
    return { start: null, dropped };
  }

  /** A decode finished: returns the next frame to decode, if one waits. */
  done(): T | null {
    this.decoding = Math.max(0, this.decoding - 1);
    if (this.waiting !== null && this.decoding < this.maxInflight) {
      const next = this.waiting;
      this.waiting = null;
      this.decoding++;
      return next;
    }
    return null;
  }

  reset(): void {
    this.decoding = 0;
    this.waiting = null;
  }

  get busy(): number {
    return this.decoding;
  }
}

export interface SubmittedChunk {
  submittedAt: number;
  timestampUs: number;
  /** The published frame's size, which the picture is drawn at (its rung may code it smaller). */
  frameW: number;
  frameH: number;
}

/** Video: remembers what each submitted chunk was, keyed by seq, until its frame comes out. */
export class PendingChunks {
  private readonly pending = new Map<number, SubmittedChunk>();

  submit(seq: number, timestampUs: number, nowMs: number, frameW = 0, frameH = 0): void {
    this.pending.set(seq, { submittedAt: nowMs, timestampUs, frameW, frameH });
  }

  /** A decoded frame came out for `seq`; returns its decode time in ms. */
  output(seq: number, nowMs: number): number | null {
    const p = this.take(seq);
    return p ? nowMs - p.submittedAt : null;
  }

  /** A decoded frame came out for `seq`: what was submitted for it, if known. */
  take(seq: number): SubmittedChunk | null {
    const p = this.pending.get(seq);
    if (!p) return null;
    this.pending.delete(seq);
    // Frames are output in order; anything older was dropped by the decoder.
    for (const k of this.pending.keys()) if (k < seq) this.pending.delete(k);
    return p;
  }

  /** The age of the oldest chunk still inside the decoder, for the stall watchdog. */
  oldestAgeMs(nowMs: number): number {
    let oldest = Infinity;
    for (const p of this.pending.values()) oldest = Math.min(oldest, p.submittedAt);
    return oldest === Infinity ? 0 : nowMs - oldest;
  }

  clear(): void {
    this.pending.clear();
  }

  get size(): number {
    return this.pending.size;
  }
}

/** Reconnect delays: `baseMs` doubling to `maxMs`, reset once a connection works
 * (defaults.ts has each link's). */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {}

  next(): number {
    const d = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt++;
    return d;
  }

  reset(): void {
    this.attempt = 0;
  }
}
