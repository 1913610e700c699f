// Which simulcast substream a Janus watcher should ask for, from what its own receiver
// measures (getStats' inbound-rtp video, every half second). Sans I/O: samples in, a
// substream to ask Janus for out; the clock is the samples' `at`.
//
// Janus's Streaming plugin gives each watcher one substream of a simulcast mountpoint
// (0 = the lowest quality) and switches on a keyframe of the one asked for; it does not
// measure the watcher's path. So the page does: a path that cannot carry the substream
// shows as lost packets, freezes, or frames that wait ever longer in the jitter buffer
// (a queue growing at the bottleneck). Three such half-seconds in a row step one
// substream down. After a while on a good path it tries the next one up; a try is judged
// sooner (its keyframe, then one bad interval is enough), and one that goes bad steps back and
// doubles the wait before the next (up to climbMaxMs), one that holds resets it: a path
// that recovers is climbed back within climbBaseMs, and a try on a path that does not
// costs a watcher about two seconds.

/** The inbound-rtp video figures the policy reads (cumulative, as getStats gives them). */
export interface ReceiveSample {
  at: number; // ms
  framesDecoded: number;
  packetsReceived: number;
  packetsLost: number;
  freezeCount: number;
  jitterBufferDelay: number; // s, summed over emitted frames
  jitterBufferEmittedCount: number;
}

/** What one interval between two samples says about the path. */
export interface Interval {
  loss: number; // fraction of packets lost
  freezes: number;
  delayMs: number; // mean jitter-buffer delay of the frames emitted; NaN if none
  fps: number;
  bad: boolean;
}

export const SUBSTREAM_POLICY = {
  /** A loss fraction above this in an interval marks it bad. */
  lossBad: 0.03,
  /** Jitter-buffer delay this far above the lowest seen on the substream marks it bad. */
  delayRiseMs: 150,
  /** Bad intervals in a row before stepping down. */
  badToDown: 3,
  /** After a switch, intervals this young are not judged (the keyframe, the queue draining). */
  settleMs: 2500,
  /** ... and after a try up: only its keyframe; then a single bad interval steps back. */
  probeSettleMs: 600,
  /** Good time on a substream before trying the next one up; doubled after a failed try. */
  climbBaseMs: 10_000,
  climbMaxMs: 120_000,
  /** A try up that stays good this long has succeeded. */
  probeMs: 6000,
  /** A substream asked for that Janus has not switched to after this long does not exist. */
  switchTimeoutMs: 6000,
} as const;

export function interval(a: ReceiveSample, b: ReceiveSample, minDelayMs: number): Interval {
  const received = b.packetsReceived - a.packetsReceived;
  const lost = Math.max(0, b.packetsLost - a.packetsLost);
  const loss = received + lost > 0 ? lost / (received + lost) : 0;
  const freezes = Math.max(0, b.freezeCount - a.freezeCount);
  const emitted = b.jitterBufferEmittedCount - a.jitterBufferEmittedCount;
  const delayMs = emitted > 0 ? (1000 * (b.jitterBufferDelay - a.jitterBufferDelay)) / emitted : NaN;
  const dt = (b.at - a.at) / 1000;
  const fps = dt > 0 ? (b.framesDecoded - a.framesDecoded) / dt : 0;
  const bad = loss > SUBSTREAM_POLICY.lossBad || freezes > 0
    || (Number.isFinite(delayMs) && Number.isFinite(minDelayMs) && delayMs > minDelayMs + SUBSTREAM_POLICY.delayRiseMs);
  return { loss, freezes, delayMs, fps, bad };
}

/** One watcher's substream choice. `top` is the highest substream there may be (Janus: 2). */
export class SubstreamPolicy {
  target: number; // the substream last asked for
  top: number;
  private last: ReceiveSample | null = null;
  private current: number | null = null; // what Janus says it sends
  private changedAt = -Infinity; // a switch asked for or made
  private bad = 0;
  private goodSince: number | null = null;
  private climbWaitMs: number = SUBSTREAM_POLICY.climbBaseMs;
  private probingSince: number | null = null; // a try up, until it holds or fails
  private askedAt: number | null = null; // a switch asked for and not yet made
  private minDelayMs = Infinity; // on the current substream
  readonly log: Array<{ at: number; from: number | null; to: number; why: string }> = [];

