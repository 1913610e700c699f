// The program's sound, on the main thread (AudioContext exists only there): audio_chunk
// messages relayed by the worker are decoded with WebCodecs' AudioDecoder (Opus, 48 kHz)
// and played through the jitter-buffer AudioWorklet (audio-worklet.ts). Autoplay rules
// start the AudioContext suspended until a user gesture: the view shows an unmute button
// (a DOM element over the canvas, never drawn on it) and plays nothing until it is clicked.

import { WORKLET_NAME, WORKLET_SOURCE } from "./audio-worklet";

export type AudioState = "none" | "muted" | "playing";

export interface AudioStats {
  /** "none": no sound has come; "muted": sound comes but is not played (autoplay rules
   * before the unmute click, or muted by the user); "playing". */
  state: AudioState;
  /** What the jitter buffer holds, ms (the sound's delay on top of the network's). */
  bufferMs: number | null;
  packets: number;
  /** Packets the server did not send this viewer (dropped as late there: seq gaps). */
  lost: number;
  /** Packets dropped here: out of order, or the buffer over its limit after a stall. */
  late: number;
  /** Times the buffer ran dry and re-buffered. */
  underruns: number;
  /** Drift corrections: single frames dropped or repeated. */
  adjusted: number;
  /** "webrtc": the sound comes on the peer connection's audio track (the browser's own
   * jitter buffer: `bufferMs` is its delay, `packets` and `lost` its RTP figures). */
  transport?: "websocket" | "webrtc";
  /** WebRTC: samples the decoder made up for lost or late packets. */
  concealedSamples?: number;
}

/** Whether this browser can play the program's sound (hello's "audio" feature). */
export function audioSupported(): boolean {
  return typeof AudioDecoder !== "undefined" && typeof AudioContext !== "undefined" && typeof AudioWorkletNode !== "undefined";
}

export interface AudioOptions {
  /** The jitter buffer's target, ms. */
  targetMs?: number;
  maxMs?: number;
  log?: (message: string) => void;
}

