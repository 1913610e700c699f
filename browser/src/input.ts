// DOM input -> renderview events. Pure functions over plain objects (testable in Node).

import { canvasToFrame, layout, type Fit } from "./geometry";

/** DOM MouseEvent.button -> renderview button: 1 left, 2 right, 3 middle, 4 back, 5 forward. */
export function mapButton(domButton: number): number {
  switch (domButton) {
    case 0:
      return 1;
    case 1:
      return 3;
    case 2:
      return 2;
    case 3:
      return 4;
    case 4:
      return 5;
    default:
      return 0;
  }
}

/** DOM MouseEvent.buttons bitmask -> sorted list of renderview buttons. */
export function mapButtons(mask: number): number[] {
  const out: number[] = [];
  if (mask & 1) out.push(1);
  if (mask & 2) out.push(2);
  if (mask & 4) out.push(3);
  if (mask & 8) out.push(4);
  if (mask & 16) out.push(5);
  return out;
}

export interface ModifierState {
  shiftKey: boolean;
  ctrlKey: boolean;
  altKey: boolean;
  metaKey: boolean;
}

export function modifiers(e: ModifierState): string[] {
  const out: string[] = [];
  if (e.shiftKey) out.push("Shift");
  if (e.ctrlKey) out.push("Control");
  if (e.altKey) out.push("Alt");
  if (e.metaKey) out.push("Meta");
  return out;
}

export const LINE_PIXELS = 16;

/** Wheel deltas in CSS pixels whatever the deltaMode (0 pixel, 1 line, 2 page). */
export function wheelPixels(
  deltaX: number,
  deltaY: number,
  deltaMode: number,
  pageW: number,
  pageH: number,
): { dx: number; dy: number } {
  if (deltaMode === 1) return { dx: deltaX * LINE_PIXELS, dy: deltaY * LINE_PIXELS };
  if (deltaMode === 2) return { dx: deltaX * pageW, dy: deltaY * pageH };
  return { dx: deltaX, dy: deltaY };
}

/** What the main thread sends the worker for one pointer or wheel event (CSS pixels). */
export interface PointerInput {
  kind: "pointer_move" | "pointer_down" | "pointer_up" | "double_click" | "wheel";
  cssX: number;
  cssY: number;
  button: number;
  buttons: number[];
  modifiers: string[];
  timestamp: number;
  dx?: number;
  dy?: number;
  /** Pointer lock: the motion since the last move, in CSS px (the position stays put). */
  locked?: boolean;
  moveX?: number;
  moveY?: number;
  /** PointerEvent's: which pointer (each finger its own), its kind, pressure and tilt. */
  pointerId?: number;
  pointerType?: string;
  pressure?: number;
  tiltX?: number;
  tiltY?: number;
}

/** The pointer kinds the server accepts (rfb/protocol.py POINTER_TYPES). */
export const POINTER_TYPES = ["mouse", "touch", "pen"] as const;

export interface KeyInput {
  kind: "key_down" | "key_up";
  key: string;
  code: string;
  modifiers: string[];
  timestamp: number;
}

/** Text the viewer typed, composed (IME, dead keys) or pasted: renderview's `char`. */
export interface TextInput {
  kind: "char";
  data: string;
  modifiers: string[];
  timestamp: number;
}

/**
 * Coalesces pointer moves: between flushes only the newest move of each pointer is kept
 * (two fingers are two pointers), so a fast mouse costs one message per animation frame.
 * Any other event flushes the pending moves first, in the order they first came, so
 * order is kept.
 */
export class MoveCoalescer<T> {
  private readonly pending = new Map<number, T>();
  /** `merge(older, newer)`: what replaces a pending move (default: the newer one). */
  constructor(
    private readonly emit: (item: T) => void,
    private readonly merge: (older: T, newer: T) => T = (_older, newer) => newer,
  ) {}

  move(item: T, pointer = 0): void {
    const older = this.pending.get(pointer);
    this.pending.set(pointer, older === undefined ? item : this.merge(older, item)); // Map keeps the first insertion's place
  }

