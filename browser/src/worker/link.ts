// How the worker's session talks to the server. One interface for both links, so the
// session never asks which one it has: its own WebSocket (frames, acks and input), or the
// WebRTC "rfb" data channel, which lives on the main thread (RTCPeerConnection does not
// exist in workers) and is relayed by postMessage.

import { FINAL_CLOSE_CODES } from "../close-codes";
import { WEBSOCKET_RETRY } from "../defaults";
import { Backoff } from "../flow";
import type { FromWorker } from "../messages";

export interface Link {
  readonly kind: "websocket" | "webrtc";
  /** One control message to the server; dropped while the link is not open. */
  send(text: string): void;
  /** One binary message (a file chunk); dropped while the link is not open. */
  sendBinary(data: Uint8Array): void;
  /** Bytes queued to send and not yet sent (0 where the link cannot say). */
  buffered(): number;
  /** The server said the stream is set up (config): a later drop may retry soon again. */
  healthy(): void;
  close(): void;
  /** Times the link has reconnected. */
  readonly reconnects: number;
}

/** Why a link went down: retrying ("retry"), refused for good ("refused": authorisation or
 * capabilities, which retrying does not heal), or closed by us ("disposed"). */
export type LinkEnd = "retry" | "refused" | "disposed";

export interface LinkEvents {
  onConnecting(): void;
  onOpen(): void;
  onText(text: string): void;
  onBinary(data: ArrayBuffer): void;
  onClosed(reason: string, end: LinkEnd): void;
}

/** The worker's own WebSocket, reconnecting with backoff until refused or closed. */
export class WebSocketLink implements Link {
  readonly kind = "websocket";
  private ws: WebSocket | null = null;
  private disposed = false;
  private readonly backoff = new Backoff(WEBSOCKET_RETRY.baseMs, WEBSOCKET_RETRY.maxMs);
  private timer: ReturnType<typeof setTimeout> | null = null;
  private _reconnects = 0;

  constructor(
    private readonly url: string,
    private readonly events: LinkEvents,
  ) {}

  get reconnects(): number {
    return this._reconnects;
  }

  start(): void {
    if (this.disposed) return;
    this.events.onConnecting();
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.events.onClosed(`cannot open ${this.url}: ${err}`, "refused");
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => this.events.onOpen();
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data === "string") this.events.onText(e.data);
      else this.events.onBinary(e.data as ArrayBuffer);
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const reason = `closed ${e.code}${e.reason ? ` ${e.reason}` : ""}`;
      if (this.disposed) return this.events.onClosed(reason, "disposed");
      if (FINAL_CLOSE_CODES.has(e.code)) return this.events.onClosed(reason, "refused");
      this.events.onClosed(reason, "retry");
      this._reconnects++;
      this.timer = setTimeout(() => this.start(), this.backoff.next());
    };
    ws.onerror = () => {
      /* onclose follows with the code */
    };
  }

  send(text: string): void {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  sendBinary(data: Uint8Array): void {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(data as Uint8Array<ArrayBuffer>);
  }

  buffered(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  healthy(): void {
    this.backoff.reset();
  }

  close(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "disposed");
  }
}

/** The WebRTC data channel, on the main thread: what the session sends is posted there;
 * what arrives (open, text, frames) the main thread posts to the worker. */
export class RelayedLink implements Link {
  readonly kind = "webrtc";
  readonly reconnects = 0; // the main thread reconnects WebRTC and says so in its state

  constructor(private readonly post: (msg: FromWorker, transfer?: Transferable[]) => void) {}

  send(text: string): void {
    this.post({ type: "rtc-send", text });
  }

  sendBinary(data: Uint8Array): void {
    const copy = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
    this.post({ type: "rtc-send-binary", data: copy.buffer as ArrayBuffer }, [copy.buffer as ArrayBuffer]);
  }

  /** The data channel's buffer is on the main thread: the server's acks pace uploads here. */
  buffered(): number {
    return 0;
  }

  healthy(): void {}

  close(): void {}
}