  constructor(top = 2) {
    this.top = top;
    this.target = top; // Janus aims high at first too
  }

  /** Janus says it now sends `substream` (its "substream" event). */
  switched(substream: number, at: number): void {
    if (substream === this.current) return;
    this.current = substream;
    this.changedAt = at;
    this.minDelayMs = Infinity;
    this.bad = 0;
    this.goodSince = null;
    if (substream === this.target) this.askedAt = null;
    else if (substream < this.target && this.askedAt === null) this.askedAt = at; // Janus aims higher
  }

  get substream(): number | null {
    return this.current;
  }

  /** A new sample: the substream to ask Janus for now, or null to leave things be. */
  sample(s: ReceiveSample): number | null {
    const prev = this.last;
    this.last = s;
    const cur = this.current;
    if (prev === null || cur === null) return null;
    const iv = interval(prev, s, this.minDelayMs);
    if (this.askedAt !== null && s.at - this.askedAt > SUBSTREAM_POLICY.switchTimeoutMs && this.target > cur) {
      // Asked to go up and nothing came: there is no such substream (a mountpoint with
      // fewer), or it does not flow. Stay, and take this one as the top for now.
      this.top = cur;
      this.askedAt = null;
      this.probingSince = null;
      return this.ask(cur, s.at, "no higher substream");
    }
    const probing = this.probingSince !== null;
    if (s.at - this.changedAt < (probing ? SUBSTREAM_POLICY.probeSettleMs : SUBSTREAM_POLICY.settleMs)) return null;
    if (Number.isFinite(iv.delayMs)) this.minDelayMs = Math.min(this.minDelayMs, iv.delayMs);
    if (iv.bad) {
      this.goodSince = null;
      this.bad += 1;
      if ((probing || this.bad >= SUBSTREAM_POLICY.badToDown) && cur > 0) {
        if (this.probingSince !== null) {
          this.climbWaitMs = Math.min(SUBSTREAM_POLICY.climbMaxMs, this.climbWaitMs * 2);
          this.probingSince = null;
        }
        return this.ask(cur - 1, s.at, `loss ${(100 * iv.loss).toFixed(1)}%, freezes ${iv.freezes}, delay ${iv.delayMs.toFixed(0)} ms`);
      }
      return null;
    }
    this.bad = 0;
    if (this.goodSince === null) this.goodSince = s.at;
    if (this.probingSince !== null && s.at - this.probingSince >= SUBSTREAM_POLICY.probeMs) {
      this.probingSince = null;
      this.climbWaitMs = SUBSTREAM_POLICY.climbBaseMs; // the path carries it
    }
    if (cur < this.top && this.target <= cur && s.at - this.goodSince >= this.climbWaitMs) {
      this.probingSince = s.at;
      return this.ask(cur + 1, s.at, "path good: trying the next one up");
    }
    return null;
  }

  private ask(to: number, at: number, why: string): number {
    this.log.push({ at, from: this.current, to, why });
    this.target = to;
    this.changedAt = at;
    this.askedAt = to === this.current ? null : at;
    this.bad = 0;
    return to;
  }
}

/** The cumulative inbound-rtp video figures of a getStats report, or null if none. */
export function receiveSample(report: RTCStatsReport, at: number): (ReceiveSample & { frameWidth: number; frameHeight: number; bytesReceived: number }) | null {
  let out: (ReceiveSample & { frameWidth: number; frameHeight: number; bytesReceived: number }) | null = null;
  report.forEach((r: Record<string, unknown>) => {
    if (r.type !== "inbound-rtp" || r.kind !== "video") return;
    const n = (k: string): number => (typeof r[k] === "number" ? (r[k] as number) : 0);
    out = {
      at, framesDecoded: n("framesDecoded"), packetsReceived: n("packetsReceived"), packetsLost: n("packetsLost"),
      freezeCount: n("freezeCount"), jitterBufferDelay: n("jitterBufferDelay"),
      jitterBufferEmittedCount: n("jitterBufferEmittedCount"), frameWidth: n("frameWidth"),
      frameHeight: n("frameHeight"), bytesReceived: n("bytesReceived"),
    };
  });
  return out;
}
