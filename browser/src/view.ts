// RemoteFramebufferView: the one public class, its options and its state. The main thread
// only sizes the canvas and relays; the worker owns the socket, decoding and drawing.
// DOM input is wired in view-input.ts, the WebRTC session runs in webrtc-session.ts, and
// every option's default is in defaults.ts.

import { resolveOptions, workerOptions, type DEFAULTS, type ResolvedOptions } from "./defaults";
import { backingSize, type Fit } from "./geometry";
import type { FromWorker, Size, State, Stats, ToWorker, TransportKind } from "./messages";
import { appMessage } from "./protocol";
import { cssCursor } from "./cursor";
import { Overlay } from "./overlay";
import type { ControlInfo, ViewerEntry } from "./presence";
import { ViewInput } from "./view-input";
import { GamepadReader } from "./view-gamepad";
import { TouchBar } from "./view-touch-bar";
import { keyboardBarWanted } from "./touch-bar";
import { WebRtcSession } from "./webrtc-session";
import type { RtcAudioStats } from "./webrtc";
import { ViewFiles } from "./view-files";
import type { ReceivedFile, UploadStatus } from "./files";
import { AudioPlayer, audioSupported } from "./audio";
import { Microphone, microphoneSupported } from "./microphone";

export type { Fit } from "./geometry";
export type { ControlInfo, ViewerEntry } from "./presence";
export type { Adaptation, State, Stats, TransportKind } from "./messages";
export type { ReceivedFile, UploadStatus } from "./files";

declare const __RFB_WORKER_SOURCE__: string;

/** What a view can be given; what is left out takes its default from {@link DEFAULTS}. */
export interface RemoteFramebufferViewOptions {
  /** ws:// or wss:// URL of the rfb server (default: this page's host, path "/"). */
  url?: string;
  /** Make the worker yourself, e.g. `() => new Worker("/static/rfb-worker.js")` under a CSP without blob:. */
  workerFactory?: () => Worker;
  /** Size the canvas backing store from its CSS size x DPR (default {@link DEFAULTS.autoResize}). */
  autoResize?: boolean;
  /** Override window.devicePixelRatio. */
  devicePixelRatio?: number;
  /** Cap on either side of the backing store, in device pixels (default {@link DEFAULTS.maxBackingDimension}). */
  maxBackingDimension?: number;
  /** Never ask for H.264, only images (default {@link DEFAULTS.imageOnly}). */
  imageOnly?: boolean;
  /** Ask for High 4:4:4 H.264 where the browser decodes it (WebCodecs, or in the WebRTC
   * offer); false keeps 4:2:0, e.g. for a hardware decoder (default {@link DEFAULTS.chroma444}). */
  chroma444?: boolean;
  /** Images decoding at once before newer ones replace waiting ones (default {@link DEFAULTS.maxInflight}). */
  maxInflight?: number;
  /** How the frame fits the canvas (default {@link DEFAULTS.fit}). */
  fit?: Fit;
  /** CSS colour of the letterbox bars (default {@link DEFAULTS.background}). */
  background?: string;
  /** Bearer token for the server (default {@link DEFAULTS.token}). */
  token?: string | null;
  /** Log the view's and worker's doings to the console (default {@link DEFAULTS.debug}). */
  debug?: boolean;
  /**
   * "websocket" (default {@link DEFAULTS.transport}); "webrtc": WHEP at the server's /whep,
   * frames as a WebRTC video track, input over the "rfb" data channel; "auto": WebRTC when
   * the server serves it and a frame arrives within `autoFallbackMs`, else the WebSocket.
   */
  transport?: TransportKind;
  /** auto: how long to wait for the first WebRTC frame before using the WebSocket (default {@link DEFAULTS.autoFallbackMs}). */
  autoFallbackMs?: number;
  /**
   * Read the publish time the server's "timecode" pattern stamps into frames and report
   * publish -> display latency in `stats.timecodeMs` (for measuring; costs a pixel read per
   * frame; default {@link DEFAULTS.timecode}).
   */
  timecode?: boolean;
  /** Lock the pointer to the view on a click, for 3-D navigation: pointer moves then carry
   * relative motion (`dx`, `dy`, `locked`). The server can ask for it too
   * (`display.request_pointer_lock()`); Escape releases it (default {@link DEFAULTS.pointerLock}). */
  pointerLock?: boolean;
  /** Send the viewer's gamepads (Gamepad API) as `gamepad` input events while the view has
   * the keyboard focus; false never reads them (default {@link DEFAULTS.gamepad}). */
  gamepad?: boolean;
  /** The touch keyboard bar under the view (Esc, Tab, sticky Ctrl/Alt/Meta/Shift, arrows,
   * F1-F12, the device's keyboard): "auto" on touch devices (a coarse primary pointer),
   * true always, false never (default {@link DEFAULTS.keyboardBar}). */
  keyboardBar?: boolean | "auto";
  /** Show who holds the control floor (streams with `control="exclusive"`) over the view,
   * with a button to ask for it (default {@link DEFAULTS.controlUi}). */
  controlUi?: boolean;
  /** Called when who holds the control floor changes (see {@link RemoteFramebufferView.control}). */
  onControl?: (control: ControlInfo) => void;
  /** Called when a viewer joins or leaves, or the floor moves (see {@link RemoteFramebufferView.viewers}). */
  onViewers?: (viewers: ViewerEntry[]) => void;
  /** Upload files dropped on the view to the application (streams with `uploads=True`;
   * `view.upload(file)` works either way) (default {@link DEFAULTS.uploads}). */
  uploads?: boolean;
  /** Save files the application sends (`display.send_file`) as downloads, unless `onFile`
   * returns false (default {@link DEFAULTS.saveFiles}). */
  saveFiles?: boolean;
  /** Called with each file the application sends, whole (`data`: a Blob); return false to
   * keep the view from saving it. */
  onFile?: (file: ReceivedFile) => boolean | void;
  /** Called as each upload goes: offered, sending (with the bytes the server took), then
   * done, refused or failed (with `reason` and a `message` for the user). */
  onUpload?: (status: UploadStatus) => void;
  /** Play the program's sound (`display.publish_audio`; over WebRTC, an audio track) where the
   * browser has WebCodecs' AudioDecoder: it starts muted, behind an unmute button, as
   * autoplay rules ask (default {@link DEFAULTS.audio}). */
  audio?: boolean;
  /** Offer the viewer's microphone where the stream takes it (`microphone=True`) and this
   * viewer may drive: a microphone button over the view; the browser asks for the
   * microphone only when it is clicked (default {@link DEFAULTS.microphone}). */
  microphone?: boolean;
  onState?: (state: State, reason?: string) => void;
  onStats?: (stats: Stats) => void;
  onError?: (message: string) => void;
}