export class AudioPlayer {
  private ctx: AudioContext | null = null;
  private node: AudioWorkletNode | null = null;
  private gain: GainNode | null = null;
  private decoder: AudioDecoder | null = null;
  private decoderChannels = 0;
  private userMuted = false;
  private lastSeq: number | null = null;
  private report = { bufferMs: null as number | null, underruns: 0, late: 0, adjusted: 0, playing: false };
  private counts = { packets: 0, lost: 0, late: 0 };
  readonly button: HTMLButtonElement;
  private disposed = false;
  // WebRTC: the remote audio track, its source node, and the getStats figures.
  private trackSource: MediaStreamAudioSourceNode | null = null;
  private trackElement: HTMLAudioElement | null = null;
  private rtcFigures: { bufferMs: number | null; packets: number; lost: number; concealed: number } | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly opts: AudioOptions = {},
  ) {
    const b = (this.button = document.createElement("button"));
    b.type = "button";
    b.className = "rfb-unmute";
    b.style.cssText =
      "position:absolute;display:none;z-index:2;padding:6px 10px;border:0;border-radius:4px;" +
      "background:rgba(0,0,0,.7);color:#fff;font:13px system-ui,sans-serif;cursor:pointer";
    b.addEventListener("click", (e) => {
      e.stopPropagation();
      if (this.state === "playing") this.mute();
      else void this.unmute();
    });
    b.addEventListener("pointerdown", (e) => e.stopPropagation());
    canvas.insertAdjacentElement("afterend", b);
    this.place();
  }

  /** The AudioContext, once sound has come (null before). */
  get context(): AudioContext | null {
    return this.ctx;
  }

  /** What goes to the speakers (after the mute): tap it with an AnalyserNode. */
  get output(): AudioNode | null {
    return this.gain;
  }

  get state(): AudioState {
    if (this.ctx === null) return "none";
    return this.ctx.state === "running" && !this.userMuted ? "playing" : "muted";
  }

  stats(): AudioStats {
    const rtc = this.rtcFigures;
    if (rtc && this.trackSource) {
      return {
        state: this.state, bufferMs: rtc.bufferMs === null ? null : Math.round(rtc.bufferMs * 10) / 10,
        packets: rtc.packets, lost: rtc.lost, late: 0, underruns: 0, adjusted: 0,
        transport: "webrtc", concealedSamples: rtc.concealed,
      };
    }
    return {
      state: this.state,
      bufferMs: this.report.bufferMs === null ? null : Math.round(this.report.bufferMs * 10) / 10,
      packets: this.counts.packets,
      lost: this.counts.lost,
      late: this.counts.late + this.report.late,
      underruns: this.report.underruns,
      adjusted: this.report.adjusted,
    };
  }

  /** Play (a user gesture: the click on the unmute button, or the page's own). */
  async unmute(): Promise<void> {
    this.userMuted = false;
    this.start();
    if (this.gain) this.gain.gain.value = 1;
    if (this.ctx && this.ctx.state !== "running") await this.ctx.resume();
    this.show();
  }

  mute(): void {
    this.userMuted = true;
    if (this.gain) this.gain.gain.value = 0;
    this.node?.port.postMessage({ type: "reset" });
    this.show();
  }

  /** Put the button at the canvas's bottom-left corner (call when the canvas moves). */
  place(): void {
    const c = this.canvas;
    this.button.style.left = `${c.offsetLeft + 8}px`;
    this.button.style.top = `${c.offsetTop + Math.max(0, c.offsetHeight - 40)}px`;
  }

  /** WebRTC: play the peer connection's audio track through the same mute control (muted
   * until the first gesture, like the WebSocket's sound); the browser decodes and buffers it
   * and lip-syncs it with the video track of the same MediaStream. */
  playTrack(track: MediaStreamTrack): void {
    if (this.disposed) return;
    this.start();
    const ctx = this.ctx!;
    this.trackSource?.disconnect();
    const stream = new MediaStream([track]);
    // Chromium pulls a remote track's samples only while a media element plays it: a muted
    // one (the sound goes through the AudioContext, behind the mute).
    const el = (this.trackElement ??= new Audio());
    el.muted = true;
    el.srcObject = stream;
    void el.play().catch(() => undefined);
    this.trackSource = ctx.createMediaStreamSource(stream);
    if (this.gain) this.trackSource.connect(this.gain);
    this.show();
  }

  /** WebRTC: the audio track's receiver figures (getStats), for stats(). */
  trackFigures(f: { jitterBufferMs: number | null; packetsReceived: number; packetsLost: number; concealedSamples: number } | null): void {
    this.rtcFigures = f && { bufferMs: f.jitterBufferMs, packets: f.packetsReceived, lost: f.packetsLost, concealed: f.concealedSamples };
  }

  /** One audio_chunk message (header and Opus packet) from the worker. */
  push(header: Record<string, unknown>, data: ArrayBuffer): void {
    if (this.disposed || header.codec !== "opus") return;
    const seq = Number(header.seq);
    const ts = Number(header.timestamp_us);
    const channels = Number(header.channels) === 2 ? 2 : 1;
    if (!Number.isFinite(seq) || !Number.isFinite(ts)) return;
    this.counts.packets++;
    if (this.lastSeq !== null) {
      if (seq <= this.lastSeq) {
        this.counts.late++;
        return;
      }
      this.counts.lost += seq - this.lastSeq - 1;
    }
    this.lastSeq = seq;
    this.start();
    this.show();
    // Suspended (autoplay rules) or muted: nothing to play; the decoder starts afresh.
    if (this.node === null || this.ctx?.state !== "running" || this.userMuted) return;
    if (this.decoder === null || this.decoderChannels !== channels || this.decoder.state === "closed") {
      if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
      this.decoder = new AudioDecoder({
        output: (d) => this.onData(d),
        error: (e) => {
          this.opts.log?.(`audio decoder: ${e}`);
          this.decoder = null;
        },
      });
      this.decoder.configure({ codec: "opus", sampleRate: 48000, numberOfChannels: channels });
      this.decoderChannels = channels;
    }
    const duration = Number(header.duration_us) || 20000;
    this.decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: ts, duration, data }));
  }

  private onData(d: AudioData): void {
    const n = d.numberOfFrames;
    const channels: Float32Array[] = [];
    for (let c = 0; c < d.numberOfChannels; c++) {
      const a = new Float32Array(n);
      d.copyTo(a, { planeIndex: c, format: "f32-planar" });
      channels.push(a);
    }
    d.close();
    this.node?.port.postMessage({ type: "pcm", channels }, channels.map((a) => a.buffer));
  }

  /** The AudioContext and the worklet, once (on the first packet or the unmute click). */
  private start(): void {
    if (this.ctx !== null || this.disposed) return;
    const ctx = (this.ctx = new AudioContext({ sampleRate: 48000, latencyHint: "interactive" }));
    ctx.onstatechange = () => this.show();
    // What goes to the speakers, behind the mute: the worklet (WebSocket) or a track (WebRTC).
    const gain = (this.gain = ctx.createGain());
    gain.gain.value = this.userMuted ? 0 : 1;
    gain.connect(ctx.destination);
    const url = URL.createObjectURL(new Blob([WORKLET_SOURCE], { type: "text/javascript" }));
    void ctx.audioWorklet
      .addModule(url)
      .then(() => {
        URL.revokeObjectURL(url);
        if (this.disposed) return;
        const node = new AudioWorkletNode(ctx, WORKLET_NAME, {
          numberOfInputs: 0,
          outputChannelCount: [2],
          processorOptions: { targetMs: this.opts.targetMs ?? 50, maxMs: this.opts.maxMs ?? 100 },
        });
        node.port.onmessage = (e) => {
          if (e.data?.type === "report") this.report = e.data;
        };
        node.connect(gain);
        this.node = node;
      })
      .catch((e) => this.opts.log?.(`audio worklet: ${e}`));
  }

  private show(): void {
    const playing = this.state === "playing";
    this.button.style.display = this.ctx === null ? "none" : "block";
    this.button.textContent = playing ? "\u{1F50A}" : "\u{1F507} Click to unmute";
    this.button.title = playing ? "Mute" : "Unmute the sound";
    this.button.setAttribute("aria-label", playing ? "Mute" : "Unmute");
    this.place();
  }

  dispose(): void {
    this.disposed = true;
    this.button.remove();
    try {
      if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
    } catch {
      /* closing anyway */
    }
    this.trackElement?.remove();
    if (this.trackElement) this.trackElement.srcObject = null;
    void this.ctx?.close();
  }
}
