// Files both ways in the worker, which owns the link: uploads (the view hands over a File,
// which the worker reads slice by slice and sends as file chunks, paced by the server's
// acks and the WebSocket's buffer) and downloads (file_offer, then chunks, acked as they
// come, handed to the view as a Blob). The pure parts are ../files.ts.

import {
  DownloadAssembler,
  fileAck,
  fileCancel,
  fileOffer,
  packFileChunk,
  parseFileOffer,
  uploadMessage,
  UploadPacer,
  type UploadStatus,
} from "../files";
import type { FromWorker } from "../messages";

export interface FileHooks {
  sendText(text: string): void;
  sendBinary(data: Uint8Array): void;
  /** Bytes the link buffers, not yet sent (the WebSocket's bufferedAmount; 0 where unknown). */
  buffered(): number;
  post(msg: FromWorker, transfer?: Transferable[]): void;
}

interface Upload {
  id: number;
  name: string;
  file: Blob;
  pacer: UploadPacer;
  state: UploadStatus["state"];
  pumping: boolean;
  timer: ReturnType<typeof setTimeout> | null;
  /** The file read ahead in blocks (one read per READ_BLOCK, not per chunk). */
  block: Uint8Array | null;
  blockAt: number;
  /** When progress was last posted to the view. */
  postedAt: number;
}

const POLL_MS = 10; // an upload held back by the link's buffer looks again after this
const READ_BLOCK = 1024 * 1024; // the file is read in blocks this big (each read is an IPC)
const PROGRESS_MS = 200; // progress goes to the view at most this often

export class WorkerFiles {
  private readonly uploads = new Map<number, Upload>();
  private download: DownloadAssembler | null = null;

  constructor(private readonly hooks: FileHooks) {}

  /** The view asks to upload `file` as `name` (its id is the view's). */
  upload(id: number, file: Blob, name: string, mime: string, connected = true): void {
    const up: Upload = { id, name, file, pacer: new UploadPacer(file.size), state: "offered", pumping: false, timer: null, block: null, blockAt: 0, postedAt: 0 };
    if (!connected) {
      this.end(up, "failed", "not connected");
      return;
    }
    this.uploads.set(id, up);
    this.status(up);
    this.hooks.sendText(fileOffer(id, name, file.size, mime));
  }

  cancel(id: number): void {
    const up = this.uploads.get(id);
    if (!up) return;
    this.hooks.sendText(fileCancel(id));
    this.end(up, "failed", "cancelled");
  }

  /** A control message: true when it was about files. */
  onNotice(m: Record<string, unknown>): boolean {
    if (m.type === "file_status") {
      const up = typeof m.id === "number" ? this.uploads.get(m.id) : undefined;
      if (up) this.onStatus(up, m);
      return true;
    }
    if (m.type === "file_offer") {
      const offer = parseFileOffer(m);
      if (!offer) return true;
      this.download = new DownloadAssembler(offer.id, offer.name, offer.size, offer.mime);
      if (offer.size === 0) this.finishDownload();
      return true;
    }
    return false;
  }

  /** A binary file_chunk from the server (its envelope's header and payload). */
  onChunk(header: Record<string, unknown>, payload: Uint8Array): void {
    const d = this.download;
    if (!d || header.id !== d.id || typeof header.offset !== "number") return;
    // The payload is a view into the message: keep a copy of just the chunk.
    if (!d.push(header.offset, payload.slice())) {
      this.hooks.sendText(fileCancel(d.id, true));
      this.download = null;
      this.hooks.post({ type: "error", message: `download of ${d.name} broke off (chunk out of order)` });
      return;
    }
    this.hooks.sendText(fileAck(d.id, d.received));
    if (d.complete) this.finishDownload();
  }

  /** The link dropped: uploads in progress failed, a download half-way is gone. */
  reset(reason: string): void {
    for (const up of [...this.uploads.values()]) this.end(up, "failed", reason);
    this.download = null;
  }

  private finishDownload(): void {
    const d = this.download;
    if (!d) return;
    this.download = null;
    this.hooks.post({ type: "file", file: d.file() });
  }

  private onStatus(up: Upload, m: Record<string, unknown>): void {
    const received = typeof m.received === "number" ? m.received : up.pacer.acked;
    switch (m.status) {
      case "accepted":
        if (typeof m.window === "number" && m.window > 0) up.pacer.window = m.window;
        if (typeof m.chunk === "number" && m.chunk > 0) up.pacer.chunk = Math.min(up.pacer.chunk, m.chunk);
        up.state = "sending";
        this.status(up);
        void this.pump(up);
        break;
      case "progress":
        up.pacer.ack(received);
        if (performance.now() - up.postedAt >= PROGRESS_MS) {
          up.postedAt = performance.now();
          this.status(up);
        }
        void this.pump(up);
        break;
      case "done":
        up.pacer.ack(received);
        this.end(up, "done");
        break;
      case "refused":
        this.end(up, "refused", String(m.reason ?? ""), typeof m.max_bytes === "number" ? m.max_bytes : undefined);
        break;
      case "failed":
        this.end(up, "failed", String(m.reason ?? ""));
        break;
    }
  }

  /** Send what the window and the link's buffer allow. One pump per upload at a time. */
  private async pump(up: Upload): Promise<void> {
    if (up.pumping) return;
    up.pumping = true;
    try {
      while (up.state === "sending") {
        const next = up.pacer.next(this.hooks.buffered());
        if (!next) {
          // The window waits for an ack (which calls pump again); the buffer drains by itself.
          if (!up.pacer.allSent && !up.pacer.blockedByWindow) this.later(up);
          return;
        }
        const bytes = await this.read(up, next.offset, next.length);
        if (up.state !== "sending") return;
        this.hooks.sendBinary(packFileChunk(up.id, next.offset, bytes));
      }
    } catch (err) {
      this.hooks.sendText(fileCancel(up.id));
      this.end(up, "failed", `cannot read the file: ${err}`);
    } finally {
      up.pumping = false;
    }
  }

  /** `length` bytes at `offset`, from the block read ahead (reading the next when needed). */
  private async read(up: Upload, offset: number, length: number): Promise<Uint8Array> {
    const b = up.block;
    if (!b || offset < up.blockAt || offset + length > up.blockAt + b.byteLength) {
      const end = Math.min(up.file.size, offset + Math.max(length, READ_BLOCK));
      up.block = new Uint8Array(await up.file.slice(offset, end).arrayBuffer());
      up.blockAt = offset;
    }
    return up.block!.subarray(offset - up.blockAt, offset - up.blockAt + length);
  }

  private later(up: Upload): void {
    if (up.timer !== null) return;
    up.timer = setTimeout(() => {
      up.timer = null;
      void this.pump(up);
    }, POLL_MS);
  }

  private end(up: Upload, state: UploadStatus["state"], reason?: string, maxBytes?: number): void {
    up.state = state;
    up.block = null;
    if (up.timer !== null) clearTimeout(up.timer);
    this.uploads.delete(up.id);
    this.status(up, reason, uploadMessage(up.name, state, reason, maxBytes));
  }

  private status(up: Upload, reason?: string, message?: string): void {
    const status: UploadStatus = { id: up.id, name: up.name, size: up.file.size, state: up.state, received: up.pacer.acked };
    if (reason) status.reason = reason;
    if (message) status.message = message;
    this.hooks.post({ type: "upload-status", status });
  }
}
