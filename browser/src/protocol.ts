// The rfb / pdum.rfb 0.x WebSocket protocol: envelope and control messages. No I/O.
// See docs/internals/protocol.md.

export const CAP_JPEG = "image/jpeg";
export const CAP_PNG = "image/png";
export const CAP_WEBP = "image/webp";
export const CAP_H264 = "webcodecs/h264-annexb";
/** rfb addition, listed beside CAP_H264: this viewer decodes High 4:4:4 too. */
export const CAP_H264_444 = "webcodecs/h264-annexb;chroma=444";
/** The codec string 0.x clients probe WebCodecs with. */
export const PROBE_CODEC = "avc1.42E01F";
/** High 4:4:4 Predictive, level 3.1: what rfb sends a viewer that lists CAP_H264_444. */
export const PROBE_CODEC_444 = "avc1.F4001F";

export interface ImageFrameHeader {
  type: "image_frame";
  seq: number;
  timestamp_us: number;
  width: number;
  height: number;
  mime: string;
  pixel_ratio?: number;
  /** rfb addition: the frame's size when the picture is coded smaller (a lower rung). */
  frame_width?: number;
  frame_height?: number;
  /** rfb addition: the resting frame bit-exact (a lossless PNG), drawn over the video. */
  exact?: boolean;
  /** rfb addition, WebRTC: the RTP timestamp of the video frame this picture shows exactly. */
  rtp_timestamp?: number;
  /** rfb addition, click-to-photon: the newest of this viewer's inputs the frame reflects
   * (only on the first frame that does; photon.ts). */
  input_seq?: number;
}

export interface VideoChunkHeader {
  type: "video_chunk";
  seq: number;
  timestamp_us: number;
  width: number;
  height: number;
  codec: string;
  bitstream: "annexb";
  keyframe: boolean;
  duration_us?: number;
  pixel_ratio?: number;
  color?: ColorInfo;
  /** rfb addition: the frame's size when the picture is coded smaller (a lower rung). */
  frame_width?: number;
  frame_height?: number;
  /** rfb addition, click-to-photon: as ImageFrameHeader.input_seq. */
  input_seq?: number;
}

export interface ColorInfo {
  primaries?: string;
  transfer?: string;
  matrix?: string;
  full_range?: boolean;
  bit_depth?: number;
}

export type FrameHeader = ImageFrameHeader | VideoChunkHeader;

/** The size a picture is drawn at and input maps to: the published frame's, whatever the
 * rung's coded size. */
export function frameSize(h: FrameHeader): { width: number; height: number } {
  const w = h.frame_width;
  const ht = h.frame_height;
  // Finite: JSON.parse reads 1e400 as Infinity, which no picture is drawn at.
  return typeof w === "number" && typeof ht === "number" && Number.isFinite(w) && Number.isFinite(ht) && w > 0 && ht > 0
    ? { width: w, height: ht }
    : { width: h.width, height: h.height };
}

export interface ConfigMessage {
  type: "config";
  transport: "image" | "webcodecs" | "webrtc";
  width: number;
  height: number;
  coords: "frame-pixels";
  codec?: string;
  mime?: string;
  color?: ColorInfo;
  client_id?: string;
  /** Where the server also serves WHEP, when it does. */
  webrtc?: string;
  /** This viewer may only watch: the server drops its input, so none is sent. */
  view_only?: boolean;
  /** rfb addition: the stream takes the viewers' microphones (`audio_in`). */
  microphone?: boolean;
}

export interface StatsMessage {
  type: "stats";
  rtt_ms?: number | null;
  fps_sent?: number;
  fps_acked?: number;
  bitrate_bps?: number;
  encode_ms?: number | null;
  latency_ms?: number | null;
  latency_p95_ms?: number | null;
  /** "ack", or "shown" when WebRTC frame_shown reports were counted (rfb addition). */
  latency_source?: "ack" | "shown" | null;
  viewers?: number;
  dropped?: number;
  /** Adaptation (rfb addition): the viewer's rung of the quality ladder (0 = top) and what it is. */
  rung?: number;
  rungs?: number;
  rung_width?: number;
  rung_height?: number;
  target_fps?: number;
  target_bitrate?: number | null;
  estimate_bps?: number | null;
  queue_ms?: number | null;
  rung_switches?: number;
  adapt_reason?: string | null;
  [key: string]: unknown;
}