/** The worker from the source inlined at build time (a blob: worker). */
function makeWorker(): Worker {
  const blob = new Blob([__RFB_WORKER_SOURCE__], { type: "text/javascript" });
  const url = URL.createObjectURL(blob);
  const worker = new Worker(url, { name: "rfb" });
  // The worker has loaded its source once it runs; the URL can go.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return worker;
}

export class RemoteFramebufferView {
  readonly canvas: HTMLCanvasElement;
  private readonly worker: Worker;
  private readonly opts: ResolvedOptions;
  private _state: State = "idle";
  private _stats: Stats | null = null;
  private size: Size;
  private readonly observer: ResizeObserver | null = null;
  private readonly cleanups: (() => void)[] = [];
  private readonly captures = new Map<number, { resolve: (v: ImageData | Blob) => void; reject: (e: Error) => void }>();
  private nextCaptureId = 1;
  private readonly messageCallbacks = new Set<(data: unknown) => void>();
  private disposed = false;
  private readonly ownsCanvas: boolean;
  /** The WebRTC session, for transport "webrtc" or "auto"; null on the WebSocket alone. */
  private readonly rtc: WebRtcSession | null = null;
  private readonly input: ViewInput;
  private readonly overlay: Overlay;
  private _control: ControlInfo | null = null;
  private _viewers: ViewerEntry[] = [];
  private _clientId: string | null = null;
  private readonly gamepads: GamepadReader | null = null;
  private readonly keyBar: TouchBar | null = null;
  private readonly files: ViewFiles;
  private readonly audioPlayer: AudioPlayer | null = null;
  private readonly mic: Microphone | null = null;

