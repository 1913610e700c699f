// RemoteFramebufferView: the one public class. The main thread only sizes the canvas and
// forwards DOM input; the worker owns the socket, decoding and drawing.

import { backingSize, type Fit } from "./geometry";
import { mapButton, mapButtons, mergeMoves, modifiers, MoveCoalescer, shouldPreventKey, wheelPixels, type PointerInput, type TextInput } from "./input";
import { Backoff } from "./flow";
import type { FromWorker, Size, State, Stats, ToWorker, TransportKind, WorkerOptions } from "./messages";
import { WebRtcLink, WhepError, whepUrl } from "./webrtc";
import { appMessage } from "./protocol";
import { cssCursor } from "./cursor";

export type { Fit } from "./geometry";
export type { Adaptation, State, Stats, TransportKind } from "./messages";

declare const __RFB_WORKER_SOURCE__: string;

export interface RemoteFramebufferViewOptions {
  /** ws:// or wss:// URL of the rfb server (default: this page's host, path "/"). */
  url?: string;
  /** Make the worker yourself, e.g. `() => new Worker("/static/rfb-worker.js")` under a CSP without blob:. */
  workerFactory?: () => Worker;
  /** Size the canvas backing store from its CSS size x DPR (default true). */
  autoResize?: boolean;
  /** Override window.devicePixelRatio. */
  devicePixelRatio?: number;
  /** Cap on either side of the backing store, in device pixels (default 4096). */
  maxBackingDimension?: number;
  /** Never ask for H.264, only images. */
  imageOnly?: boolean;
  /** Images decoding at once before newer ones replace waiting ones (default 1). */
  maxInflight?: number;
  fit?: Fit;
  /** CSS colour of the letterbox bars (default black). */
  background?: string;
  token?: string | null;
  debug?: boolean;
  /**
   * "websocket" (default); "webrtc": WHEP at the server's /whep, frames as a WebRTC video
   * track, input over the "rfb" data channel; "auto": WebRTC when the server serves it and a
   * frame arrives within `autoFallbackMs`, else the WebSocket.
   */
  transport?: TransportKind;
  /** auto: how long to wait for the first WebRTC frame before using the WebSocket (default 4000). */
  autoFallbackMs?: number;
  /**
   * Read the publish time the server's "timecode" pattern stamps into frames and report
   * publish -> display latency in `stats.timecodeMs` (for measuring; costs a pixel read per frame).
   */
  timecode?: boolean;
  /** Lock the pointer to the view on a click, for 3-D navigation: pointer moves then carry
   * relative motion (`dx`, `dy`, `locked`). The server can ask for it too
   * (`display.request_pointer_lock()`); Escape releases it (default false). */
  pointerLock?: boolean;
  onState?: (state: State, reason?: string) => void;
  onStats?: (stats: Stats) => void;
  onError?: (message: string) => void;
}