export type ServerMessage = ConfigMessage | StatsMessage | { type: string; [key: string]: unknown };

export class ProtocolError extends Error {}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Split one binary message into its header and payload (the payload is a view, not a copy). */
export function unpackEnvelope(data: ArrayBuffer | Uint8Array): {
  header: Record<string, unknown>;
  payload: Uint8Array;
} {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength < 4) throw new ProtocolError("binary message shorter than 4 bytes");
  const n = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  if (bytes.byteLength < 4 + n) throw new ProtocolError(`header length ${n} exceeds message`);
  let header: unknown;
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(4, 4 + n)));
  } catch {
    throw new ProtocolError("header is not JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new ProtocolError("header is not a JSON object");
  }
  return { header: header as Record<string, unknown>, payload: bytes.subarray(4 + n) };
}

/** JSON exactly as Python's json.dumps(..., separators=(",", ":"), ensure_ascii=True). */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

/** Pack a header and payload the way the server does (used by tests and tools). */
export function packEnvelope(header: Record<string, unknown>, payload: Uint8Array): Uint8Array {
  const head = encoder.encode(asciiJson(header));
  const out = new Uint8Array(4 + head.byteLength + payload.byteLength);
  new DataView(out.buffer).setUint32(0, head.byteLength, true);
  out.set(head, 4);
  out.set(payload, 4 + head.byteLength);
  return out;
}

/** An audio_chunk header: one Opus packet of the program's sound. */
export interface AudioChunkHeader {
  type: "audio_chunk";
  seq: number;
  timestamp_us: number;
  duration_us: number;
  codec: string;
  sample_rate: number;
  channels: number;
}

export function isAudioHeader(h: Record<string, unknown>): h is AudioChunkHeader & Record<string, unknown> {
  return (
    h.type === "audio_chunk" &&
    Number.isFinite(h.seq) &&
    Number.isFinite(h.timestamp_us) &&
    (h.channels === 1 || h.channels === 2)
  );
}

export function isFrameHeader(h: Record<string, unknown>): h is FrameHeader & Record<string, unknown> {
  return (
    (h.type === "image_frame" || h.type === "video_chunk") &&
    // Finite numbers, not just numbers: JSON.parse reads 1e400 as Infinity, and an ack or a
    // layout computed from it would carry null/NaN (the server closes on a non-finite number).
    Number.isFinite(h.seq) &&
    Number.isFinite(h.width) &&
    Number.isFinite(h.height)
  );
}

export function parseServerText(text: string): ServerMessage {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    // Not the SyntaxError JSON.parse throws: bad input raises only the protocol's own error.
    throw new ProtocolError("control message is not JSON");
  }
  if (typeof msg !== "object" || msg === null || typeof (msg as { type?: unknown }).type !== "string") {
    throw new ProtocolError("control message without a type");
  }
  return msg as ServerMessage;
}

// -- client -> server -------------------------------------------------------------------

/** The server -> viewer messages this client understands (rfb additions; hello's features). */
export const FEATURES = ["messages", "cursor", "clipboard", "pointer_lock", "exact_still", "control", "presence", "files"];

/** The most an application message to the server may be, as JSON (the server's text
 * message limit is 64 KiB, and the event wraps it). */
export const MAX_APP_MESSAGE_BYTES = 60 * 1024;
/** Characters of pasted text in one clipboard event (rfb/protocol.py MAX_CLIPBOARD). */
export const MAX_CLIPBOARD = 60_000;