  constructor(target: HTMLCanvasElement | HTMLElement, options: RemoteFramebufferViewOptions = {}) {
    this.opts = resolveOptions(options, location);
    if (target instanceof HTMLCanvasElement) {
      this.canvas = target;
      this.ownsCanvas = false;
    } else {
      this.canvas = document.createElement("canvas");
      this.canvas.style.cssText = "display:block;width:100%;height:100%;touch-action:none;outline:none";
      target.appendChild(this.canvas);
      this.ownsCanvas = true;
    }
    const canvas = this.canvas;
    canvas.style.touchAction = "none";
    if (canvas.tabIndex < 0) canvas.tabIndex = 0;

    this.size = this.measure();
    this.worker = this.opts.workerFactory ? this.opts.workerFactory() : makeWorker();
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.onWorker(e.data);
    this.worker.onerror = (e) => this.fail(`worker error: ${e.message}`);
    const offscreen = canvas.transferControlToOffscreen();
    const wopts = workerOptions(this.opts);
    wopts.audio = this.opts.audio && audioSupported(); // hello says "audio" only then
    if (wopts.audio) this.audioPlayer = new AudioPlayer(canvas, { log: (m) => this.opts.debug && console.debug("rfb:", m) });
    this.post({ type: "init", canvas: offscreen, options: wopts, size: this.size }, [offscreen]);
    if (this.opts.microphone && microphoneSupported()) {
      this.mic = new Microphone(canvas, {
        send: (data) => this.post({ type: "audio-in", data }, [data]),
        transport: () => this.activeTransport,
        log: (m) => this.opts.debug && console.debug("rfb:", m),
      });
    }
    if (wopts.mode === "webrtc") {
      this.rtc = new WebRtcSession(this.opts, {
        post: (msg, transfer) => this.post(msg, transfer),
        failed: (reason) => {
          this.setState("error", reason);
          this.fail(reason);
        },
        // The program's sound on an audio track, through the same player and unmute button.
        ...(this.audioPlayer
          ? {
              audioTrack: (track: MediaStreamTrack) => this.audioPlayer?.playTrack(track),
              audioFigures: (f: RtcAudioStats | null) => this.audioPlayer?.trackFigures(f),
            }
          : {}),
        ...(this.mic ? { microphone: (sender: RTCRtpSender | null) => this.mic?.setSender(sender) } : {}),
      });
      void this.rtc.start();
    }

    this.files = new ViewFiles(canvas, {
      post: (msg) => this.post(msg),
      drop: this.opts.uploads,
      save: this.opts.saveFiles,
      onFile: this.opts.onFile,
      onUpload: this.opts.onUpload,
    });
    this.overlay = new Overlay(canvas, { request: () => this.requestControl(), release: () => this.releaseControl() }, this.opts.controlUi);
    if (typeof ResizeObserver !== "undefined") {
      this.observer = new ResizeObserver(() => this.onResize());
      this.observer.observe(canvas);
    }
    // DPR changes (zoom, moving to another screen) do not resize the element.
    const onWindowResize = () => this.onResize();
    window.addEventListener("resize", onWindowResize);
    this.cleanups.push(() => window.removeEventListener("resize", onWindowResize));
    // A closing tab ends its WebRTC session at once (WHEP DELETE with keepalive): left to
    // ICE consent, the server would keep sending for ~30 s into a link others share.
    const onPageHide = (e: PageTransitionEvent) => {
      if (!e.persisted) this.dispose();
    };
    window.addEventListener("pagehide", onPageHide);
    this.cleanups.push(() => window.removeEventListener("pagehide", onPageHide));
    this.input = new ViewInput(canvas, {
      post: (msg) => this.post(msg),
      size: () => this.size,
      lockOnClick: this.opts.pointerLock,
      sticky: () => this.keyBar,
    });
    const coarse = typeof matchMedia === "function" && matchMedia("(pointer: coarse)").matches;
    if (keyboardBarWanted(this.opts.keyboardBar, { coarsePointer: coarse })) {
      this.input.setDeviceKeyboard(false); // a tap on the view must not pop it up
      this.keyBar = new TouchBar(canvas, {
        key: (p) => this.input.key({ ...p, timestamp: Date.now() / 1000 }),
        showKeyboard: (show) => this.input.setDeviceKeyboard(show),
        keyboardShown: () => this.input.deviceKeyboard,
      });
    }
    if (this.opts.gamepad) {
      this.gamepads = new GamepadReader({
        post: (event) => this.post({ type: "gamepad", event }),
        focused: () => this.input.hasFocus(),
        ready: () => this._state === "negotiated",
      });
    }
  }

  // -- public API ------------------------------------------------------------------------

  get state(): State {
    return this._state;
  }

  get stats(): Stats | null {
    if (this._stats === null) return null;
    return { ...this._stats, audio: this.audioPlayer?.stats() ?? null };
  }

  /** The program's sound: `state`, `unmute()` / `mute()`, its AudioContext (`context`) and
   * what goes to the speakers (`output`, to tap with an AnalyserNode); null where the view
   * plays none (option `audio: false`, or a browser without AudioDecoder). */
  get audio(): AudioPlayer | null {
    return this.audioPlayer;
  }

