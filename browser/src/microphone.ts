// The viewer's microphone, to the program (streams served with microphone=True): a button
// over the view (a DOM element, never drawn on the canvas). Nothing is asked of the
// browser until the user clicks it: then getUserMedia, and
//  - on the WebSocket: the track's AudioData (MediaStreamTrackProcessor) is encoded with
//    WebCodecs' AudioEncoder (Opus, 48 kHz mono, 20 ms frames) and each packet goes as a
//    binary `audio_in` envelope (the worker sends it on the link);
//  - on WebRTC: the track is put on the peer connection's send-only audio transceiver
//    (replaceTrack: no renegotiation); the browser encodes and sends it itself.
// The server refuses a viewer that may not send (view-only, or not holding an exclusive
// stream's floor) with an `audio_in_status` message: the button says so. On WebRTC a
// view-only viewer's track is answered inactive, so it is told at once, on the data
// channel, before any click: kept until start(), which is then refused without asking
// the browser for the microphone (as the WebSocket's first packet would be).

import { packEnvelope } from "./protocol";

export type MicrophoneState = "off" | "starting" | "on" | "refused" | "error";

export interface MicrophoneStats {
  state: MicrophoneState;
  /** Why it is refused or failed ("view_only", "control", "disabled", an error). */
  reason: string | null;
  /** Packets and bytes sent on the WebSocket (WebRTC: the browser's own, in its stats). */
  packets: number;
  bytes: number;
  transport: "websocket" | "webrtc" | null;
}

export interface MicrophoneHooks {
  /** One packed `audio_in` message for the WebSocket (the worker sends it). */
  send(message: ArrayBuffer): void;
  /** Which link carries the stream now. */
  transport(): "websocket" | "webrtc";
  log?(message: string): void;
}

export const MIC_SAMPLE_RATE = 48000;
export const MIC_FRAME_US = 20000;
export const MIC_BITRATE = 32000;

/** The header of one `audio_in` message (docs/internals/protocol.md). */
export function audioInHeader(seq: number, timestampUs: number, durationUs: number, channels = 1): Record<string, unknown> {
  return {
    type: "audio_in",
    seq,
    timestamp_us: Math.round(timestampUs),
    duration_us: Math.round(durationUs),
    codec: "opus",
    sample_rate: MIC_SAMPLE_RATE,
    channels,
  };
}

/** Whether this browser can send its microphone on the WebSocket (and at all). */
export function microphoneSupported(): boolean {
  return typeof navigator !== "undefined" && !!navigator.mediaDevices?.getUserMedia;
}

type Processor = new (init: { track: MediaStreamTrack }) => { readable: ReadableStream<AudioData> };

