// Click-to-photon, the page's half (pure; the server's half is rfb/session/photon.py).
//
// Each input event the view sends gets a number (`input_seq`, growing per page) and its
// send time is kept here. The server stamps the first frame it sends this viewer after the
// program took input with the newest number taken (WebSocket: `input_seq` in the frame's
// header; WebRTC: an `input_frame` note on the data channel naming the frame's RTP
// timestamp). When the first frame at or after that stamp is drawn, the input has one
// sample: draw time - send time.
//
// No false samples: only a stamped number makes a sample, once; inputs older than a
// matched one (never taken by the program, dropped by the server, or superseded in the
// same batch) are forgotten without a sample; frames without a stamp match nothing.

/** Inputs waiting for their frame at most (older ones are forgotten). */
export const MAX_PENDING = 1024;
/** Drawn frames remembered, for a note that comes after its frame was drawn (WebRTC). */
export const DRAWN_HISTORY = 240;
/** Samples kept for the figures (p50, p95). */
export const RECENT_SAMPLES = 64;

export interface PhotonSample {
  /** The input's number. */
  seq: number;
  /** Its send -> the first frame that reflects it drawn, in ms. */
  ms: number;
  /** When that frame was drawn, on the caller's clock (the worker: epoch ms). */
  at: number;
}

/** What the page reports (stats.inputToPhoton). */
export interface PhotonFigures {
  /** Samples since the page started. */
  count: number;
  lastMs: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  /** The newest samples (at most RECENT_SAMPLES), oldest first, with their input numbers. */
  recent: PhotonSample[];
}

/** Whether frame key `a` is at or after `b`: keys are 32-bit and may wrap (RTP). */
export function atOrAfter(a: number, b: number): boolean {
  return (a - b) >>> 0 < 0x80000000;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export class PhotonMatcher {
  private next = 1;
  private readonly pending = new Map<number, number>(); // input seq -> sent at (ms)
  private notes: { key: number; seq: number }[] = []; // stamped frames not drawn yet
  private drawn: { key: number; at: number }[] = []; // recent frames drawn, in order
  private recent: PhotonSample[] = [];
  private count = 0;

  /** An input goes out at `at` (ms): the number to send with it. */
  sent(at: number): number {
    const seq = this.next++;
    this.pending.set(seq, at);
    if (this.pending.size > MAX_PENDING) {
      const oldest = this.pending.keys().next().value as number;
      this.pending.delete(oldest);
    }
    return seq;
  }

  /** The frame `key` is the first to reflect input `seq` (its header's input_seq, or an
   * input_frame note). Returns a sample when that frame (or a later one) was drawn already. */
  note(key: number, seq: number): PhotonSample | null {
    // Older than every frame still remembered: when it was drawn is not known any more.
    if (this.drawn.length >= DRAWN_HISTORY && !atOrAfter(key, this.drawn[0].key)) return null;
    const shown = this.drawn.find((d) => atOrAfter(d.key, key));
    if (shown) return this.sample(seq, shown.at);
    this.notes.push({ key, seq });
    if (this.notes.length > MAX_PENDING) this.notes.shift();
    return null;
  }

  /** The frame `key` was drawn at `at` (ms): the samples of the inputs it first shows. */
  drawnFrame(key: number, at: number): PhotonSample[] {
    this.drawn.push({ key, at });
    if (this.drawn.length > DRAWN_HISTORY) this.drawn.shift();
    const out: PhotonSample[] = [];
    if (!this.notes.length) return out;
    const keep: { key: number; seq: number }[] = [];
    for (const n of this.notes) {
      if (!atOrAfter(key, n.key)) keep.push(n);
      else {
        const s = this.sample(n.seq, at);
        if (s) out.push(s);
      }
    }
    this.notes = keep;
    return out;
  }

  /** The stream started again (a new connection): frame keys start over; inputs still
   * waiting can only be matched by numbers the new connection stamps. */
  reset(): void {
    this.notes = [];
    this.drawn = [];
  }

  figures(): PhotonFigures {
    const sorted = this.recent.map((s) => s.ms).sort((a, b) => a - b);
    const r = (x: number) => Math.round(x * 10) / 10;
    return {
      count: this.count,
      lastMs: this.recent.length ? r(this.recent[this.recent.length - 1].ms) : null,
      p50Ms: sorted.length ? r(quantile(sorted, 0.5)) : null,
      p95Ms: sorted.length ? r(quantile(sorted, 0.95)) : null,
      recent: this.recent.map((s) => ({ seq: s.seq, ms: r(s.ms), at: s.at })),
    };
  }

  private sample(seq: number, at: number): PhotonSample | null {
    const sentAt = this.pending.get(seq);
    if (sentAt === undefined) return null; // already sampled, or not sent by this page
    for (const s of [...this.pending.keys()]) if (s <= seq) this.pending.delete(s);
    const ms = at - sentAt;
    if (!(ms >= 0)) return null;
    this.count++;
    const sample = { seq, ms, at };
    this.recent.push(sample);
    if (this.recent.length > RECENT_SAMPLES) this.recent.shift();
    return sample;
  }
}
