// The worker's entry point: a Session and the dispatch of the view's messages to it. The
// session owns the link to the server (link.ts: its WebSocket, or the WebRTC data channel
// relayed by the main thread), the decoding pipelines (images.ts, video.ts), the canvas it
// draws on (canvas.ts), the viewer's figures (stats.ts), and maps input to frame pixels.
// WebRTC frames come from the main thread.

import { ExactHold, type DrawMeta } from "../exact-still";
import type { Fit } from "../geometry";
import * as P from "../protocol";
import type { FromWorker, Size, State, Stats, ToWorker, WorkerOptions } from "../messages";
import { charEvents, clipboardText, keyEvent, pointerEvent, type KeyInput, type PointerInput, type TextInput } from "../input";
import { FrameCanvas } from "./canvas";
import { ImagePipe } from "./images";
import { RelayedLink, WebSocketLink, type Link, type LinkEnd } from "./link";
import type { FrameSink } from "./sink";
import { StatsWindow } from "./stats";
import { probeH264, VideoPipe } from "./video";

interface WorkerScope {
  postMessage(msg: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  close(): void;
}
const scope = self as unknown as WorkerScope;
const post = (msg: FromWorker, transfer: Transferable[] = []): void => scope.postMessage(msg, transfer);

const STATS_MS = 1000;

class Session implements FrameSink {
  private readonly opts: WorkerOptions;
  private readonly canvas: FrameCanvas;
  private size: Size;
  private link: Link;
  private state: State = "idle";
  private disposed = false;

  // frameW/H is the published frame's size, which every rung is drawn at and input maps
  // to; a lower rung may be coded smaller.
  private frameW = 0;
  private frameH = 0;
  private configW = 0; // what the last config said (WebRTC frames carry only their coded size)
  private configH = 0;
  private codec: string | null = null;
  private viewOnly = false; // the config said this viewer may only watch
  private supportsH264 = false;
  private supportsH264_444 = false;
  private readonly images: ImagePipe;
  private readonly video: VideoPipe;
  private readonly stats = new StatsWindow();
  private readonly exactHold = new ExactHold(); // an exact still on the canvas is not drawn over
  private firstFrameSent = false;
  private readonly statsTimer: ReturnType<typeof setInterval>;
  private readonly watchdogTimer: ReturnType<typeof setInterval>;

  constructor(canvas: OffscreenCanvas, opts: WorkerOptions, size: Size) {
    this.canvas = new FrameCanvas(canvas, opts.fit, opts.background);
    this.opts = opts;
    this.size = size;
    this.images = new ImagePipe(this, opts.maxInflight);
    this.video = new VideoPipe(this);
    this.link = opts.mode === "websocket" ? this.webSocketLink() : new RelayedLink(post);
    this.applySize(size);
    this.statsTimer = setInterval(() => this.emitStats(), STATS_MS);
    this.watchdogTimer = setInterval(() => this.video.watchdog(), 500);
  }

  async start(): Promise<void> {
    const probe = this.opts.imageOnly ? { h264: false, h264_444: false } : await probeH264();
    this.supportsH264 = probe.h264;
    this.supportsH264_444 = probe.h264_444 && this.opts.chroma444;
    if (this.link instanceof WebSocketLink) this.link.start();
    else this.setState("connecting");
  }

  private webSocketLink(): WebSocketLink {
    return new WebSocketLink(this.opts.url, {
      onConnecting: () => this.setState("connecting"),
      onOpen: () => {
        this.setState("open");
        const caps = [P.CAP_JPEG, P.CAP_PNG, P.CAP_WEBP];
        if (this.supportsH264) caps.push(P.CAP_H264);
        if (this.supportsH264_444) caps.push(P.CAP_H264_444);
        this.link.send(P.hello(caps, this.opts.token));
        this.sendViewport();
      },
      onText: (text) => this.onText(text),
      onBinary: (data) => this.onBinary(data),
      onClosed: (reason, end) => this.onLinkClosed(reason, end),
    });
  }

  private onLinkClosed(reason: string, end: LinkEnd): void {
    this.resetStream();
    if (end === "refused") {
      this.setState("error", reason);
      post({ type: "error", message: reason });
    } else {
      this.setState("closed", reason);
    }
  }

  // -- WebRTC, relayed by the main thread ------------------------------------------------