  other(item: T): void {
    this.flush();
    this.emit(item);
  }

  flush(): void {
    const items = [...this.pending.values()];
    this.pending.clear();
    for (const p of items) this.emit(p);
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }
}

/** Two moves as one: the newer, with locked (relative) motion added up, so coalescing
 * loses no distance while the pointer is locked. */
export function mergeMoves(older: PointerInput, newer: PointerInput): PointerInput {
  if (!(older.locked && newer.locked)) return newer;
  return { ...newer, moveX: (older.moveX ?? 0) + (newer.moveX ?? 0), moveY: (older.moveY ?? 0) + (newer.moveY ?? 0) };
}

/** Pasted text as one clipboard event can carry it: at most `maxPoints` code points and
 * about `maxBytes` of JSON (UTF-8, escapes counted), cut at a code point. */
export function clipboardText(text: string, maxPoints: number, maxBytes: number): string {
  let bytes = 0;
  let points = 0;
  let end = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    const size = cp === 0x22 || cp === 0x5c ? 2 : cp < 0x20 ? 6 : cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (points + 1 > maxPoints || bytes + size > maxBytes) break;
    bytes += size;
    points += 1;
    end += ch.length;
  }
  return text.slice(0, end);
}

/** Keys whose default action would leave the stream or move the page: focus moves (Tab),
 * editing and navigation keys. Printable keys, dead keys and IME keys keep their default,
 * so the hidden text field turns them into text (`char`). */
const CAPTURED_KEYS = new Set([
  "Tab", "Backspace", "Delete", "Enter", "Escape", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight",
  "Home", "End", "PageUp", "PageDown", "Insert", "F1", "F3", "F6", "F7", "ContextMenu",
]); // prettier-ignore

/** Whether the page must not act on this key while the view has focus. */
export function shouldPreventKey(e: { key: string; ctrlKey: boolean; metaKey: boolean; isComposing?: boolean }): boolean {
  // Leave browser shortcuts (Ctrl/Cmd + key) and IME composition alone.
  if (e.ctrlKey || e.metaKey || e.isComposing) return false;
  return CAPTURED_KEYS.has(e.key);
}

/** What the worker knows of the view when it maps a pointer event to frame pixels. */
export interface PointerGeometry {
  /** The canvas's CSS size and its backing size (device pixels). */
  cssWidth: number;
  cssHeight: number;
  canvasWidth: number;
  canvasHeight: number;
  /** Backing pixels per CSS pixel (sent as `pixel_ratio`). */
  ratio: number;
  /** The frame's size (0 before the first config or frame). */
  frameW: number;
  frameH: number;
  fit: Fit;
}

/** The server's limits on an input event (rfb/protocol.py validate_input_event): a number
 * out of these ranges or not finite, or a string over MAX_STRING characters, closes the
 * connection (1008). */
export const MAX_COORD = 4 * 16384;
export const MAX_WHEEL = 1e7;
export const MIN_PIXEL_RATIO = 0.01;
export const MAX_PIXEL_RATIO = 100;
export const MAX_STRING = 256;
export const MAX_POINTER_ID = 2 ** 31 - 1;

/**
 * One pointer or wheel input as the renderview event sent to the server: `x`/`y` in frame
 * pixels, mapped through the fit mode and the device-pixel ratio.
 *
 * Every number is finite and within what the server accepts, whatever the view. A
 * zero-sized canvas maps a point to +-Infinity or NaN (sent as JSON null), and a drag
 * captured far outside a small view lands beyond MAX_COORD; either one made the server close
 * the viewer's connection. So `x`/`y` are clamped to +-MAX_COORD (NaN: 0, `inside` false),
 * `dx`/`dy` to +-MAX_WHEEL (NaN: 0), and `pixel_ratio` to [0.01, 100], left out (the
 * server's default, 1) when it is not a finite positive number.
 */
