// The worker owns the WebSocket, the decoders and the OffscreenCanvas.
// It receives frames, decodes them (WebCodecs for H.264, createImageBitmap for images),
// draws them with the fit mode, acks them, and maps input to frame pixels.

import { FINAL_CLOSE_CODES } from "../close-codes";
import { frameToCanvas, layout, type Fit, type Layout } from "../geometry";
import { BITS, BLOCK, decodeTimecode, latencyMs } from "../timecode";
import { ImageScheduler, PendingChunks, Backoff } from "../flow";
import { KeyframeGate } from "../keyframe-gate";
import * as P from "../protocol";
import type { Adaptation, FromWorker, Size, State, Stats, ToWorker, WorkerOptions } from "../messages";
import { keyEvent, pointerEvent, type KeyInput, type PointerInput } from "../input";

interface WorkerScope {
  postMessage(msg: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  close(): void;
  readonly isSecureContext: boolean;
}
const scope = self as unknown as WorkerScope;

const STALL_MS = 2000;
const STATS_MS = 1000;

interface ImageJob {
  seq: number;
  frameW: number;
  frameH: number;
  header: P.ImageFrameHeader;
  payload: Uint8Array;
  receivedAt: number;
}

class Session {
  private opts: WorkerOptions;
  private canvas: OffscreenCanvas;
  private ctx: OffscreenCanvasRenderingContext2D;
  private size: Size;
  private ws: WebSocket | null = null;
  private state: State = "idle";
  private disposed = false;
  private backoff = new Backoff();
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private reconnects = 0;

  // stream: frameW/H is the published frame's size, which every rung is drawn at and input
  // maps to; a lower rung may be coded smaller.
  private frameW = 0;
  private frameH = 0;
  private configW = 0; // what the last config said (WebRTC frames carry only their coded size)
  private configH = 0;
  private codec: string | null = null;
  private viewOnly = false; // the config said this viewer may only watch
  private supportsH264 = false;
  private images: ImageScheduler<ImageJob>;
  private decoder: VideoDecoder | null = null;
  private decoderKey = "";
  private gate = new KeyframeGate();
  private chunks = new PendingChunks();

  // stats
  private displayed = 0;
  private firstFrameAt: number | null = null;
  private firstFrameSent = false;
  private timecodeWindow: number[] = [];
  private drawnAtWindow: number[] = [];
  private dropped = 0;
  private bytesWindow = 0;
  private framesWindow = 0;
  private decodeMsSum = 0;
  private decodeMsCount = 0;
  private lastStats: Stats;
  private server: P.StatsMessage | null = null;
  private statsTimer: ReturnType<typeof setInterval>;
  private watchdogTimer: ReturnType<typeof setInterval>;

  constructor(canvas: OffscreenCanvas, opts: WorkerOptions, size: Size) {
    this.canvas = canvas;
    this.opts = opts;
    this.size = size;
    const ctx = canvas.getContext("2d", { alpha: false, desynchronized: true });
    if (!ctx) throw new Error("no 2D context on the OffscreenCanvas");
    this.ctx = ctx;
    this.images = new ImageScheduler<ImageJob>(Math.max(1, opts.maxInflight));
    this.applySize(size);
    this.lastStats = this.makeStats(0);
    this.statsTimer = setInterval(() => this.emitStats(), STATS_MS);
    this.watchdogTimer = setInterval(() => this.watchdog(), 500);
  }

  async start(): Promise<void> {
    this.supportsH264 = !this.opts.imageOnly && (await probeH264());
    if (this.opts.mode === "websocket") this.connect();
    else this.setState("connecting");
  }

  // -- WebRTC, relayed by the main thread ------------------------------------------------

  rtcOpen(): void {
    this.setState("open");
    this.sendViewport();
  }

  rtcText(text: string): void {
    this.onText(text);
  }