  /** The viewer's microphone: `state`, `start()` (call from a user gesture) / `stop()`,
   * `stats()`; null where the view offers none (option `microphone: false`, or no
   * getUserMedia). Its button shows where the stream takes microphones from this viewer. */
  get microphone(): Microphone | null {
    return this.mic;
  }

  setFit(fit: Fit, background?: string): void {
    this.opts.fit = fit;
    if (background) this.opts.background = background;
    this.post({ type: "fit", fit, background });
  }

  /** The canvas as drawn: pixels ("imagedata") or a PNG ("blob"). */
  capture(format: "imagedata"): Promise<ImageData>;
  capture(format: "blob"): Promise<Blob>;
  capture(format: "imagedata" | "blob" = "imagedata"): Promise<ImageData | Blob> {
    const id = this.nextCaptureId++;
    return new Promise((resolve, reject) => {
      this.captures.set(id, { resolve, reject });
      this.post({ type: "capture", id, format });
    });
  }

  /** Which link carries the stream now: "websocket" or "webrtc". */
  get activeTransport(): "websocket" | "webrtc" {
    return this.rtc?.mode ?? "websocket";
  }

  /** Call `cb` with each message the application sends (`display.send(obj)`); returns a
   * function that stops it. */
  onMessage(cb: (data: unknown) => void): () => void {
    this.messageCallbacks.add(cb);
    return () => this.messageCallbacks.delete(cb);
  }

  /** Send a JSON value to the application: it arrives in `poll_events()` as a `message`
   * event (`ev.event["data"]`). Throws for what is not JSON or is over 60 KiB; dropped
   * for a view-only viewer, and rate-limited like input. */
  send(data: unknown): void {
    // Built here, so what cannot be sent throws in the caller; the worker only sends it.
    this.post({ type: "app-send", text: appMessage(data, Date.now() / 1000) });
  }

  /** Who holds the stream's control floor, as the server last said (null before it did,
   * or from a server without it). `mode` "shared": everyone who may drive does. */
  get control(): ControlInfo | null {
    return this._control;
  }

  /** Who is watching the stream (client id, display name, transport, role, holds the floor). */
  get viewers(): ViewerEntry[] {
    return this._viewers;
  }

  /** This viewer's client id (as in the app's InputEvents and in `viewers`), once known. */
  get clientId(): string | null {
    return this._clientId;
  }

  /** Ask for the control floor: granted when it is free, when its holder has gone idle,
   * or later when the holder lets go (until then this viewer waits in line). */
  requestControl(): void {
    this.post({ type: "control", action: "request" });
  }

  /** Let go of the floor (the next in line gets it), or stop waiting for it. */
  releaseControl(): void {
    this.post({ type: "control", action: "release" });
  }

  /** Hand the floor, which this viewer holds, to another viewer (its client id). */
  giveControl(clientId: string): void {
    this.post({ type: "control", action: "give", clientId });
  }

  /** Upload a file (a File, or a Blob named `name`) to the application: it arrives as a
   * `file` event in `poll_events()`. Resolves once the application has it; rejects with
   * the reason (too big, view-only, uploads off, ...), which the view also shows. */
  upload(file: Blob, name?: string): Promise<UploadStatus> {
    return this.files.upload(file, name);
  }

  /** Stop an upload in progress (its `id`, as in UploadStatus). */
  cancelUpload(id: number): void {
    this.files.cancel(id);
  }

  /** Give the view the keyboard (as a click on it does). */
  focus(): void {
    this.input.focus();
  }

  /** The touch keyboard bar's element (see the `keyboardBar` option), or null where the
   * view shows none: style or move it as the page needs. */
  get keyboardBar(): HTMLElement | null {
    return this.keyBar?.element ?? null;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rtc?.close();
    this.observer?.disconnect();
    for (const c of this.cleanups) c();
    this.gamepads?.dispose();
    this.keyBar?.dispose();
    this.input.dispose();
    this.overlay.dispose();
    this.audioPlayer?.dispose();
    this.mic?.dispose();
    this.files.dispose();
    this.post({ type: "dispose" });
    const worker = this.worker;
    setTimeout(() => worker.terminate(), 200); // let the socket send its close frame
    for (const { reject } of this.captures.values()) reject(new Error("disposed"));
    this.captures.clear();
    if (this.ownsCanvas) this.canvas.remove();
    this.setState("closed", "disposed");
  }

  // -- worker ----------------------------------------------------------------------------

  private post(msg: ToWorker, transfer: Transferable[] = []): void {
    if (this.disposed && msg.type !== "dispose") return;
    this.worker.postMessage(msg, transfer);
  }

