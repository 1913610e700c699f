// Files both ways on the main thread: files dropped on the view (or given to
// view.upload()) go to the worker, which sends them; what became of each upload is shown
// over the view and told to `onUpload`; a file the application sends is handed to `onFile`
// and, unless that returns false, saved (a blob: URL and an <a download>).

import { cleanName, IdSource, type ReceivedFile, type UploadStatus } from "./files";
import type { ToWorker } from "./messages";

export interface ViewFilesOptions {
  post(msg: ToWorker): void;
  /** Files dropped on the canvas are uploaded. */
  drop: boolean;
  /** Save files the application sends (unless onFile returns false). */
  save: boolean;
  onFile?: (file: ReceivedFile) => boolean | void;
  onUpload?: (status: UploadStatus) => void;
}

const TOAST_MS = 4000;

export class ViewFiles {
  private readonly ids = new IdSource();
  private readonly pending = new Map<number, { resolve: (s: UploadStatus) => void; reject: (e: Error) => void }>();
  private readonly toast: HTMLDivElement;
  private toastTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly cleanups: (() => void)[] = [];

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly opts: ViewFilesOptions,
  ) {
    const toast = (this.toast = document.createElement("div"));
    toast.className = "rfb-file-message";
    toast.setAttribute("role", "status");
    toast.style.cssText =
      "position:absolute;display:none;max-width:80%;padding:6px 10px;border-radius:6px;z-index:2;" +
      "background:rgba(0,0,0,.75);color:#fff;font:13px system-ui,sans-serif;pointer-events:none;" +
      "transform:translateX(-50%)";
    if (opts.drop) {
      const over = (e: DragEvent) => {
        if (!e.dataTransfer || ![...e.dataTransfer.types].includes("Files")) return;
        e.preventDefault(); // a drop target: the browser must not open the file itself
        e.dataTransfer.dropEffect = "copy";
      };
      const drop = (e: DragEvent) => {
        const files = e.dataTransfer?.files;
        if (!files || files.length === 0) return;
        e.preventDefault();
        for (const f of Array.from(files)) this.upload(f).catch(() => undefined);
      };
      canvas.addEventListener("dragover", over);
      canvas.addEventListener("drop", drop);
      this.cleanups.push(() => {
        canvas.removeEventListener("dragover", over);
        canvas.removeEventListener("drop", drop);
      });
    }
  }

  /** Upload `file`; resolves once the application has it, rejects (with the message the
   * view shows) when it is refused or fails. */
  upload(file: Blob, name?: string): Promise<UploadStatus> {
    const id = this.ids.next();
    const fileName = cleanName(name ?? (file as File).name ?? "upload");
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.opts.post({ type: "upload", id, file, name: fileName, mime: file.type || "application/octet-stream" });
    });
  }

  /** Stop an upload of this view's (its id, as in UploadStatus). */
  cancel(id: number): void {
    this.opts.post({ type: "upload-cancel", id });
  }

  onStatus(status: UploadStatus): void {
    try {
      this.opts.onUpload?.(status);
    } catch (err) {
      console.error("rfb: onUpload callback failed", err);
    }
    if (status.state === "offered" || status.state === "sending") {
      if (status.state === "sending") this.show(`uploading ${status.name}: ${percent(status)}`, false);
      return;
    }
    this.show(status.message ?? `${status.name}: ${status.state}`, true);
    const p = this.pending.get(status.id);
    this.pending.delete(status.id);
    if (!p) return;
    if (status.state === "done") p.resolve(status);
    else p.reject(Object.assign(new Error(status.message ?? status.state), { status }));
  }

  onFile(file: ReceivedFile): void {
    let keep = true;
    try {
      keep = this.opts.onFile?.(file) !== false;
    } catch (err) {
      console.error("rfb: onFile callback failed", err);
    }
    if (keep && this.opts.save) saveFile(file);
  }

  /** Put the message box over the bottom of the canvas. */
  private show(text: string, fade: boolean): void {
    const c = this.canvas;
    if (c.parentElement && this.toast.parentElement !== c.parentElement) c.after(this.toast);
    const s = this.toast.style;
    s.left = `${c.offsetLeft + c.offsetWidth / 2}px`;
    s.top = `${c.offsetTop + Math.max(0, c.offsetHeight - 48)}px`;
    s.display = "block";
    this.toast.textContent = text;
    if (this.toastTimer) clearTimeout(this.toastTimer);
    this.toastTimer = fade ? setTimeout(() => (s.display = "none"), TOAST_MS) : null;
  }

  /** The message shown now ("" when none). */
  get message(): string {
    return this.toast.style.display === "none" ? "" : (this.toast.textContent ?? "");
  }

  dispose(): void {
    for (const c of this.cleanups) c();
    if (this.toastTimer) clearTimeout(this.toastTimer);
    this.toast.remove();
    for (const p of this.pending.values()) p.reject(new Error("disposed"));
    this.pending.clear();
  }
}

function percent(s: UploadStatus): string {
  return s.size ? `${Math.floor((100 * s.received) / s.size)}%` : "0%";
}

/** Save a file the way a download link does. */
export function saveFile(file: ReceivedFile): void {
  const url = URL.createObjectURL(file.data);
  const a = document.createElement("a");
  a.href = url;
  a.download = file.name;
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