  rtcOpen(): void {
    this.setState("open");
    // The media was negotiated by WHEP; this hello only says which messages we understand.
    this.link.send(P.hello([], this.opts.token));
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
        if (this.disposed || this.link.kind !== "webrtc") {
          frame.close();
          break;
        }
        const rtp = rtpTimestampOf(frame);
        this.drawRtc(frame, frame.displayWidth, frame.displayHeight, () => frame.close(), rtp);
        // Its arrival time comes from the main thread's <video> (one clock for all frames).
        if (rtp !== null) post({ type: "rtc-shown", rtp, receivedMs: null });
      }
    } catch (err) {
      this.log(`WebRTC frames ended: ${err}`);
    } finally {
      reader.releaseLock();
    }
  }

  rtcBitmap(bitmap: ImageBitmap, rtpTimestamp: number | null, receivedMs: number | null): void {
    if (this.link.kind !== "webrtc") {
      bitmap.close();
      return;
    }
    this.drawRtc(bitmap, bitmap.width, bitmap.height, () => bitmap.close(), rtpTimestamp);
    // Tell the server which frame was drawn, so it can measure publish -> display (and,
    // from the arrival spacing, the path).
    if (rtpTimestamp !== null) post({ type: "rtc-shown", rtp: rtpTimestamp, receivedMs });
  }

  /** A WebRTC frame is coded at its rung's size; draw it at the size the config gave. */
  private drawRtc(picture: CanvasImageSource, codedW: number, codedH: number, release: () => void, rtp: number | null): void {
    this.draw(picture, this.configW || codedW, this.configH || codedH, release, { rtp });
  }

  /** A binary message on the data channel (reassembled by the main thread): an exact
   * still, the same envelope as on the WebSocket. */
  rtcBinary(data: ArrayBuffer): void {
    if (this.link.kind === "webrtc") this.onBinary(data);
  }

  rtcClosed(reason: string): void {
    if (this.link.kind === "webrtc") this.setState("closed", reason);
  }

  /** auto: WebRTC gave no frame in time; continue on the WebSocket. */
  useWebSocket(): void {
    if (this.link.kind === "websocket") return;
    this.opts.mode = "websocket";
    this.firstFrameSent = false;
    const link = this.webSocketLink();
    this.link = link;
    link.start();
  }

  // -- messages --------------------------------------------------------------------------

  private setState(state: State, reason?: string): void {
    if (state === this.state && !reason) return;
    this.state = state;
    post({ type: "state", state, reason });
    if (this.opts.debug) this.log(`state ${state}${reason ? `: ${reason}` : ""}`);
  }

  log(message: string): void {
    post({ type: "log", message });
  }

  send(text: string): void {
    this.link.send(text);
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
      this.link.healthy();
      this.setState("negotiated");
    } else if (msg.type === "stats") {
      this.stats.server = msg as P.StatsMessage;
    } else {
      this.onNotice(msg as Record<string, unknown>);
    }
  }

  /** What the application said: passed to the main thread, which owns the page. */
  private onNotice(m: Record<string, unknown>): void {
    if (m.type === "message" && "data" in m) {
      post({ type: "app-message", data: m.data });
    } else if (m.type === "cursor" && typeof m.cursor === "string") {
      const hs = m.hotspot;
      const hotspot = Array.isArray(hs) && hs.length === 2 && hs.every(Number.isFinite) ? (hs as [number, number]) : undefined;
      post({ type: "cursor", cursor: m.cursor, image: typeof m.image === "string" ? m.image : undefined, hotspot });
    } else if (m.type === "clipboard" && typeof m.text === "string") {
      post({ type: "clipboard", text: m.text });
    } else if (m.type === "pointer_lock" && typeof m.lock === "boolean") {
      post({ type: "pointer-lock", lock: m.lock });
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
    this.stats.received(data.byteLength);
    if (header.type === "image_frame") {
      const h = header as P.ImageFrameHeader;
      this.codec = h.mime;
      this.images.push(h, payload, receivedAt);
    } else {
      const h = header as P.VideoChunkHeader;
      this.codec = h.codec;
      this.video.push(h, payload, receivedAt);
    }
  }

  private resetStream(): void {
    this.video.reset();
    this.images.reset();
    this.exactHold.clear();
  }

  // -- FrameSink: what the pipelines report ----------------------------------------------

  dropped(): void {
    this.stats.dropped++;
  }

  decoded(ms: number): void {
    this.stats.decoded(ms);
  }

  /** Draw a decoded picture, then free it right away (keeping a copy only of the canvas). */
  draw(picture: CanvasImageSource, frameW: number, frameH: number, release: () => void, meta?: DrawMeta): void {
    if (!this.exactHold.admit(meta)) {
      release(); // the same frame as the exact still on the canvas
      return;
    }
    this.frameW = frameW;
    this.frameH = frameH;
    const l = this.canvas.draw(picture, frameW, frameH);
    release();
    if (this.opts.timecode) {
      const ms = this.canvas.timecodeMs(frameW, frameH, l);
      if (ms !== null) this.stats.timecodeLatency(ms);
    }
    this.stats.drawn(this.opts.timecode);
    if (!this.firstFrameSent) {
      this.firstFrameSent = true;
      post({ type: "first-frame" });
    }
  }

  // -- size and fit ----------------------------------------------------------------------

  private applySize(size: Size): void {
    this.size = size;
    if (size.width !== this.canvas.width || size.height !== this.canvas.height) this.exactHold.clear();
    this.canvas.resize(size.width, size.height);
  }

  resize(size: Size): void {
    this.applySize(size);
    this.sendViewport();
    // Ask for a fresh picture: a static scene would otherwise stay blank after a resize.
    if (this.state === "negotiated") this.send(P.requestKeyframe("resize"));
  }

  setFit(fit: Fit, background?: string): void {
    this.canvas.setFit(fit, background);
    this.exactHold.clear();
    if (this.state === "negotiated") this.send(P.requestKeyframe("fit"));
  }

  // -- input -----------------------------------------------------------------------------

  /** Whether this viewer's input goes to the server now (negotiated, and not view-only). */
  private get drives(): boolean {
    return this.state === "negotiated" && !this.viewOnly;
  }

  pointer(input: PointerInput): void {
    if (!this.drives) return;
    const s = this.size;
    const ev = pointerEvent(input, {
      cssWidth: s.cssWidth,
      cssHeight: s.cssHeight,
      canvasWidth: this.canvas.width,
      canvasHeight: this.canvas.height,
      ratio: s.ratio,
      frameW: this.frameW,
      frameH: this.frameH,
      fit: this.canvas.fit,
    });
    this.send(P.event(ev));
  }

  key(input: KeyInput): void {
    if (!this.drives) return;
    const ev = keyEvent(input);
    if (ev) this.send(P.event(ev));
  }

  text(input: TextInput): void {
    if (!this.drives) return;
    for (const ev of charEvents(input)) this.send(P.event(ev));
  }

  /** An application message the view built (`view.send`). */
  appSend(text: string): void {
    if (this.drives) this.send(text);
  }

  clipboardPaste(text: string): void {
    if (!this.drives || !text) return;
    this.send(P.event({ type: "clipboard", text: clipboardText(text, P.MAX_CLIPBOARD, P.MAX_APP_MESSAGE_BYTES), timestamp: Date.now() / 1000 }));
  }

  // -- capture and stats -----------------------------------------------------------------

  async capture(id: number, format: "imagedata" | "blob"): Promise<void> {
    try {
      const result = await this.canvas.capture(format);
      // Pixels are transferred, not copied; a Blob is cheap to clone.
      post({ type: "capture", id, result }, result instanceof Blob ? [] : [result.data.buffer]);
    } catch (err) {
      post({ type: "capture", id, result: null, error: String(err) });
    }
  }

  private emitStats(): void {
    const stats: Stats = this.stats.report({
      state: this.state,
      transport: this.state === "negotiated" ? this.link.kind : null,
      codec: this.codec,
      viewOnly: this.viewOnly,
      width: this.frameW,
      height: this.frameH,
      decodeQueueSize: this.video.queueSize ?? this.images.busy,
      reconnects: this.link.reconnects,
      latencyMeasuredByAcks: this.link.kind === "websocket",
      timecode: this.opts.timecode,
    });
    post({ type: "stats", stats });
  }

  dispose(): void {
    this.disposed = true;
    clearInterval(this.statsTimer);
    clearInterval(this.watchdogTimer);
    this.resetStream();
    this.link.close();
    this.setState("closed", "disposed");
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
    case "text":
      session?.text(msg.input);
      break;
    case "app-send":
      session?.appSend(msg.text);
      break;
    case "clipboard-paste":
      session?.clipboardPaste(msg.text);
      break;
    case "capture":
      if (session) void session.capture(msg.id, msg.format);
      else post({ type: "capture", id: msg.id, result: null, error: "not started" });
      break;
    case "rtc-open":
      session?.rtcOpen();
      break;
    case "rtc-text":
      session?.rtcText(msg.text);
      break;
    case "rtc-binary":
      session?.rtcBinary(msg.data);
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