  private setState(state: State, reason?: string): void {
    this._state = state;
    this.gamepads?.wake(); // pads are read only while connected
    this.opts.onState?.(state, reason);
  }

  private fail(message: string): void {
    if (this.opts.debug) console.error("rfb:", message);
    this.opts.onError?.(message);
  }

  private onWorker(msg: FromWorker): void {
    switch (msg.type) {
      case "state":
        this.setState(msg.state, msg.reason);
        break;
      case "stats":
        void (this.rtc ? this.rtc.withReceiverStats(msg.stats) : Promise.resolve(msg.stats)).then((stats) => {
          this._stats = stats;
          this.opts.onStats?.(this.stats ?? stats);
        });
        break;
      case "rtc-send":
        this.rtc?.send(msg.text);
        break;
      case "rtc-send-binary":
        this.rtc?.sendBinary(msg.data);
        break;
      case "upload-status":
        this.files.onStatus(msg.status);
        break;
      case "file":
        this.files.onFile(msg.file);
        break;
      case "rtc-shown":
        this.rtc?.frameShown(msg.rtp, msg.receivedMs);
        break;
      case "first-frame":
        this.rtc?.firstFrame();
        break;
      case "audio":
        this.audioPlayer?.push(msg.header, msg.data);
        break;
      case "microphone":
        this.mic?.setAllowed(msg.allowed);
        break;
      case "audio-in-status":
        this.mic?.onStatus(msg.status, msg.reason);
        break;
      case "error":
        this.fail(msg.message);
        break;
      case "capture": {
        const pending = this.captures.get(msg.id);
        this.captures.delete(msg.id);
        if (!pending) break;
        if (msg.result) pending.resolve(msg.result);
        else pending.reject(new Error(msg.error ?? "capture failed"));
        break;
      }
      case "log":
        if (this.opts.debug) console.debug("rfb:", msg.message);
        break;
      case "app-message":
        for (const cb of [...this.messageCallbacks]) {
          try {
            cb(msg.data);
          } catch (err) {
            console.error("rfb: onMessage callback failed", err);
          }
        }
        break;
      case "cursor":
        this.canvas.style.cursor = cssCursor(msg.cursor, msg.image, msg.hotspot);
        break;
      case "clipboard":
        // Needs a secure context and a focused page; a refusal is the browser's to make.
        navigator.clipboard?.writeText(msg.text).catch((err: unknown) => {
          if (this.opts.debug) console.debug("rfb: clipboard write refused:", err);
        });
        break;
      case "pointer-lock":
        this.input.setPointerLock(msg.lock);
        break;
      case "control":
        this._control = msg.control;
        this._clientId = msg.me;
        this.overlay.setControl(msg.control, msg.me, msg.mayDrive);
        this.opts.onControl?.(msg.control);
        break;
      case "viewers":
        this._viewers = msg.viewers;
        this.overlay.keepOnly(new Set(msg.viewers.map((v) => v.clientId)));
        this.opts.onViewers?.(msg.viewers);
        break;
      case "pointers":
        this.overlay.setPointers(msg.pointers, new Set(this._viewers.map((v) => v.clientId)));
        break;
    }
  }

  // -- size ------------------------------------------------------------------------------

  private dpr(): number {
    return this.opts.devicePixelRatio ?? window.devicePixelRatio ?? 1;
  }

  private measure(): Size {
    const rect = this.canvas.getBoundingClientRect();
    const cssWidth = rect.width || this.canvas.clientWidth || 300;
    const cssHeight = rect.height || this.canvas.clientHeight || 150;
    if (!this.opts.autoResize) {
      // A 0-wide canvas (or a huge CSS size) would send ratio 0, which the server refuses
      // (set_viewport's ratio must be 0.01..100) by closing the connection.
      const width = Math.max(1, this.canvas.width);
      const height = Math.max(1, this.canvas.height);
      const ratio = Math.min(100, Math.max(0.01, width / cssWidth));
      return { cssWidth, cssHeight, width, height, ratio };
    }
    const b = backingSize(cssWidth, cssHeight, this.dpr(), this.opts.maxBackingDimension);
    return { cssWidth, cssHeight, width: b.width, height: b.height, ratio: b.ratio };
  }

  private onResize(): void {
    if (this.disposed) return;
    this.overlay.place();
    this.audioPlayer?.place();
    this.mic?.place();
    const s = this.measure();
    const old = this.size;
    if (s.cssWidth === old.cssWidth && s.cssHeight === old.cssHeight && s.width === old.width && s.height === old.height) return;
    this.size = s;
    this.post({ type: "resize", size: s });
  }
}