/** The hello feature of a client that plays the program's sound (audio_chunk messages). */
export const FEATURE_AUDIO = "audio";

export function hello(supported: string[], token?: string | null, audio = false): string {
  // scaled_frames: this client draws lower rungs at the frame's size (frame_width/height).
  const features = audio ? [...FEATURES, FEATURE_AUDIO] : FEATURES;
  const msg: Record<string, unknown> = { type: "hello", supported, device_pixel_ratio: 1, scaled_frames: true, features };
  if (token) msg.token = token;
  return JSON.stringify(msg);
}

/** `receivedMs`: when the frame arrived, on this client's clock; the server's path estimate
 * uses the spacing of arrivals (rfb addition). */
export function ack(seq: number, decodeQueueSize: number, displayed = true, receivedMs?: number): string {
  const msg: Record<string, unknown> = { type: "ack", seq, decode_queue_size: decodeQueueSize, displayed };
  if (receivedMs !== undefined) msg.received_ms = Math.round(receivedMs * 1000) / 1000;
  return JSON.stringify(msg);
}

/** An application message (`view.send`), as the event it arrives as in poll_events(). Throws
 * for what is not JSON or is over MAX_APP_MESSAGE_BYTES. */
export function appMessage(data: unknown, timestamp: number): string {
  // undefined, a function or a symbol would vanish from the JSON, and the server needs `data`.
  if (JSON.stringify(data) === undefined) throw new TypeError("view.send: the message is not JSON");
  const text = JSON.stringify({ type: "event", event: { type: "message", data, timestamp } });
  const size = encoder.encode(text).byteLength;
  if (size > MAX_APP_MESSAGE_BYTES) throw new RangeError(`view.send: message of ${size} bytes is over ${MAX_APP_MESSAGE_BYTES}`);
  return text;
}

export function requestKeyframe(reason: string): string {
  return JSON.stringify({ type: "request_keyframe", reason });
}

export function decoderReset(): string {
  return JSON.stringify({ type: "decoder_reset" });
}

export interface Viewport {
  width: number;
  height: number;
  pwidth: number;
  pheight: number;
  ratio: number;
}

export function setViewport(v: Viewport): string {
  return JSON.stringify({ type: "set_viewport", ...v });
}

/** An input event; `inputSeq` (rfb addition, click-to-photon): the page's number for it. */
export function event(ev: Record<string, unknown>, inputSeq?: number): string {
  return JSON.stringify(inputSeq === undefined ? { type: "event", event: ev } : { type: "event", event: ev, input_seq: inputSeq });
}

/** rfb addition (click-to-photon): input `inputSeq` took `ms` to show (photon.ts). */
export function inputPhoton(inputSeq: number, ms: number): string {
  return JSON.stringify({ type: "input_photon", input_seq: inputSeq, ms: Math.round(ms * 1000) / 1000 });
}

/** The server's `input_frame` note (WebRTC data channel, click-to-photon): the video frame
 * with this RTP timestamp first reflects input `seq`. Null for anything malformed. */
export function inputFrameOf(m: Record<string, unknown>): { rtp: number; seq: number } | null {
  const rtp = m.rtp_timestamp;
  const seq = m.input_seq;
  if (typeof rtp !== "number" || !Number.isInteger(rtp) || rtp < 0 || rtp >= 2 ** 32) return null;
  if (typeof seq !== "number" || !Number.isInteger(seq) || seq < 0) return null;
  return { rtp, seq };
}

/** WebRTC: the frame with this RTP timestamp was drawn (rfb addition). */
export function frameShown(rtpTimestamp: number, receivedMs?: number | null): string {
  const msg: Record<string, unknown> = { type: "frame_shown", rtp_timestamp: rtpTimestamp >>> 0 };
  if (typeof receivedMs === "number" && Number.isFinite(receivedMs)) msg.received_ms = Math.round(receivedMs * 1000) / 1000;
  return JSON.stringify(msg);
}