  async rtcFrames(readable: ReadableStream<VideoFrame>): Promise<void> {
    const reader = readable.getReader();
    try {
      for (;;) {
        const { value: frame, done } = await reader.read();
        if (done || !frame) break;
        if (this.disposed || this.opts.mode !== "webrtc") {
          frame.close();
          break;
        }
        this.setRtcFrameSize(frame.displayWidth, frame.displayHeight);
        const rtp = rtpTimestampOf(frame);
        this.draw(frame, () => frame.close());
        // Its arrival time comes from the main thread's <video> (one clock for all frames).
        if (rtp !== null) scope.postMessage({ type: "rtc-shown", rtp, receivedMs: null });
      }
    } catch (err) {
      this.log(`WebRTC frames ended: ${err}`);
    } finally {
      reader.releaseLock();
    }
  }

  rtcBitmap(bitmap: ImageBitmap, rtpTimestamp: number | null, receivedMs: number | null): void {
    if (this.opts.mode !== "webrtc") {
      bitmap.close();
      return;
    }
    this.setRtcFrameSize(bitmap.width, bitmap.height);
    this.draw(bitmap, () => bitmap.close());
    // Tell the server which frame was drawn, so it can measure publish -> display (and,
    // from the arrival spacing, the path).
    if (rtpTimestamp !== null) scope.postMessage({ type: "rtc-shown", rtp: rtpTimestamp, receivedMs });
  }

  /** A WebRTC frame is coded at its rung's size; draw it at the size the config gave. */
  private setRtcFrameSize(codedW: number, codedH: number): void {
    this.frameW = this.configW || codedW;
    this.frameH = this.configH || codedH;
  }

  rtcClosed(reason: string): void {
    if (this.opts.mode === "webrtc") this.setState("closed", reason);
  }

  /** auto: WebRTC gave no frame in time; continue on the WebSocket. */
  useWebSocket(): void {
    if (this.opts.mode === "websocket") return;
    this.opts.mode = "websocket";
    this.firstFrameSent = false;
    this.connect();
  }

  // -- connection ------------------------------------------------------------------------

  private setState(state: State, reason?: string): void {
    if (state === this.state && !reason) return;
    this.state = state;
    scope.postMessage({ type: "state", state, reason });
    if (this.opts.debug) this.log(`state ${state}${reason ? `: ${reason}` : ""}`);
  }

  private log(message: string): void {
    scope.postMessage({ type: "log", message });
  }

