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
import { WorkerFiles } from "./files";
import { ImagePipe } from "./images";
import { PhotonMatcher } from "../photon";
import { RelayedLink, WebSocketLink, type Link, type LinkEnd } from "./link";
import type { FrameSink } from "./sink";
import { StatsWindow } from "./stats";
import { layout, frameToCanvas } from "../geometry";
import {
  controlInfo,
  giveControl,
  mayDrive,
  Pacer,
  pointerList,
  presencePointer,
  releaseControl,
  requestControl,
  viewerList,
  type ControlInfo,
  type PointerEntry,
} from "../presence";
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
  // The control floor and presence (presence.ts): who holds it, who is here, where.
  private clientId: string | null = null;
  private control: ControlInfo | null = null;
  private sharePointers = false; // the stream shares pointers: send ours, at most 15 Hz
  private readonly presencePace = new Pacer<{ x: number; y: number; inside: boolean }>();
  private presenceTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly names = new Map<string, string>(); // client id -> label, of those present
  private readonly others = new Map<string, PointerEntry>(); // their pointers, frame pixels
  private readonly pressed = new Set<string>(); // buttons and keys sent down, not yet up
  private supportsH264 = false;
  private supportsH264_444 = false;
  private readonly images: ImagePipe;
  private readonly video: VideoPipe;
  private readonly stats = new StatsWindow();
  private readonly exactHold = new ExactHold(); // an exact still on the canvas is not drawn over
  private readonly photon = new PhotonMatcher(); // click-to-photon: input sent -> its frame drawn
  // Files both ways (files.ts): uploads read here and sent on the link, downloads gathered.
  private readonly files = new WorkerFiles({
    sendText: (text) => this.link.send(text),
    sendBinary: (data) => this.link.sendBinary(data),
    buffered: () => this.link.buffered(),
    post,
  });
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
        // "audio": the view plays sound (option audio, and the browser has AudioDecoder).
        this.link.send(P.hello(caps, this.opts.token, this.opts.audio));
        this.sendViewport();
      },
      onText: (text) => this.onText(text),
      onBinary: (data) => this.onBinary(data),
      onClosed: (reason, end) => this.onLinkClosed(reason, end),
    });
  }

  private onLinkClosed(reason: string, end: LinkEnd): void {
    this.resetStream();
    this.files.reset("disconnected");
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
    if (this.link.kind === "webrtc") {
      this.files.reset("disconnected");
      this.setState("closed", reason);
    }
  }

  /** Upload a file the view was given (dropped, picked, or view.upload()). */
  upload(id: number, file: Blob, name: string, mime: string): void {
    this.files.upload(id, file, name, mime, this.state === "negotiated");
  }

  uploadCancel(id: number): void {
    this.files.cancel(id);
  }

  /** A microphone packet (microphone.ts): sent on the WebSocket once negotiated. */
  audioIn(data: ArrayBuffer): void {
    if (this.state === "negotiated" && this.link.kind === "websocket") this.link.sendBinary(new Uint8Array(data));
  }

  /** auto: WebRTC gave no frame in time; continue on the WebSocket. */
  useWebSocket(): void {
    if (this.link.kind === "websocket") return;
    this.opts.mode = "websocket";
    this.firstFrameSent = false;
    this.photon.reset();
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

  /** An input event, numbered for click-to-photon (photon.ts). */
  private sendInput(ev: Record<string, unknown>): void {
    this.send(P.event(ev, this.photon.sent(epochMs())));
  }

  /** A frame `key` first reflects input `seq`: a sample now if it was drawn already. */
  private photonNote(key: number, seq: number): void {
    const s = this.photon.note(key, seq);
    if (s) this.send(P.inputPhoton(s.seq, s.ms));
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
      this.clientId = typeof c.client_id === "string" ? c.client_id : null;
      post({ type: "microphone", allowed: c.microphone === true && !this.viewOnly });
      this.link.healthy();
      this.setState("negotiated");
    } else if (msg.type === "stats") {
      this.stats.server = msg as P.StatsMessage;
    } else if (msg.type === "input_frame") {
      // WebRTC: which RTP timestamp first reflects one of our inputs (click-to-photon).
      const note = P.inputFrameOf(msg as Record<string, unknown>);
      if (note && this.link.kind === "webrtc") this.photonNote(note.rtp, note.seq);
    } else {
      this.onNotice(msg as Record<string, unknown>);
    }
  }

  /** What the application said: passed to the main thread, which owns the page. */
  private onNotice(m: Record<string, unknown>): void {
    if (this.files.onNotice(m)) return; // file_status, file_offer
    if (m.type === "message" && "data" in m) {
      post({ type: "app-message", data: m.data });
    } else if (m.type === "cursor" && typeof m.cursor === "string") {
      const hs = m.hotspot;
      const hotspot = Array.isArray(hs) && hs.length === 2 && hs.every(Number.isFinite) ? (hs as [number, number]) : undefined;
      post({ type: "cursor", cursor: m.cursor, image: typeof m.image === "string" ? m.image : undefined, hotspot });
    } else if (m.type === "clipboard" && typeof m.text === "string") {
      post({ type: "clipboard", text: m.text });
    } else if (m.type === "audio_in_status" && typeof m.status === "string") {
      post({ type: "audio-in-status", status: m.status, reason: typeof m.reason === "string" ? m.reason : null });
    } else if (m.type === "pointer_lock" && typeof m.lock === "boolean") {
      post({ type: "pointer-lock", lock: m.lock });
    } else if (m.type === "control") {
      const control = controlInfo(m);
      if (!control) return;
      this.control = control;
      post({ type: "control", control, me: this.clientId, mayDrive: !this.viewOnly });
    } else if (m.type === "viewers") {
      const list = viewerList(m);
      if (!list) return;
      this.sharePointers = list.pointers;
      this.names.clear();
      for (const v of list.viewers) this.names.set(v.clientId, v.name ?? v.clientId);
      for (const id of [...this.others.keys()]) if (!this.names.has(id)) this.others.delete(id);
      post({ type: "viewers", viewers: list.viewers, pointers: list.pointers });
      this.postPointers();
    } else if (m.type === "pointers") {
      for (const p of pointerList(m)) if (p.clientId !== this.clientId) this.others.set(p.clientId, p);
      this.postPointers();
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
    if (header.type === "file_chunk") return this.files.onChunk(header, payload);
    if (P.isAudioHeader(header)) {
      // AudioContext exists only on the main thread: the packet goes there (audio.ts).
      const data = payload.slice().buffer;
      return post({ type: "audio", header, data }, [data]);
    }
    if (!P.isFrameHeader(header)) return;
    const receivedAt = performance.now();
    this.stats.received(data.byteLength);
    const inputSeq = (header as P.FrameHeader).input_seq;
    if (typeof inputSeq === "number" && this.link.kind === "websocket") this.photonNote((header.seq as number) >>> 0, inputSeq);
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
    this.photon.reset();
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
    // Click-to-photon: frames are keyed by their seq (WebSocket) or RTP timestamp (WebRTC).
    const key = this.link.kind === "websocket" ? meta?.seq : meta?.rtp;
    if (typeof key === "number") {
      for (const s of this.photon.drawnFrame(key >>> 0, epochMs())) this.send(P.inputPhoton(s.seq, s.ms));
    }
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
    if (this.others.size) this.postPointers();
    this.sendViewport();
    // Ask for a fresh picture: a static scene would otherwise stay blank after a resize.
    if (this.state === "negotiated") this.send(P.requestKeyframe("resize"));
  }

  setFit(fit: Fit, background?: string): void {
    this.canvas.setFit(fit, background);
    if (this.others.size) this.postPointers();
    this.exactHold.clear();
    if (this.state === "negotiated") this.send(P.requestKeyframe("fit"));
  }

  // -- input -----------------------------------------------------------------------------

  /** Whether this viewer's input goes to the server now (negotiated, not view-only, and
   * the floor is shared or this viewer holds it). */
  private get drives(): boolean {
    return this.state === "negotiated" && !this.viewOnly && mayDrive(this.control, this.clientId, "");
  }

  /** The other viewers' pointers, in CSS pixels over the canvas, to the main thread. */
  private postPointers(): void {
    const l = layout(this.frameW, this.frameH, this.canvas.width, this.canvas.height, this.canvas.fit);
    const r = this.size.ratio || 1;
    const pointers = [...this.others.values()].map((p) => {
      const c = frameToCanvas(p.x, p.y, this.frameW || 1, this.frameH || 1, l);
      return { clientId: p.clientId, label: this.names.get(p.clientId) ?? p.clientId, x: c.x / r, y: c.y / r, visible: p.inside };
    });
    post({ type: "pointers", pointers });
  }

  /** Our pointer, for the others' views (presence), paced to 15 Hz. */
  private sharePointer(x: number, y: number, inside: boolean): void {
    if (!this.sharePointers || this.state !== "negotiated" || !Number.isFinite(x) || !Number.isFinite(y)) return;
    this.presencePace.offer({ x, y, inside });
    this.flushPresence();
  }

  private flushPresence(): void {
    if (this.presenceTimer !== null) return;
    const now = performance.now();
    const p = this.presencePace.take(now);
    if (p) this.send(presencePointer(p.x, p.y, p.inside));
    const due = this.presencePace.dueIn(performance.now());
    if (due !== null) {
      this.presenceTimer = setTimeout(() => {
        this.presenceTimer = null;
        this.flushPresence();
      }, due);
    }
  }

  /** The control floor: ask for it, let go of it, hand it on. */
  controlAction(action: "request" | "release" | "give", clientId?: string): void {
    if (this.state !== "negotiated") return;
    if (action === "request") this.send(requestControl());
    else if (action === "release") this.send(releaseControl());
    else if (clientId) this.send(giveControl(clientId));
  }

  pointer(input: PointerInput): void {
    if (this.state !== "negotiated") return;
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
    const kind = String(ev.type);
    if (kind !== "wheel" && kind !== "double_click") {
      this.sharePointer(Number(ev.x), Number(ev.y), ev.inside !== false && kind !== "pointer_leave");
    }
    if (this.viewOnly || !this.floorLets(kind, `b${String(ev.button ?? 0)}`)) return;
    this.sendInput(ev);
  }

  /** The floor lets this input go (presence.ts mayDrive); a release goes only if its press
   * went (`what`: the button or key), so the server sees no orphan releases. */
  private floorLets(kind: string, what: string): boolean {
    if (kind === "pointer_up" || kind === "key_up") {
      const sent = this.pressed.delete(what);
      return sent || this.control === null || this.control.mode === "shared";
    }
    if (!mayDrive(this.control, this.clientId, kind)) return false;
    if ((kind === "pointer_down" || kind === "key_down") && this.pressed.size < 64) this.pressed.add(what);
    return true;
  }

  key(input: KeyInput): void {
    if (this.state !== "negotiated" || this.viewOnly) return;
    const ev = keyEvent(input);
    if (ev && this.floorLets(String(ev.type), `k${String(ev.code ?? ev.key)}`)) this.sendInput(ev);
  }

  text(input: TextInput): void {
    if (!this.drives) return;
    for (const ev of charEvents(input)) this.sendInput(ev);
  }

  /** An application message the view built (`view.send`). */
  appSend(text: string): void {
    if (this.drives) this.send(text);
  }

  clipboardPaste(text: string): void {
    if (!this.drives || !text) return;
    this.sendInput({ type: "clipboard", text: clipboardText(text, P.MAX_CLIPBOARD, P.MAX_APP_MESSAGE_BYTES), timestamp: Date.now() / 1000 });
  }

  /** A gamepad's state (view-gamepad.ts sends one per pad per frame at most, on change). */
  gamepad(ev: Record<string, unknown>): void {
    if (this.drives) this.sendInput(ev);
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
    stats.inputToPhoton = this.photon.figures();
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
    case "gamepad":
      session?.gamepad(msg.event);
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
    case "control":
      session?.controlAction(msg.action, msg.clientId);
      break;
    case "upload":
      if (session) session.upload(msg.id, msg.file, msg.name, msg.mime);
      else post({ type: "upload-status", status: { id: msg.id, name: msg.name, size: msg.file.size, state: "failed", received: 0, reason: "not connected", message: `${msg.name} upload failed (not connected)` } });
      break;
    case "upload-cancel":
      session?.uploadCancel(msg.id);
      break;
    case "audio-in":
      session?.audioIn(msg.data);
      break;
    case "dispose":
      session?.dispose();
      session = null;
      scope.close();
      break;
  }
};

/** Now in ms since the epoch at high resolution: one clock with the main thread's (tools map
 * click-to-photon draw times with it). */
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The RTP timestamp of a WebRTC frame (VideoFrame.metadata(), Chromium), else null. */
function rtpTimestampOf(frame: VideoFrame): number | null {
  const meta = (frame as unknown as { metadata?: () => { rtpTimestamp?: number } }).metadata?.();
  return typeof meta?.rtpTimestamp === "number" ? meta.rtpTimestamp : null;
}