function defaultUrl(): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/`;
}

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
  private readonly opts: Required<Omit<RemoteFramebufferViewOptions, "workerFactory" | "onState" | "onStats" | "onError" | "devicePixelRatio" | "token">> &
    RemoteFramebufferViewOptions;
  private _state: State = "idle";
  private _stats: Stats | null = null;
  private size: Size;
  private readonly observer: ResizeObserver | null = null;
  private readonly cleanups: (() => void)[] = [];
  private readonly captures = new Map<number, { resolve: (v: ImageData | Blob) => void; reject: (e: Error) => void }>();
  private nextCaptureId = 1;
  private readonly moves: MoveCoalescer<PointerInput>;
  private rafPending = false;
  private disposed = false;
  private readonly ownsCanvas: boolean;
  private rtc: WebRtcLink | null = null;
  private rtcBackoff = new Backoff(500, 5000);
  private rtcTimer: ReturnType<typeof setTimeout> | null = null;
  private gotFirstFrame = false;
  private mode: "websocket" | "webrtc";

  constructor(target: HTMLCanvasElement | HTMLElement, options: RemoteFramebufferViewOptions = {}) {
    this.opts = {
      url: options.url ?? defaultUrl(),
      autoResize: options.autoResize ?? true,
      maxBackingDimension: options.maxBackingDimension ?? 4096,
      imageOnly: options.imageOnly ?? false,
      maxInflight: options.maxInflight ?? 1,
      fit: options.fit ?? "contain",
      background: options.background ?? "#000",
      debug: options.debug ?? false,
      transport: options.transport ?? "websocket",
      pointerLock: options.pointerLock ?? false,
      ...options,
    } as RemoteFramebufferView["opts"];
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
    this.worker = options.workerFactory ? options.workerFactory() : makeWorker();
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.onWorker(e.data);
    this.worker.onerror = (e) => this.fail(`worker error: ${e.message}`);
    const offscreen = canvas.transferControlToOffscreen();
    const wopts: WorkerOptions = {
      url: this.opts.url,
      imageOnly: this.opts.imageOnly,
      maxInflight: this.opts.maxInflight,
      fit: this.opts.fit,
      background: this.opts.background,
      token: options.token ?? null,
      debug: this.opts.debug,
      mode: this.opts.transport === "websocket" ? "websocket" : "webrtc",
      timecode: options.timecode ?? false,
    };
    this.mode = wopts.mode;
    this.post({ type: "init", canvas: offscreen, options: wopts, size: this.size }, [offscreen]);
    if (this.mode === "webrtc") void this.startWebRtc();

    this.moves = new MoveCoalescer<PointerInput>((input) => this.post({ type: "pointer", input }), mergeMoves);
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
    this.bindInput();
  }

  // -- public API ------------------------------------------------------------------------

  get state(): State {
    return this._state;
  }

  get stats(): Stats | null {
    return this._stats;
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
    return this.mode;
  }

  // -- WebRTC ----------------------------------------------------------------------------

  private async startWebRtc(): Promise<void> {
    if (this.disposed || this.mode !== "webrtc") return;
    const auto = this.opts.transport === "auto";
    const link = new WebRtcLink(whepUrl(this.opts.url), this.opts.token ?? null, {
      onStream: (readable) => this.post({ type: "rtc-frames", readable }, [readable as unknown as Transferable]),
      onBitmap: (bitmap, rtpTimestamp, receivedMs) => this.post({ type: "rtc-bitmap", bitmap, rtpTimestamp, receivedMs }, [bitmap]),
      onText: (text) => this.post({ type: "rtc-text", text }),
      onOpen: () => this.post({ type: "rtc-open" }),
      onClose: (reason) => this.onRtcClosed(link, reason),
    });
    this.rtc = link;
    if (auto) {
      this.rtcTimer = setTimeout(() => {
        if (!this.gotFirstFrame) this.fallBack("no WebRTC frame in time");
      }, this.opts.autoFallbackMs ?? 4000);
    }
    try {
      await link.start();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (auto) this.fallBack(message);
      else this.onRtcClosed(link, message, err instanceof WhepError && err.status >= 400 && err.status < 500 && err.status !== 429);
    }
  }

  private onRtcClosed(link: WebRtcLink, reason: string, final = false): void {
    if (this.rtc !== link || this.disposed) return;
    this.rtc = null;
    if (this.opts.transport === "auto" && !this.gotFirstFrame) {
      this.fallBack(reason);
      return;
    }
    this.post({ type: "rtc-closed", reason });
    if (final) {
      this.setState("error", reason);
      this.fail(reason);
      return;
    }
    this.gotFirstFrame = false;
    setTimeout(() => void this.startWebRtc(), this.rtcBackoff.next());
  }

  private fallBack(reason: string): void {
    if (this.mode !== "webrtc" || this.disposed) return;
    if (this.opts.debug) console.debug("rfb: using the WebSocket:", reason);
    this.mode = "websocket";
    if (this.rtcTimer) clearTimeout(this.rtcTimer);
    const link = this.rtc;
    this.rtc = null;
    link?.close();
    this.post({ type: "use-websocket" });
  }

  private async withRtcStats(stats: Stats): Promise<Stats> {
    if (this.mode !== "webrtc" || !this.rtc) return stats;
    try {
      const rtc = await this.rtc.stats();
      if (!rtc) return stats;
      // Without frame_shown reports the server's figure stops where the packets leave it;
      // add what the browser reports after that (half the RTT, the jitter buffer, decoding).
      const latencyMs =
        stats.latencyMeasured || stats.latencyMs === null
          ? stats.latencyMs
          : stats.latencyMs + (rtc.rttMs ?? 0) / 2 + (rtc.jitterBufferMs ?? 0) + (rtc.decodeMs ?? 0);
      return { ...stats, rtc, codec: rtc.codec ?? stats.codec, bitrate: rtc.bitrate, latencyMs };
    } catch {
      return stats;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.rtcTimer) clearTimeout(this.rtcTimer);
    this.rtc?.close();
    this.rtc = null;
    this.observer?.disconnect();
    for (const c of this.cleanups) c();
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
        void this.withRtcStats(msg.stats).then((stats) => {
          this._stats = stats;
          this.opts.onStats?.(stats);
        });
        break;
      case "rtc-send":
        this.rtc?.send(msg.text);
        break;
      case "rtc-shown":
        this.rtc?.frameShown(msg.rtp, msg.receivedMs);
        break;
      case "first-frame":
        this.gotFirstFrame = true;
        if (this.mode === "webrtc") this.rtcBackoff.reset();
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
        this.lockWanted = msg.lock;
        if (!msg.lock && document.pointerLockElement === this.canvas) document.exitPointerLock();
        else if (msg.lock) this.lockPointer(); // works where the page has a recent gesture
        break;
    }
  }

  // -- application messages --------------------------------------------------------------

  private readonly messageCallbacks = new Set<(data: unknown) => void>();

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

  // -- pointer lock ----------------------------------------------------------------------

  private lockWanted = false;
  /** Where the pointer was when it was locked (CSS px in the canvas): locked moves keep it. */
  private lockAt: { x: number; y: number } | null = null;

  private lockPointer(): void {
    if (document.pointerLockElement === this.canvas) return;
    try {
      const p = this.canvas.requestPointerLock() as unknown as Promise<void> | undefined;
      p?.catch?.(() => {
        /* no gesture yet: the next click locks it */
      });
    } catch {
      /* older browsers throw without a gesture */
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
    const s = this.measure();
    const old = this.size;
    if (s.cssWidth === old.cssWidth && s.cssHeight === old.cssHeight && s.width === old.width && s.height === old.height) return;
    this.size = s;
    this.post({ type: "resize", size: s });
  }

  // -- input -----------------------------------------------------------------------------

  private listen<K extends keyof HTMLElementEventMap>(type: K, fn: (e: HTMLElementEventMap[K]) => void, passive = true): void {
    const opts: AddEventListenerOptions = { passive };
    this.canvas.addEventListener(type, fn as EventListener, opts);
    this.cleanups.push(() => this.canvas.removeEventListener(type, fn as EventListener, opts));
  }

  private pointerInput(kind: PointerInput["kind"], e: PointerEvent | MouseEvent | WheelEvent): PointerInput {
    const rect = this.canvas.getBoundingClientRect();
    const input: PointerInput = {
      kind,
      cssX: e.clientX - rect.left,
      cssY: e.clientY - rect.top,
      button: kind === "pointer_move" || kind === "wheel" ? 0 : mapButton(e.button),
      buttons: mapButtons(e.buttons),
      modifiers: modifiers(e),
      timestamp: Date.now() / 1000,
    };
    if ("pointerId" in e && typeof e.pointerId === "number") {
      input.pointerId = e.pointerId;
      input.pointerType = e.pointerType || "mouse";
      input.pressure = e.pressure;
      input.tiltX = e.tiltX;
      input.tiltY = e.tiltY;
    }
    return input;
  }

  private scheduleFlush(): void {
    if (this.rafPending) return;
    this.rafPending = true;
    requestAnimationFrame(() => {
      this.rafPending = false;
      this.moves.flush();
    });
  }

  private bindInput(): void {
    const canvas = this.canvas;
    this.listen("pointerdown", (e) => {
      canvas.focus({ preventScroll: true }); // forwarded to the text field (bindKeys)
      if ((this.opts.pointerLock || this.lockWanted) && document.pointerLockElement !== canvas) {
        const r = canvas.getBoundingClientRect();
        this.lockAt = { x: e.clientX - r.left, y: e.clientY - r.top };
        this.lockPointer(); // a click is the gesture browsers ask for
      }
      try {
        canvas.setPointerCapture(e.pointerId); // a drag keeps reporting outside the canvas
      } catch {
        /* synthetic events have no capturable pointer */
      }
      this.moves.other(this.pointerInput("pointer_down", e));
    });
    this.listen("pointermove", (e) => {
      const input = this.pointerInput("pointer_move", e);
      if (document.pointerLockElement === canvas) {
        // Locked: the pointer stays where it was locked; the motion is relative.
        const at = this.lockAt ?? { x: input.cssX, y: input.cssY };
        input.cssX = at.x;
        input.cssY = at.y;
        input.locked = true;
        input.moveX = e.movementX;
        input.moveY = e.movementY;
      }
      this.moves.move(input, e.pointerId);
      this.scheduleFlush();
    });
    const onLockChange = () => {
      if (document.pointerLockElement !== canvas) this.lockAt = null;
    };
    document.addEventListener("pointerlockchange", onLockChange);
    this.cleanups.push(() => document.removeEventListener("pointerlockchange", onLockChange));
    const up = (e: PointerEvent) => {
      if (canvas.hasPointerCapture?.(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
      this.moves.other(this.pointerInput("pointer_up", e));
    };
    this.listen("pointerup", up);
    this.listen("pointercancel", up);
    this.listen(
      "wheel",
      (e) => {
        e.preventDefault(); // the page must not scroll under the stream
        const input = this.pointerInput("wheel", e);
        const { dx, dy } = wheelPixels(e.deltaX, e.deltaY, e.deltaMode, this.size.cssWidth, this.size.cssHeight);
        input.dx = dx;
        input.dy = dy;
        this.moves.other(input);
      },
      false,
    );
    this.listen("dblclick", (e) => this.moves.other(this.pointerInput("double_click", e)));
    this.listen("contextmenu", (e) => e.preventDefault(), false);
    this.bindKeys();
  }

  /**
   * Keys and text. A canvas gets key events but no text: no IME composition, no dead
   * keys, no paste. So keyboard focus goes to a hidden text field beside the canvas
   * (focused on every pointer down, and whenever the canvas itself is focused): its key
   * events are the view's key_down/key_up, and what it would insert (typed, composed or
   * pasted text) is sent as `char` events and then cleared. Keys the browser would act
   * on (Tab, arrows, Backspace, ...) are captured while it has focus; a click outside
   * the view gives the keyboard back to the page.
   */
  private bindKeys(): void {
    const canvas = this.canvas;
    const field = document.createElement("textarea");
    field.setAttribute("aria-label", "keyboard input for the remote view");
    field.setAttribute("autocapitalize", "off");
    field.setAttribute("autocomplete", "off");
    field.spellcheck = false;
    field.tabIndex = -1;
    // Out of the layout and invisible, yet focusable (display:none or visibility:hidden
    // would not be); at the canvas's top left so an IME's candidate window opens there.
    field.style.cssText =
      "position:fixed;width:1px;height:1px;padding:0;border:0;margin:0;opacity:0;resize:none;overflow:hidden;pointer-events:none;white-space:pre;z-index:-1";
    canvas.insertAdjacentElement("afterend", field);
    this.textField = field;
    this.cleanups.push(() => field.remove());
    const place = () => {
      const r = canvas.getBoundingClientRect();
      field.style.left = `${Math.max(0, r.left)}px`;
      field.style.top = `${Math.max(0, r.top)}px`;
    };
    const focusField = () => {
      place();
      field.focus({ preventScroll: true });
    };
    this.listen("focus", focusField);
    const on = <K extends keyof HTMLElementEventMap>(type: K, fn: (e: HTMLElementEventMap[K]) => void) => {
      field.addEventListener(type, fn as EventListener);
      this.cleanups.push(() => field.removeEventListener(type, fn as EventListener));
    };
    const key = (kind: "key_down" | "key_up") => (e: KeyboardEvent) => {
      if (shouldPreventKey(e)) e.preventDefault();
      this.moves.flush();
      this.post({ type: "key", input: { kind, key: e.key, code: e.code, modifiers: modifiers(e), timestamp: Date.now() / 1000 } });
    };
    this.listen("keydown", key("key_down"), false); // the canvas, where it has focus itself
    this.listen("keyup", key("key_up"), false);
    on("keydown", key("key_down"));
    on("keyup", key("key_up"));
    const text = (data: string | null, mods: string[] = []) => {
      if (data) {
        this.moves.flush();
        const input: TextInput = { kind: "char", data, modifiers: mods, timestamp: Date.now() / 1000 };
        this.post({ type: "text", input });
      }
      field.value = "";
    };
    on("compositionend", (e) => text(e.data));
    on("input", (e) => {
      const ie = e as InputEvent;
      if (ie.isComposing) return; // compositionend sends the result
      if (ie.inputType === "insertText" || ie.inputType === "insertReplacementText") text(ie.data);
      else field.value = ""; // line breaks, deletions: the key events carried them
    });
    on("paste", (e) => {
      e.preventDefault();
      const pasted = e.clipboardData?.getData("text/plain") ?? "";
      if (pasted) this.post({ type: "clipboard-paste", text: pasted }); // the paste itself
      text(pasted); // ... and the text it types
    });
  }

  /** The hidden field that takes keyboard focus and text (see bindKeys). */
  private textField: HTMLTextAreaElement | null = null;

  /** Give the view the keyboard (as a click on it does). */
  focus(): void {
    this.textField?.focus({ preventScroll: true });
  }
}