export class Microphone {
  readonly button: HTMLButtonElement;
  private _state: MicrophoneState = "off";
  private reason: string | null = null;
  private stream: MediaStream | null = null;
  private encoder: AudioEncoder | null = null;
  private reader: ReadableStreamDefaultReader<AudioData> | null = null;
  private sender: RTCRtpSender | null = null;
  private carried: "websocket" | "webrtc" | null = null;
  private allowed = false;
  private seq = 0;
  private counts = { packets: 0, bytes: 0 };
  private disposed = false;
  /** A refusal told before start() (WebRTC: the answer refused the track). */
  private refusedAhead: string | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly hooks: MicrophoneHooks,
  ) {
    const b = (this.button = document.createElement("button"));
    b.type = "button";
    b.className = "rfb-microphone";
    b.style.cssText =
      "position:absolute;display:none;z-index:2;padding:6px 10px;border:0;border-radius:4px;" +
      "background:rgba(0,0,0,.7);color:#fff;font:13px system-ui,sans-serif;cursor:pointer";
    b.addEventListener("click", (e) => {
      e.stopPropagation();
      if (this._state === "on" || this._state === "starting") this.stop();
      else void this.start();
    });
    b.addEventListener("pointerdown", (e) => e.stopPropagation());
    canvas.insertAdjacentElement("afterend", b);
    this.render();
  }

  get state(): MicrophoneState {
    return this._state;
  }

  /** The captured track while the microphone is on. */
  get track(): MediaStreamTrack | null {
    return this.stream?.getAudioTracks()[0] ?? null;
  }

  stats(): MicrophoneStats {
    return { state: this._state, reason: this.reason, ...this.counts, transport: this.carried };
  }

  /** The config said whether the stream takes microphones from this viewer: the button shows. */
  setAllowed(allowed: boolean): void {
    this.allowed = allowed;
    this.render();
  }

  /** WebRTC: the peer connection's microphone sender (null: none, or the link went). */
  setSender(sender: RTCRtpSender | null): void {
    this.sender = sender;
    if (sender && this._state === "on" && this.hooks.transport() === "webrtc") void this.route();
  }

  /** Ask for the microphone (call from a user gesture: the button's click, or the page's). */
  async start(): Promise<void> {
    if (this.disposed || this._state === "on" || this._state === "starting") return;
    if (this.refusedAhead !== null) return this.set("refused", this.refusedAhead);
    if (!microphoneSupported()) return this.failed("error", "no getUserMedia in this browser");
    this.set("starting", null);
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, sampleRate: MIC_SAMPLE_RATE, echoCancellation: true, noiseSuppression: true },
      });
    } catch (err) {
      return this.failed("error", err instanceof Error ? err.message : String(err));
    }
    if ((this._state as MicrophoneState) !== "starting") return this.release(); // stopped meanwhile
    this.set("on", null);
    await this.route();
  }

  /** Stop sending and let the microphone go. */
  stop(): void {
    this.release();
    if (this._state !== "refused") this.set("off", null);
  }

  /** The server's `audio_in_status`. */
  onStatus(status: string, reason: string | null): void {
    if (status !== "refused") return;
    if (this._state === "off" || this._state === "error") {
      this.refusedAhead = reason ?? "refused"; // said before asking: shown when it is asked
      return;
    }
    this.release();
    this.set("refused", reason);
  }

  place(): void {
    const c = this.canvas;
    this.button.style.left = `${c.offsetLeft + c.offsetWidth - 48}px`;
    this.button.style.top = `${c.offsetTop + Math.max(0, c.offsetHeight - 40)}px`;
  }

  dispose(): void {
    this.disposed = true;
    this.release();
    this.button.remove();
  }

  // -- sending -----------------------------------------------------------------------------

  private async route(): Promise<void> {
    const track = this.track;
    if (!track) return;
    const transport = this.hooks.transport();
    if (transport === "webrtc" && this.sender) {
      this.stopEncoding();
      this.carried = "webrtc";
      await this.sender.replaceTrack(track).catch((err: unknown) => this.failed("error", String(err)));
      return;
    }
    if (this.carried === "websocket") return;
    this.carried = "websocket";
    await this.encode(track);
  }

  private async encode(track: MediaStreamTrack): Promise<void> {
    const Proc = (globalThis as unknown as { MediaStreamTrackProcessor?: Processor }).MediaStreamTrackProcessor;
    if (typeof AudioEncoder === "undefined" || !Proc) return this.failed("error", "no AudioEncoder / MediaStreamTrackProcessor");
    const encoder = new AudioEncoder({
      output: (chunk) => this.sendChunk(chunk),
      error: (e) => this.failed("error", `AudioEncoder: ${e.message}`),
    });
    this.encoder = encoder;
    const reader = new Proc({ track }).readable.getReader();
    this.reader = reader;
    let configured = false;
    for (;;) {
      let next: ReadableStreamReadResult<AudioData>;
      try {
        next = await reader.read();
      } catch {
        break;
      }
      if (next.done || !next.value) break;
      const data = next.value;
      if (this.encoder !== encoder || encoder.state === "closed") {
        data.close();
        break;
      }
      if (!configured) {
        encoder.configure({
          codec: "opus",
          sampleRate: data.sampleRate,
          numberOfChannels: 1,
          bitrate: MIC_BITRATE,
          opus: { frameDuration: MIC_FRAME_US, application: "voip" },
        } as AudioEncoderConfig);
        configured = true;
      }
      const mono = data.numberOfChannels === 1 ? data : downmix(data);
      try {
        encoder.encode(mono);
      } finally {
        if (mono !== data) mono.close();
        data.close();
      }
    }
  }

  private sendChunk(chunk: EncodedAudioChunk): void {
    if (this._state !== "on") return;
    const bytes = new Uint8Array(chunk.byteLength);
    chunk.copyTo(bytes);
    const message = packEnvelope(audioInHeader(this.seq++, chunk.timestamp, chunk.duration ?? MIC_FRAME_US), bytes);
    this.counts.packets++;
    this.counts.bytes += bytes.byteLength;
    this.hooks.send(message.buffer as ArrayBuffer);
  }

  private stopEncoding(): void {
    const reader = this.reader;
    this.reader = null;
    void reader?.cancel().catch(() => {});
    const encoder = this.encoder;
    this.encoder = null;
    if (encoder && encoder.state !== "closed") encoder.close();
    if (this.carried === "websocket") this.carried = null;
  }

  private release(): void {
    this.stopEncoding();
    if (this.sender && this.carried === "webrtc") void this.sender.replaceTrack(null).catch(() => {});
    this.carried = null;
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
  }

  private failed(state: MicrophoneState, reason: string): void {
    this.hooks.log?.(`microphone: ${reason}`);
    this.release();
    this.set(state, reason);
  }

  private set(state: MicrophoneState, reason: string | null): void {
    this._state = state;
    this.reason = reason;
    this.render();
  }

  private render(): void {
    const b = this.button;
    const on = this._state === "on" || this._state === "starting";
    b.style.display = this.allowed || this._state === "refused" ? "block" : "none";
    b.textContent = this._state === "refused" ? "\u{1F3A4}\u{1F6AB}" : on ? "\u{1F3A4} on" : "\u{1F3A4}";
    const title =
      this._state === "refused" ? `Microphone refused (${this.reason ?? "not allowed"})` : on ? "Stop the microphone" : "Send your microphone";
    b.title = title;
    b.setAttribute("aria-label", title);
    b.setAttribute("aria-pressed", on ? "true" : "false");
    b.dataset.state = this._state;
    this.place();
  }
}

/** The first channel of a multi-channel AudioData, as mono f32. */
function downmix(data: AudioData): AudioData {
  const n = data.numberOfFrames;
  const out = new Float32Array(n);
  data.copyTo(out, { planeIndex: 0, format: "f32-planar" });
  return new AudioData({ format: "f32-planar", sampleRate: data.sampleRate, numberOfFrames: n, numberOfChannels: 1, timestamp: data.timestamp, data: out });
}
