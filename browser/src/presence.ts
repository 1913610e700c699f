// The control floor and presence, as the server tells them (rfb additions: `control`,
// `viewers`, `pointers`) and as this viewer asks (`request_control`, `release_control`,
// `give_control`, `presence`). Pure: normalisers that turn whatever arrives into checked
// values (or null), the client-side floor check, and the 15 Hz pointer pacing.

/** Who holds the stream's control floor. */
export interface ControlInfo {
  /** "shared": every viewer that may drive does; "exclusive": one at a time. */
  mode: "shared" | "exclusive";
  /** The client id of the viewer holding it; null: nobody, or the application (`app`). */
  holder: string | null;
  app: boolean;
  /** The holder's display name, where its principal has one. */
  name: string | null;
  /** Client ids waiting for it, first in line first. */
  waiting: string[];
  /** Why it last changed: "request", "idle", "released", "handed", "app", "first_click", "left", "taken". */
  reason: string | null;
  /** Sent to this viewer alone: why its request was refused ("view_only", "not_holder", ...). */
  refused: string | null;
}

/** One viewer of the stream. */
export interface ViewerEntry {
  clientId: string;
  name: string | null;
  transport: string;
  role: "drive" | "view";
  /** Holds the floor (on a shared stream: drives). */
  control: boolean;
}

/** Another viewer's pointer, in frame pixels. */
export interface PointerEntry {
  clientId: string;
  x: number;
  y: number;
  inside: boolean;
}

export const MAX_VIEWERS_LISTED = 256;
export const MAX_NAME = 64;
/** Pointer positions sent at most this often (the server sends them on no faster). */
export const PRESENCE_HZ = 15;

const str = (v: unknown, max = MAX_NAME): string | null => (typeof v === "string" ? v.slice(0, max) : null);

export function controlInfo(m: Record<string, unknown>): ControlInfo | null {
  if (m.mode !== "shared" && m.mode !== "exclusive") return null;
  const waiting = Array.isArray(m.waiting) ? m.waiting.filter((w): w is string => typeof w === "string").slice(0, MAX_VIEWERS_LISTED) : [];
  return {
    mode: m.mode,
    holder: str(m.holder),
    app: m.app === true,
    name: str(m.name),
    waiting,
    reason: str(m.reason),
    refused: str(m.refused),
  };
}

export function viewerList(m: Record<string, unknown>): { viewers: ViewerEntry[]; pointers: boolean } | null {
  if (!Array.isArray(m.viewers)) return null;
  const viewers: ViewerEntry[] = [];
  for (const v of m.viewers.slice(0, MAX_VIEWERS_LISTED)) {
    if (typeof v !== "object" || v === null) continue;
    const r = v as Record<string, unknown>;
    const clientId = str(r.client_id);
    if (clientId === null) continue;
    viewers.push({
      clientId,
      name: str(r.name),
      transport: str(r.transport) ?? "",
      role: r.role === "view" ? "view" : "drive",
      control: r.control === true,
    });
  }
  return { viewers, pointers: m.pointers === true };
}

export function pointerList(m: Record<string, unknown>): PointerEntry[] {
  if (!Array.isArray(m.pointers)) return [];
  const out: PointerEntry[] = [];
  for (const p of m.pointers.slice(0, MAX_VIEWERS_LISTED)) {
    if (!Array.isArray(p) || p.length < 3) continue;
    const [id, x, y, inside] = p as unknown[];
    if (typeof id !== "string" || !Number.isFinite(x) || !Number.isFinite(y)) continue;
    out.push({ clientId: id.slice(0, MAX_NAME), x: x as number, y: y as number, inside: inside !== false });
  }
  return out;
}

/** Whether this viewer's input of `kind` is worth sending: the floor is shared, it holds
 * it, or (a click) the floor is free and the stream may give it on a first click. The
 * server decides; this only spares the link what it would drop. */
export function mayDrive(ctrl: ControlInfo | null, me: string | null, kind: string): boolean {
  if (ctrl === null || ctrl.mode === "shared") return true;
  // A release always goes: the server lets through those of presses the application saw.
  if (kind === "pointer_up" || kind === "key_up") return true;
  if (me !== null && ctrl.holder === me) return true;
  return ctrl.holder === null && !ctrl.app && kind === "pointer_down";
}

/** What the view shows of the floor: "" on a shared stream. */
export function controlLabel(ctrl: ControlInfo | null, me: string | null): string {
  if (ctrl === null || ctrl.mode === "shared") return "";
  if (ctrl.app) return "The application has control";
  if (ctrl.holder === null) return "Nobody has control";
  if (ctrl.holder === me) return "You have control";
  return `${ctrl.name ?? ctrl.holder} has control`;
}

/** A colour per viewer, the same on every page. */
export function viewerColour(clientId: string): string {
  let h = 0;
  for (let i = 0; i < clientId.length; i++) h = (h * 31 + clientId.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360} 80% 45%)`;
}

/** Paces one value at most `hz` times a second: `offer` keeps the newest; `take(now)`
 * returns it once its time has come; `dueIn(now)`: ms until then (null: nothing waits). */
export class Pacer<T> {
  private pending: T | null = null;
  private last = -Infinity;
  private readonly periodMs: number;

  constructor(hz: number = PRESENCE_HZ) {
    this.periodMs = 1000 / hz;
  }

  offer(value: T): void {
    this.pending = value;
  }

  dueIn(now: number): number | null {
    if (this.pending === null) return null;
    return Math.max(0, this.last + this.periodMs - now);
  }

  take(now: number): T | null {
    const due = this.dueIn(now);
    if (due === null || due > 0) return null;
    const value = this.pending;
    this.pending = null;
    this.last = now;
    return value;
  }
}

export function requestControl(): string {
  return JSON.stringify({ type: "request_control" });
}

export function releaseControl(): string {
  return JSON.stringify({ type: "release_control" });
}

export function giveControl(clientId: string): string {
  return JSON.stringify({ type: "give_control", client_id: clientId });
}

export function presencePointer(x: number, y: number, inside: boolean): string {
  const msg: Record<string, unknown> = { type: "presence", x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10 };
  if (!inside) msg.inside = false;
  return JSON.stringify(msg);
}
