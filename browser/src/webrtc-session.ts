// The view's WebRTC session: starts a WebRtcLink (webrtc.ts) at the server's WHEP
// endpoint, relays its frames and data-channel text to the worker, starts it again with
// backoff when it drops, falls back to the WebSocket under transport "auto", and adds the
// receiver's figures to the worker's stats.

import { WEBRTC_RETRY, type ResolvedOptions } from "./defaults";
import { PartAssembler } from "./exact-still";
import { Backoff } from "./flow";
import type { Stats, ToWorker } from "./messages";
import { WebRtcLink, WhepError, whepUrl, type RtcAudioStats, type RtcStats } from "./webrtc";

export interface WebRtcSessionHost {
  /** Relay to the worker: frames, data-channel text, and what became of the link. */
  post(msg: ToWorker, transfer?: Transferable[]): void;
  /** WebRTC was refused for good (WHEP answered 4xx, not 429): retrying would not heal it. */
  failed(reason: string): void;
  /** The program's sound: given, the offer receives audio and its track comes here. */
  audioTrack?(track: MediaStreamTrack): void;
  /** ...and its receiver figures, with each stats report. */
  audioFigures?(figures: RtcAudioStats | null): void;
  /** The viewer's microphone: given, the offer sends audio too; called with each link's
   * microphone sender once it is up (null when the link goes). */
  microphone?(sender: RTCRtpSender | null): void;
}

export type WebRtcSessionOptions = Pick<ResolvedOptions, "url" | "token" | "transport" | "autoFallbackMs" | "debug" | "chroma444">;

export class WebRtcSession {
  private link: WebRtcLink | null = null;
  private readonly backoff = new Backoff(WEBRTC_RETRY.baseMs, WEBRTC_RETRY.maxMs);
  private fallbackTimer: ReturnType<typeof setTimeout> | null = null;
  private gotFirstFrame = false;
  private closed = false;
  private _mode: "websocket" | "webrtc" = "webrtc";
  private parts = new PartAssembler(); // exact stills come over the data channel in parts

  constructor(
    private readonly opts: WebRtcSessionOptions,
    private readonly host: WebRtcSessionHost,
  ) {}

  /** The current peer connection (null between tries): its getStats() for pages and tests. */
  get pc(): RTCPeerConnection | null {
    return this.link?.pc ?? null;
  }

  /** Which link carries the stream: "webrtc" until an "auto" view falls back. */
  get mode(): "websocket" | "webrtc" {
    return this._mode;
  }

  private get auto(): boolean {
    return this.opts.transport === "auto";
  }

  async start(): Promise<void> {
    if (this.closed || this._mode !== "webrtc") return;
    const link = new WebRtcLink(whepUrl(this.opts.url), this.opts.token, {
      onStream: (readable) => this.host.post({ type: "rtc-frames", readable }, [readable as unknown as Transferable]),
      onBitmap: (bitmap, rtpTimestamp, receivedMs) => this.host.post({ type: "rtc-bitmap", bitmap, rtpTimestamp, receivedMs }, [bitmap]),
      onText: (text) => this.host.post({ type: "rtc-text", text }),
      onBinary: (data) => {
        const message = this.parts.push(data);
        if (message) this.host.post({ type: "rtc-binary", data: message.buffer as ArrayBuffer }, [message.buffer as ArrayBuffer]);
      },
      onOpen: () => this.host.post({ type: "rtc-open" }),
      onClose: (reason) => this.onClosed(link, reason),
      ...(this.host.audioTrack ? { onAudioTrack: (track: MediaStreamTrack) => this.host.audioTrack?.(track) } : {}),
      ...(this.host.microphone ? { microphone: true } : {}),
    }, this.opts.chroma444);
    this.link = link;
    this.parts = new PartAssembler();
    if (this.auto) {
      this.fallbackTimer = setTimeout(() => {
        if (!this.gotFirstFrame) this.fallBack("no WebRTC frame in time");
      }, this.opts.autoFallbackMs);
    }
    try {
      await link.start();
      this.host.microphone?.(link.micSender);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (this.auto) this.fallBack(message);
      else this.onClosed(link, message, err instanceof WhepError && err.status >= 400 && err.status < 500 && err.status !== 429);
    }
  }

  /** The worker drew its first frame: the link works, so a later drop retries soon again. */
  firstFrame(): void {
    this.gotFirstFrame = true;
    if (this._mode === "webrtc") this.backoff.reset();
  }

  /** A message from the worker for the server, over the data channel. */
  send(text: string): void {
    this.link?.send(text);
  }

  /** A binary message from the worker (a file chunk), over the data channel. */
  sendBinary(data: ArrayBuffer): void {
    this.link?.sendBinary(data);
  }

  /** The worker drew the frame with this RTP timestamp (frame_shown to the server). */
  frameShown(rtp: number, receivedMs: number | null): void {
    this.link?.frameShown(rtp, receivedMs);
  }

  /** The worker's stats with the receiver's figures, while WebRTC carries the stream. */
  async withReceiverStats(stats: Stats): Promise<Stats> {
    if (this._mode !== "webrtc" || !this.link) return stats;
    try {
      const rtc = await this.link.stats();
      this.host.audioFigures?.(rtc?.audio ?? null);
      return rtc ? addReceiverStats(stats, rtc) : stats;
    } catch {
      return stats;
    }
  }

  close(): void {
    this.closed = true;
    if (this.fallbackTimer) clearTimeout(this.fallbackTimer);
    this.link?.close();
    this.link = null;
  }

  private onClosed(link: WebRtcLink, reason: string, final = false): void {
    if (this.link !== link || this.closed) return;
    this.link = null;
    if (this.auto && !this.gotFirstFrame) {
      this.fallBack(reason);
      return;
    }
    this.host.post({ type: "rtc-closed", reason });
    if (final) {
      this.host.failed(reason);
      return;
    }
    this.gotFirstFrame = false;
    setTimeout(() => void this.start(), this.backoff.next());
  }

  /** "auto": WebRTC gave no frame; the worker continues on its own WebSocket. */
  private fallBack(reason: string): void {
    if (this._mode !== "webrtc" || this.closed) return;
    if (this.opts.debug) console.debug("rfb: using the WebSocket:", reason);
    this._mode = "websocket";
    if (this.fallbackTimer) clearTimeout(this.fallbackTimer);
    const link = this.link;
    this.link = null;
    link?.close();
    this.host.post({ type: "use-websocket" });
  }
}

/** Stats with the browser's receiver figures. Without frame_shown reports the server's
 * latency stops where the packets leave it; add what the browser reports after that (half
 * the RTT, the jitter buffer, decoding). */
export function addReceiverStats(stats: Stats, rtc: RtcStats): Stats {
  const latencyMs =
    stats.latencyMeasured || stats.latencyMs === null
      ? stats.latencyMs
      : stats.latencyMs + (rtc.rttMs ?? 0) / 2 + (rtc.jitterBufferMs ?? 0) + (rtc.decodeMs ?? 0);
  return { ...stats, rtc, codec: rtc.codec ?? stats.codec, bitrate: rtc.bitrate, latencyMs };
}