  private connect(): void {
    if (this.disposed) return;
    this.setState("connecting");
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.opts.url);
    } catch (err) {
      this.setState("error", String(err));
      scope.postMessage({ type: "error", message: `cannot open ${this.opts.url}: ${err}` });
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.setState("open");
      const caps = [P.CAP_JPEG, P.CAP_PNG, P.CAP_WEBP];
      if (this.supportsH264) caps.push(P.CAP_H264);
      ws.send(P.hello(caps, this.opts.token));
      this.sendViewport();
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data === "string") this.onText(e.data);
      else this.onBinary(e.data as ArrayBuffer);
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.resetStream();
      const reason = `closed ${e.code}${e.reason ? ` ${e.reason}` : ""}`;
      if (this.disposed) {
        this.setState("closed", reason);
        return;
      }
      // Authorisation and capability failures do not heal by retrying.
      if (FINAL_CLOSE_CODES.has(e.code)) {
        this.setState("error", reason);
        scope.postMessage({ type: "error", message: reason });
        return;
      }
      this.setState("closed", reason);
      const delay = this.backoff.next();
      this.reconnects++;
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    };
    ws.onerror = () => {
      /* onclose follows with the code */
    };
  }

  private send(text: string): void {
    if (this.opts.mode === "webrtc") scope.postMessage({ type: "rtc-send", text });
    else if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  private sendViewport(): void {
    const s = this.size;
    this.send(P.setViewport({ width: s.cssWidth, height: s.cssHeight, pwidth: s.width, pheight: s.height, ratio: s.ratio }));
  }

  private onText(text: string): void {
    let msg: P.ServerMessage;
    try {
      msg = P.parseServerText(text);
    } catch {
      return;
    }
    if (msg.type === "config") {
      const c = msg as P.ConfigMessage;
      this.frameW = this.configW = c.width;
      this.frameH = this.configH = c.height;
      this.codec = c.codec ?? c.mime ?? null;
      this.viewOnly = c.view_only === true;
      this.backoff.reset();
      this.setState("negotiated");
    } else if (msg.type === "stats") {
      this.server = msg as P.StatsMessage;
    }
  }

  private onBinary(data: ArrayBuffer): void {
    let header: Record<string, unknown>;
    let payload: Uint8Array;
    try {
      ({ header, payload } = P.unpackEnvelope(data));
    } catch (err) {
      this.log(`bad frame: ${err}`);
      return;
    }
    if (!P.isFrameHeader(header)) return;
    const receivedAt = performance.now();
    this.bytesWindow += data.byteLength;
    if (header.type === "image_frame") this.onImage(header as P.ImageFrameHeader, payload, receivedAt);
    else this.onVideo(header as P.VideoChunkHeader, payload, receivedAt);
  }

  // -- images ----------------------------------------------------------------------------

  private onImage(header: P.ImageFrameHeader, payload: Uint8Array, receivedAt: number): void {
    this.codec = header.mime;
    const size = P.frameSize(header);
    const { start, dropped } = this.images.push({ seq: header.seq, frameW: size.width, frameH: size.height, header, payload, receivedAt });
    if (dropped) {
      this.dropped++;
      this.send(P.ack(dropped.seq, this.images.busy, false, dropped.receivedAt));
    }
    if (start) void this.decodeImage(start);
  }

  private async decodeImage(job: ImageJob): Promise<void> {
    let next: ImageJob | null = job;
    while (next) {
      const cur: ImageJob = next;
      try {
        const blob = new Blob([cur.payload as BlobPart], { type: cur.header.mime });
        const bitmap = await createImageBitmap(blob);
        this.frameW = cur.frameW;
        this.frameH = cur.frameH;
        this.draw(bitmap, () => bitmap.close());
        this.noteDecode(performance.now() - cur.receivedAt);
        this.send(P.ack(cur.header.seq, this.images.busy - 1, true, cur.receivedAt));
      } catch (err) {
        this.dropped++;
        this.send(P.ack(cur.header.seq, 0, false, cur.receivedAt));
        this.log(`image decode failed: ${err}`);
      }
      next = this.images.done();
    }
  }

  // -- video -----------------------------------------------------------------------------

  private decoderConfig(header: P.VideoChunkHeader): VideoDecoderConfig {
    const config: VideoDecoderConfig = {
      codec: header.codec,
      codedWidth: header.width,
      codedHeight: header.height,
      optimizeForLatency: true,
    };
    const color = header.color;
    if (color) {
      config.colorSpace = {
        primaries: color.primaries as VideoColorPrimaries,
        transfer: color.transfer as VideoTransferCharacteristics,
        matrix: color.matrix as VideoMatrixCoefficients,
        fullRange: color.full_range,
      };
    }
    return config;
  }

  private ensureDecoder(header: P.VideoChunkHeader): void {
    const key = `${header.codec}/${header.width}x${header.height}`;
    if (this.decoder && this.decoder.state !== "closed" && key === this.decoderKey) return;
    if (this.decoder && this.decoder.state === "configured") {
      // Another rung (a keyframe at another coded size): configure the same decoder anew.
      // Chunks already queued still come out first, so the picture never blanks.
      this.decoder.configure(this.decoderConfig(header));
      this.decoderKey = key;
      this.gate.close();
      return;
    }
    this.closeDecoder();
    const decoder = new VideoDecoder({
      output: (frame) => this.onVideoFrame(frame),
      error: (err) => {
        this.log(`decoder error: ${err.message}`);
        if (this.decoder === decoder) this.rebuildDecoder("decoder error");
      },
    });
    decoder.configure(this.decoderConfig(header));
    this.decoder = decoder;
    this.decoderKey = key;
    this.gate.close();
    this.chunks.clear();
  }

  private closeDecoder(): void {
    if (this.decoder && this.decoder.state !== "closed") {
      try {
        this.decoder.close();
      } catch {
        /* already closed */
      }
    }
    this.decoder = null;
    this.decoderKey = "";
    this.chunks.clear();
  }

  private rebuildDecoder(reason: string): void {
    this.log(`rebuilding decoder: ${reason}`);
    this.closeDecoder();
    this.gate.close();
    this.send(P.decoderReset());
  }

  private onVideo(header: P.VideoChunkHeader, payload: Uint8Array, receivedAt: number): void {
    this.codec = header.codec;
    // A new codec or size needs a new configuration, which only a keyframe can start.
    const key = `${header.codec}/${header.width}x${header.height}`;
    if (key !== this.decoderKey || !this.decoder || this.decoder.state === "closed") {
      if (!header.keyframe) {
        this.dropVideo(header, "waiting for a keyframe", receivedAt);
        return;
      }
      this.ensureDecoder(header);
    }
    const { decode, request } = this.gate.admit(header.keyframe, performance.now());
    if (!decode) {
      this.dropVideo(header, request ? "waiting for a keyframe" : null, receivedAt);
      return;
    }
    const decoder = this.decoder!;
    const size = P.frameSize(header);
    this.chunks.submit(header.seq, header.timestamp_us, receivedAt, size.width, size.height);
    try {
      decoder.decode(
        new EncodedVideoChunk({
          type: header.keyframe ? "key" : "delta",
          timestamp: header.seq, // unique per connection; maps the output frame back to its ack
          duration: header.duration_us,
          data: payload,
        }),
      );
    } catch (err) {
      this.rebuildDecoder(`decode threw: ${err}`);
    }
  }

  private dropVideo(header: P.VideoChunkHeader, requestReason: string | null, receivedAt: number): void {
    this.dropped++;
    this.send(P.ack(header.seq, this.decoder?.decodeQueueSize ?? 0, false, receivedAt));
    if (requestReason) this.send(P.requestKeyframe(requestReason));
  }

  private onVideoFrame(frame: VideoFrame): void {
    const seq = frame.timestamp;
    const chunk = this.chunks.take(seq);
    this.frameW = chunk?.frameW || frame.displayWidth;
    this.frameH = chunk?.frameH || frame.displayHeight;
    this.draw(frame, () => frame.close());
    if (chunk) this.noteDecode(performance.now() - chunk.submittedAt);
    this.send(P.ack(seq, this.decoder?.decodeQueueSize ?? 0, true, chunk?.submittedAt));
  }

  private watchdog(): void {
    if (!this.decoder || this.chunks.size === 0) return;
    if (this.chunks.oldestAgeMs(performance.now()) > STALL_MS) this.rebuildDecoder("stalled");
  }

  private resetStream(): void {
    this.closeDecoder();
    this.gate.close();
    this.images.reset();
  }

  // -- drawing ---------------------------------------------------------------------------

  private currentLayout(): Layout {
    return layout(this.frameW, this.frameH, this.canvas.width, this.canvas.height, this.opts.fit);
  }

  /** Draw a decoded picture, then free it right away (keeping a copy only of the canvas). */
  private draw(source: CanvasImageSource, release: () => void): void {
    const ctx = this.ctx;
    const l = this.currentLayout();
    const cw = this.canvas.width;
    const ch = this.canvas.height;
    ctx.fillStyle = this.opts.background;
    if (l.x > 0 || l.y > 0) ctx.fillRect(0, 0, cw, ch);
    ctx.drawImage(source, l.x, l.y, l.w, l.h);
    release();
    if (this.opts.timecode) {
      this.readTimecode(l);
      this.drawnAtWindow.push(performance.timeOrigin + performance.now());
    }
    if (this.firstFrameAt === null) this.firstFrameAt = performance.timeOrigin + performance.now();
    if (!this.firstFrameSent) {
      this.firstFrameSent = true;
      scope.postMessage({ type: "first-frame" });
    }
    this.displayed++;
    this.framesWindow++;
  }

  /** Publish -> display latency from the frame's stamped wall-clock time (timecode pattern). */
  private readTimecode(l: Layout): void {
    if (this.frameW < BITS * BLOCK) return;
    const a = frameToCanvas(0, BLOCK / 2, this.frameW, this.frameH, l);
    const b = frameToCanvas(BITS * BLOCK, BLOCK / 2, this.frameW, this.frameH, l);
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
    if (ms >= 0 && ms < 60_000) this.timecodeWindow.push(ms);
  }

  private redrawBackground(): void {
    // No decoded picture is kept (each is closed once drawn): clear to the background and
    // ask the server for a full picture (request_keyframe), which comes within one frame.
    this.ctx.fillStyle = this.opts.background;
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
  }

  private applySize(size: Size): void {
    this.size = size;
    if (this.canvas.width !== size.width || this.canvas.height !== size.height) {
      this.canvas.width = size.width;
      this.canvas.height = size.height;
      this.redrawBackground();
    }
  }

  resize(size: Size): void {
    this.applySize(size);
    this.sendViewport();
    // Ask for a fresh picture: a static scene would otherwise stay blank after a resize.
    if (this.state === "negotiated") this.send(P.requestKeyframe("resize"));
  }

  setFit(fit: Fit, background?: string): void {
    this.opts.fit = fit;
    if (background) this.opts.background = background;
    this.redrawBackground();
    if (this.state === "negotiated") this.send(P.requestKeyframe("fit"));
  }

  // -- input -----------------------------------------------------------------------------

  pointer(input: PointerInput): void {
    if (this.state !== "negotiated" || this.viewOnly) return;
    const s = this.size;
    const ev = pointerEvent(input, {
      cssWidth: s.cssWidth,
      cssHeight: s.cssHeight,
      canvasWidth: this.canvas.width,
      canvasHeight: this.canvas.height,
      ratio: s.ratio,
      frameW: this.frameW,
      frameH: this.frameH,
      fit: this.opts.fit,
    });
    this.send(P.event(ev));
  }

  key(input: KeyInput): void {
    if (this.state !== "negotiated" || this.viewOnly) return;
    const ev = keyEvent(input);
    if (ev) this.send(P.event(ev));
  }

  // -- capture and stats -----------------------------------------------------------------

  async capture(id: number, format: "imagedata" | "blob"): Promise<void> {
    try {
      if (format === "blob") {
        const blob = await this.canvas.convertToBlob({ type: "image/png" });
        scope.postMessage({ type: "capture", id, result: blob });
      } else {
        const img = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
        scope.postMessage({ type: "capture", id, result: img }, [img.data.buffer]);
      }
    } catch (err) {
      scope.postMessage({ type: "capture", id, result: null, error: String(err) });
    }
  }

  private noteDecode(ms: number): void {
    this.decodeMsSum += ms;
    this.decodeMsCount++;
  }

  private makeStats(elapsedS: number): Stats {
    const s = this.server;
    return {
      state: this.state,
      transport: this.state === "negotiated" ? this.opts.mode : null,
      codec: this.codec,
      viewOnly: this.viewOnly,
      width: this.frameW,
      height: this.frameH,
      framesDisplayed: this.displayed,
      framesDropped: this.dropped,
      fps: elapsedS > 0 ? this.framesWindow / elapsedS : 0,
      bitrate: elapsedS > 0 ? (8 * this.bytesWindow) / elapsedS : 0,
      decodeMs: this.decodeMsCount ? this.decodeMsSum / this.decodeMsCount : null,
      decodeQueueSize: this.decoder?.decodeQueueSize ?? this.images.busy,
      latencyMs: (s?.latency_ms as number | null | undefined) ?? null,
      latencyP95Ms: (s?.latency_p95_ms as number | null | undefined) ?? null,
      // WebSocket acks come after drawing; over WebRTC only frame_shown reports measure.
      latencyMeasured: this.opts.mode === "websocket" || s?.latency_source === "shown",
      rttMs: (s?.rtt_ms as number | null | undefined) ?? null,
      viewers: (s?.viewers as number | undefined) ?? null,
      reconnects: this.reconnects,
      firstFrameAt: this.firstFrameAt,
      timecodeMs: this.opts.timecode ? this.timecodeWindow.slice() : undefined,
      drawnAt: this.opts.timecode ? this.drawnAtWindow.slice() : undefined,
      adaptation: adaptationOf(s),
    };
  }

  private lastStatsAt = performance.now();

  private emitStats(): void {
    const now = performance.now();
    this.lastStats = this.makeStats((now - this.lastStatsAt) / 1000);
    this.lastStatsAt = now;
    this.framesWindow = 0;
    this.timecodeWindow = [];
    this.drawnAtWindow = [];
    this.bytesWindow = 0;
    this.decodeMsSum = 0;
    this.decodeMsCount = 0;
    scope.postMessage({ type: "stats", stats: this.lastStats });
  }

  dispose(): void {
    this.disposed = true;
    clearInterval(this.statsTimer);
    clearInterval(this.watchdogTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.resetStream();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "disposed");
    }
    this.setState("closed", "disposed");
  }
}

