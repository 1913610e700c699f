// Messages between the main-thread view and its worker.

import type { WorkerOptions } from "./defaults";
import type { Fit } from "./geometry";
import type { KeyInput, PointerInput, TextInput } from "./input";
import type { ControlInfo, ViewerEntry } from "./presence";
import type { ReceivedFile, UploadStatus } from "./files";

export type State = "idle" | "connecting" | "open" | "negotiated" | "closed" | "error";
export type TransportKind = "websocket" | "webrtc" | "auto";
/** The worker's options (defaults.ts derives them from the view's). */
export type { WorkerOptions };

export interface Stats {
  state: State;
  transport: "websocket" | "webrtc" | null;
  codec: string | null;
  width: number;
  height: number;
  framesDisplayed: number;
  framesDropped: number;
  fps: number;
  bitrate: number;
  decodeMs: number | null;
  decodeQueueSize: number;
  /** Publish -> display ms (median, p95) over the last second, as the server measured it:
   * from acks after drawing (WebSocket) or frame_shown reports (WebRTC). */
  latencyMs: number | null;
  latencyP95Ms: number | null;
  /** False over WebRTC while the server counts no frame_shown report (a browser without
   * RTP timestamps): latencyMs is then publish -> send plus the receiver's delays, an estimate. */
  latencyMeasured: boolean;
  /** The server admitted this viewer to watch only (its input is not sent). */
  viewOnly: boolean;
  rttMs: number | null;
  viewers: number | null;
  reconnects: number;
  /** WebRTC receiver figures from getStats() (transport "webrtc" only). */
  rtc?: import("./webrtc").RtcStats | null;
  /** When the first frame of this page was drawn (epoch ms: performance.timeOrigin + now). */
  firstFrameAt: number | null;
  /** With `timecode: true`: publish -> display ms of each frame drawn in the last second. */
  timecodeMs?: number[];
  /** With `timecode: true`: when each frame of the last second was drawn (epoch ms), for
   * frame gaps (freezes). */
  drawnAt?: number[];
  /** Adaptation, as the server reports it: this viewer's rung of the quality ladder
   * (0 = top, the full `bitrate`), out of `rungs`, and what that rung is. */
  adaptation: Adaptation | null;
  /** Click-to-photon (photon.ts): this viewer's input sent -> the first frame that
   * reflects it drawn, in ms (samples since the page started, p50/p95 of the newest). */
  inputToPhoton?: import("./photon").PhotonFigures;
  /** The program's sound (audio.ts): state, jitter-buffer delay, losses; null where the
   * view plays none (option `audio: false`, or no AudioDecoder). */
  audio?: import("./audio").AudioStats | null;
}

export interface Adaptation {
  rung: number;
  rungs: number;
  /** The rung's coded size; the picture is still drawn at the frame's size (width/height). */
  codedWidth: number | null;
  codedHeight: number | null;
  fps: number | null;
  /** The rung's target bitrate (video), null for image rungs. */
  targetBitrate: number | null;
  /** The server's estimate of what this viewer's path carries, bit/s. */
  estimateBps: number | null;
  queueMs: number | null;
  switches: number;
  reason: string | null;
}

export interface Size {
  cssWidth: number;
  cssHeight: number;
  width: number; // backing pixels
  height: number;
  ratio: number;
}

export type ToWorker =
  | { type: "init"; canvas: OffscreenCanvas; options: WorkerOptions; size: Size }
  | { type: "resize"; size: Size }
  | { type: "fit"; fit: Fit; background?: string }
  | { type: "pointer"; input: PointerInput }
  | { type: "key"; input: KeyInput }
  | { type: "text"; input: TextInput }
  | { type: "app-send"; text: string }
  | { type: "clipboard-paste"; text: string }
  /** A `gamepad` input event (gamepad.ts built it within the server's bounds). */
  | { type: "gamepad"; event: Record<string, unknown> }
  | { type: "capture"; id: number; format: "imagedata" | "blob" }
  | { type: "rtc-open" }
  | { type: "rtc-text"; text: string }
  /** A whole binary message from the data channel (its parts reassembled): an exact still. */
  | { type: "rtc-binary"; data: ArrayBuffer }
  | { type: "rtc-frames"; readable: ReadableStream<VideoFrame> }
  | { type: "rtc-bitmap"; bitmap: ImageBitmap; rtpTimestamp: number | null; receivedMs: number | null }
  | { type: "rtc-closed"; reason: string }
  | { type: "use-websocket" }
  /** The control floor: ask for it, let go of it (or withdraw), hand it to another viewer. */
  | { type: "control"; action: "request" | "release" | "give"; clientId?: string }
  /** Upload a file (files.ts): the worker reads it and sends it on its link. */
  | { type: "upload"; id: number; file: Blob; name: string; mime: string }
  | { type: "upload-cancel"; id: number }
  /** One packed `audio_in` message (microphone.ts) for the WebSocket. */
  | { type: "audio-in"; data: ArrayBuffer }
  | { type: "dispose" };

export type FromWorker =
  | { type: "state"; state: State; reason?: string }
  | { type: "stats"; stats: Stats }
  | { type: "error"; message: string }
  | { type: "capture"; id: number; result: ImageData | Blob | null; error?: string }
  | { type: "log"; message: string }
  | { type: "rtc-send"; text: string }
  /** A binary message for the data channel (a file chunk). */
  | { type: "rtc-send-binary"; data: ArrayBuffer }
  /** What became of an upload; a file the application sent, whole. */
  | { type: "upload-status"; status: UploadStatus }
  | { type: "file"; file: ReceivedFile }
  /** WebRTC: the worker drew the frame with this RTP timestamp (the main thread adds its
   * arrival time and sends frame_shown). */
  | { type: "rtc-shown"; rtp: number; receivedMs: number | null }
  | { type: "first-frame" }
  /** An audio_chunk message (its header and Opus packet) for the main thread's player. */
  | { type: "audio"; header: Record<string, unknown>; data: ArrayBuffer }
  /** The config said whether this viewer's microphone would be heard; the server's
   * `audio_in_status` (a refusal). */
  | { type: "microphone"; allowed: boolean }
  | { type: "audio-in-status"; status: string; reason: string | null }
  /** What the application said (server -> viewer messages the worker passes on). */
  | { type: "app-message"; data: unknown }
  | { type: "cursor"; cursor: string; image?: string; hotspot?: [number, number] }
  | { type: "clipboard"; text: string }
  | { type: "pointer-lock"; lock: boolean }
  /** Who holds the control floor (`me`: this viewer's client id), and whether this viewer may drive. */
  | { type: "control"; control: ControlInfo; me: string | null; mayDrive: boolean }
  /** Who is watching; `pointers`: the stream shares pointers. */
  | { type: "viewers"; viewers: ViewerEntry[]; pointers: boolean }
  /** Other viewers' pointers, in CSS pixels over the canvas. */
  | { type: "pointers"; pointers: { clientId: string; label: string; x: number; y: number; visible: boolean }[] };
