// Files both ways (rfb addition), the pure pieces: the messages, the upload's pacing (a
// window of unacknowledged bytes, and the link's own send buffer), and the download's
// assembly (chunks in order, never past the size offered). The worker drives them
// (worker/files.ts); the view shows and saves (view-files.ts).
// See docs/internals/protocol.md ("Files").

import { packEnvelope } from "./protocol";

/** Payload bytes of one file chunk (rfb/protocol.py FILE_CHUNK_MAX): its envelope fits 64 KiB. */
export const FILE_CHUNK = 60 * 1024;
/** Bytes sent and not yet acknowledged (rfb/protocol.py FILE_WINDOW), unless the server says. */
export const FILE_WINDOW = 4 * FILE_CHUNK;
/** An upload waits while the WebSocket has more than this queued: the video's acks and
 * input go first. */
export const MAX_BUFFERED = 2 * FILE_CHUNK;
export const MAX_FILE_NAME = 255;
export const MAX_MIME = 127;
const MAX_FILE_ID = 2 ** 31 - 1;

/** What an upload is doing, as the view reports it (`onUpload`). */
export interface UploadStatus {
  id: number;
  name: string;
  size: number;
  /** offered: waiting for the server; sending; done: the application has it; refused; failed. */
  state: "offered" | "sending" | "done" | "refused" | "failed";
  /** Bytes the server has taken. */
  received: number;
  /** Why it was refused or failed (the server's reason: "too_big", "view_only", ...). */
  reason?: string;
  /** A sentence for the user. */
  message?: string;
}

/** A file the application sent (`display.send_file`). */
export interface ReceivedFile {
  name: string;
  mime: string;
  size: number;
  data: Blob;
}

/** A file name the server takes: at most 255 characters, no directory part. */
export function cleanName(name: string): string {
  const base = name.replace(/\\/g, "/").split("/").pop() ?? "";
  // eslint-disable-next-line no-control-regex
  const clean = Array.from(base.replace(/[\u0000-\u001f\u007f]/g, "").replace(/[\ud800-\udfff]/g, "")).slice(0, MAX_FILE_NAME).join("");
  return clean.trim() || "upload";
}

export function fileOffer(id: number, name: string, size: number, mime: string): string {
  return JSON.stringify({ type: "file_offer", id, name: cleanName(name), size, mime: mime.slice(0, MAX_MIME) });
}

export function fileCancel(id: number, download = false): string {
  return JSON.stringify(download ? { type: "file_cancel", id, download: true } : { type: "file_cancel", id });
}

export function fileAck(id: number, received: number): string {
  return JSON.stringify({ type: "file_ack", id, received });
}

/** One binary file chunk: the frame envelope with a `file_chunk` header. */
export function packFileChunk(id: number, offset: number, data: Uint8Array): Uint8Array {
  return packEnvelope({ type: "file_chunk", id, offset }, data);
}

/** Upload ids, 1 … 2^31 - 1, wrapping. */
export class IdSource {
  private n = 0;
  next(): number {
    this.n = this.n >= MAX_FILE_ID ? 1 : this.n + 1;
    return this.n;
  }
}

/** The next chunks of one upload: at most `window` bytes ahead of the server's acks, and
 * none while the link already buffers more than `maxBuffered`. */
export class UploadPacer {
  sent = 0;
  acked = 0;

  constructor(
    readonly size: number,
    public window = FILE_WINDOW,
    public chunk = FILE_CHUNK,
    readonly maxBuffered = MAX_BUFFERED,
  ) {}

  /** Where the next chunk is and how long, or null: all sent, the window is full, or the
   * link's buffer (`buffered` bytes) is. */
  next(buffered = 0): { offset: number; length: number } | null {
    if (this.sent >= this.size || this.sent - this.acked >= this.window || buffered > this.maxBuffered) return null;
    const length = Math.min(this.chunk, this.size - this.sent);
    const offset = this.sent;
    this.sent += length;
    return { offset, length };
  }

  /** The server took `received` bytes (acks never go back, nor past what was sent). */
  ack(received: number): void {
    if (Number.isFinite(received) && received > this.acked) this.acked = Math.min(received, this.sent);
  }

  get blockedByWindow(): boolean {
    return this.sent < this.size && this.sent - this.acked >= this.window;
  }

  get allSent(): boolean {
    return this.sent >= this.size;
  }
}

/** A file_offer from the server, checked; null for what is not one. */
export function parseFileOffer(m: Record<string, unknown>): { id: number; name: string; size: number; mime: string } | null {
  const { id, name, size, mime } = m;
  if (m.type !== "file_offer" || !Number.isSafeInteger(id) || (id as number) < 0) return null;
  if (!Number.isSafeInteger(size) || (size as number) < 0 || typeof name !== "string") return null;
  return { id: id as number, name: cleanName(name), size: size as number, mime: typeof mime === "string" ? mime : "application/octet-stream" };
}

/** A file the server sends, gathered chunk by chunk: each must start where the last one
 * ended and stay within the size offered. The parts are kept as they came (no copy) and
 * become one Blob at the end. */
export class DownloadAssembler {
  received = 0;
  private parts: Uint8Array[] = [];

  constructor(
    readonly id: number,
    readonly name: string,
    readonly size: number,
    readonly mime: string,
  ) {}

  /** One chunk; false (and nothing kept) for one out of order or past the size. */
  push(offset: number, data: Uint8Array): boolean {
    if (offset !== this.received || this.received + data.byteLength > this.size) return false;
    this.parts.push(data);
    this.received += data.byteLength;
    return true;
  }

  get complete(): boolean {
    return this.received === this.size;
  }

  /** The whole file (once complete). */
  file(): ReceivedFile {
    const data = new Blob(this.parts as BlobPart[], { type: this.mime });
    this.parts = [];
    return { name: this.name, mime: this.mime, size: this.size, data };
  }
}

/** What to tell the user about an upload the server refused or that failed. */
export function uploadMessage(name: string, state: UploadStatus["state"], reason?: string, maxBytes?: number): string {
  const limit = typeof maxBytes === "number" ? ` (the limit is ${formatBytes(maxBytes)})` : "";
  if (state === "done") return `${name} uploaded`;
  if (state === "refused") {
    switch (reason) {
      case "too_big":
        return `${name} is too big to upload${limit}`;
      case "view_only":
        return `${name} not uploaded: this view may only watch`;
      case "control":
        return `${name} not uploaded: another viewer has control`;
      case "disabled":
        return `${name} not uploaded: this stream does not accept files`;
      case "busy":
        return `${name} not uploaded: too many uploads at once`;
      default:
        return `${name} not uploaded: refused by the application`;
    }
  }
  if (state === "failed") return `${name} upload failed${reason ? ` (${reason})` : ""}`;
  return `uploading ${name}`;
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(n % (1024 * 1024) ? 1 : 0)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(n % 1024 ? 1 : 0)} KiB`;
  return `${n} bytes`;
}