function adaptationOf(s: P.StatsMessage | null): Adaptation | null {
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

async function probeH264(): Promise<boolean> {
  if (typeof VideoDecoder === "undefined") {
    // WebCodecs is only exposed to secure contexts (https, or a page from localhost).
    if (!scope.isSecureContext) console.warn("rfb: no WebCodecs in an insecure context (http:// from another host): using images; serve https (--certfile) or tunnel to localhost for H.264");
    return false;
  }
  try {
    const r = await VideoDecoder.isConfigSupported({ codec: P.PROBE_CODEC, optimizeForLatency: true });
    return r.supported === true;
  } catch {
    return false;
  }
}

let session: Session | null = null;

scope.onmessage = (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  switch (msg.type) {
    case "init":
      session = new Session(msg.canvas, msg.options, msg.size);
      void session.start();
      break;
    case "resize":
      session?.resize(msg.size);
      break;
    case "fit":
      session?.setFit(msg.fit, msg.background);
      break;
    case "pointer":
      session?.pointer(msg.input);
      break;
    case "key":
      session?.key(msg.input);
      break;
    case "capture":
      if (session) void session.capture(msg.id, msg.format);
      else scope.postMessage({ type: "capture", id: msg.id, result: null, error: "not started" });
      break;
    case "rtc-open":
      session?.rtcOpen();
      break;
    case "rtc-text":
      session?.rtcText(msg.text);
      break;
    case "rtc-frames":
      if (session) void session.rtcFrames(msg.readable);
      break;
    case "rtc-bitmap":
      if (session) session.rtcBitmap(msg.bitmap, msg.rtpTimestamp, msg.receivedMs);
      else msg.bitmap.close();
      break;
    case "rtc-closed":
      session?.rtcClosed(msg.reason);
      break;
    case "use-websocket":
      session?.useWebSocket();
      break;
    case "dispose":
      session?.dispose();
      session = null;
      scope.close();
      break;
  }
};

/** The RTP timestamp of a WebRTC frame (VideoFrame.metadata(), Chromium), else null. */
function rtpTimestampOf(frame: VideoFrame): number | null {
  const meta = (frame as unknown as { metadata?: () => { rtpTimestamp?: number } }).metadata?.();
  return typeof meta?.rtpTimestamp === "number" ? meta.rtpTimestamp : null;
}