export function pointerEvent(input: PointerInput, g: PointerGeometry): Record<string, unknown> {
  const sx = g.cssWidth > 0 ? g.canvasWidth / g.cssWidth : 1;
  const sy = g.cssHeight > 0 ? g.canvasHeight / g.cssHeight : 1;
  const l = layout(g.frameW, g.frameH, g.canvasWidth, g.canvasHeight, g.fit);
  const p = canvasToFrame(input.cssX * sx, input.cssY * sy, g.frameW || 1, g.frameH || 1, l);
  const ev: Record<string, unknown> = {
    type: input.kind,
    x: round3(clamp(p.x, MAX_COORD)),
    y: round3(clamp(p.y, MAX_COORD)),
    inside: p.inside, // false for NaN: every comparison with it is
    pixel_ratio: Math.min(MAX_PIXEL_RATIO, Math.max(MIN_PIXEL_RATIO, g.ratio)),
    button: input.button,
    buttons: input.buttons,
    modifiers: input.modifiers,
    timestamp: input.timestamp,
  };
  if (!(g.ratio > 0 && Number.isFinite(g.ratio))) delete ev.pixel_ratio;
  if (input.pointerId !== undefined && Number.isSafeInteger(input.pointerId) && input.pointerId >= 0) {
    ev.pointer_id = Math.min(input.pointerId, MAX_POINTER_ID);
  }
  if (input.pointerType !== undefined) {
    // A kind the server does not know (a future one) is sent as the nearest it does.
    ev.pointer_type = (POINTER_TYPES as readonly string[]).includes(input.pointerType) ? input.pointerType : "mouse";
  }
  if (input.pressure !== undefined && Number.isFinite(input.pressure)) ev.pressure = Math.min(1, Math.max(0, input.pressure));
  if (input.pointerType === "pen") {
    if (input.tiltX !== undefined && Number.isFinite(input.tiltX)) ev.tilt_x = Math.min(90, Math.max(-90, input.tiltX));
    if (input.tiltY !== undefined && Number.isFinite(input.tiltY)) ev.tilt_y = Math.min(90, Math.max(-90, input.tiltY));
  }
  if (input.kind === "pointer_move" && input.locked) {
    ev.locked = true;
    ev.dx = clamp(input.moveX ?? 0, MAX_WHEEL);
    ev.dy = clamp(input.moveY ?? 0, MAX_WHEEL);
  }
  if (input.kind === "wheel") {
    ev.dx = clamp(input.dx ?? 0, MAX_WHEEL);
    ev.dy = clamp(input.dy ?? 0, MAX_WHEEL);
    delete ev.button;
  }
  return ev;
}

/** One key input as the renderview event sent to the server, or null for a key no browser
 * sends (over MAX_STRING characters: the server would close the connection for it). */
export function keyEvent(input: KeyInput): Record<string, unknown> | null {
  if (tooLong(input.key)) return null;
  const ev: Record<string, unknown> = { type: input.kind, key: input.key, code: input.code, modifiers: input.modifiers, timestamp: input.timestamp };
  if (tooLong(input.code)) delete ev.code; // optional
  return ev;
}

/** One text input as `char` events: at most MAX_STRING code points each (a long paste
 * becomes several, in order; a surrogate pair is never split), none for empty text. */
export function charEvents(input: TextInput): Record<string, unknown>[] {
  const points = Array.from(input.data);
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < points.length && out.length < MAX_CHAR_EVENTS; i += MAX_STRING) {
    out.push({ type: "char", data: points.slice(i, i + MAX_STRING).join(""), modifiers: input.modifiers, timestamp: input.timestamp });
  }
  return out;
}

/** At most this many `char` events for one paste (64 KiB of text at most): a bigger
 * paste is cut there rather than flooding the input rate limit. */
export const MAX_CHAR_EVENTS = 256;

/** Over MAX_STRING code points, as the server (Python len()) counts them. */
function tooLong(s: string): boolean {
  return s.length > MAX_STRING && Array.from(s).length > MAX_STRING;
}

/** `v` within +-limit; NaN becomes 0. */
function clamp(v: number, limit: number): number {
  return Number.isNaN(v) ? 0 : Math.min(limit, Math.max(-limit, v));
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
