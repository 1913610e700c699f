// The viewer's figures: counted as frames arrive and are drawn, reported once a second
// (a window), merged with the latest `stats` message from the server.

import type { Adaptation, Stats } from "../messages";
import type * as P from "../protocol";

/** What the session knows at the moment a report is made. */
export interface StatsContext {
  state: Stats["state"];
  transport: Stats["transport"];
  codec: string | null;
  viewOnly: boolean;
  width: number;
  height: number;
  decodeQueueSize: number;
  reconnects: number;
  /** WebSocket acks come after drawing; over WebRTC only frame_shown reports measure. */
  latencyMeasuredByAcks: boolean;
  timecode: boolean;
}

export class StatsWindow {
  displayed = 0;
  dropped = 0;
  firstFrameAt: number | null = null;
  server: P.StatsMessage | null = null;
  private frames = 0;
  private bytes = 0;
  private decodeMsSum = 0;
  private decodeMsCount = 0;
  private timecodeMs: number[] = [];
  private drawnAt: number[] = [];
  private since = performance.now();

  drawn(timecode: boolean): void {
    const at = performance.timeOrigin + performance.now();
    if (this.firstFrameAt === null) this.firstFrameAt = at;
    if (timecode) this.drawnAt.push(at);
    this.displayed++;
    this.frames++;
  }

  received(bytes: number): void {
    this.bytes += bytes;
  }

  decoded(ms: number): void {
    this.decodeMsSum += ms;
    this.decodeMsCount++;
  }

  timecodeLatency(ms: number): void {
    this.timecodeMs.push(ms);
  }

  /** The figures since the last report; starts a new window. */
  report(c: StatsContext): Stats {
    const now = performance.now();
    const elapsedS = (now - this.since) / 1000;
    const s = this.server;
    const stats: Stats = {
      state: c.state,
      transport: c.transport,
      codec: c.codec,
      viewOnly: c.viewOnly,
      width: c.width,
      height: c.height,
      framesDisplayed: this.displayed,
      framesDropped: this.dropped,
      fps: elapsedS > 0 ? this.frames / elapsedS : 0,
      bitrate: elapsedS > 0 ? (8 * this.bytes) / elapsedS : 0,
      decodeMs: this.decodeMsCount ? this.decodeMsSum / this.decodeMsCount : null,
      decodeQueueSize: c.decodeQueueSize,
      latencyMs: (s?.latency_ms as number | null | undefined) ?? null,
      latencyP95Ms: (s?.latency_p95_ms as number | null | undefined) ?? null,
      latencyMeasured: c.latencyMeasuredByAcks || s?.latency_source === "shown",
      rttMs: (s?.rtt_ms as number | null | undefined) ?? null,
      viewers: (s?.viewers as number | undefined) ?? null,
      reconnects: c.reconnects,
      firstFrameAt: this.firstFrameAt,
      timecodeMs: c.timecode ? this.timecodeMs : undefined,
      drawnAt: c.timecode ? this.drawnAt : undefined,
      adaptation: adaptationOf(s),
    };
    this.since = now;
    this.frames = 0;
    this.bytes = 0;
    this.decodeMsSum = 0;
    this.decodeMsCount = 0;
    this.timecodeMs = [];
    this.drawnAt = [];
    return stats;
  }
}

export function adaptationOf(s: P.StatsMessage | null): Adaptation | null {
  if (!s || typeof s.rung !== "number") return null;
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  return {
    rung: s.rung,
    rungs: num(s.rungs) ?? 1,
    codedWidth: num(s.rung_width),
    codedHeight: num(s.rung_height),
    fps: num(s.target_fps),
    targetBitrate: num(s.target_bitrate),
    estimateBps: num(s.estimate_bps),
    queueMs: num(s.queue_ms),
    switches: num(s.rung_switches) ?? 0,
    reason: typeof s.adapt_reason === "string" ? s.adapt_reason : null,
  };
}
