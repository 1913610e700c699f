// Gamepads -> `gamepad` input events. Pure: what the Gamepad API reports (plain objects)
// in, the events to send out; view-gamepad.ts reads navigator.getGamepads() once per
// animation frame and posts what GamepadTracker returns.

/** The server's bounds (rfb/protocol.py: MAX_GAMEPADS, MAX_GAMEPAD_BUTTONS,
 * MAX_GAMEPAD_AXES): a pad past them, or a value out of range, closes the connection. */
export const MAX_GAMEPADS = 4;
export const MAX_GAMEPAD_BUTTONS = 32;
export const MAX_GAMEPAD_AXES = 16;
export const MAX_GAMEPAD_ID = 256;
export const MAX_GAMEPAD_MAPPING = 32;

/** An axis or a button's value counts as changed when it moved by at least this much since
 * the state last sent (a resting stick jitters by about 0.01), or when it reached exactly
 * 0, 1 or -1 (a stick let go, a trigger fully pressed or released). */
export const GAMEPAD_EPSILON = 0.02;

/** The part of the DOM Gamepad this module reads. */
export interface GamepadLike {
  index: number;
  id: string;
  mapping: string;
  connected: boolean;
  buttons: readonly { pressed: boolean; touched?: boolean; value: number }[];
  axes: readonly number[];
}

export interface PadButton {
  pressed: boolean;
  value: number;
  touched?: boolean;
}

/** One pad's state as sent (without `type` and `timestamp`). */
export interface PadState {
  index: number;
  id: string;
  mapping: string;
  connected: boolean;
  buttons: PadButton[];
  axes: number[];
}

/** A pad the server can take, or null (an index out of 0..3, not connected). Values are
 * clamped (button values to 0..1, axes to -1..1; NaN: 0), rounded to 1/10000, and
 * the lists cut to the server's bounds. */
export function normalizePad(pad: GamepadLike | null | undefined): PadState | null {
  if (!pad || !pad.connected) return null;
  if (!Number.isInteger(pad.index) || pad.index < 0 || pad.index >= MAX_GAMEPADS) return null;
  const buttons: PadButton[] = [];
  for (const b of Array.from(pad.buttons ?? []).slice(0, MAX_GAMEPAD_BUTTONS)) {
    const out: PadButton = { pressed: b?.pressed === true, value: round4(clamp(Number(b?.value), 0, 1)) };
    if (b?.touched === true) out.touched = true;
    buttons.push(out);
  }
  const axes = Array.from(pad.axes ?? [])
    .slice(0, MAX_GAMEPAD_AXES)
    .map((a) => round4(clamp(Number(a), -1, 1)));
  return {
    index: pad.index,
    id: cut(String(pad.id ?? ""), MAX_GAMEPAD_ID),
    mapping: cut(String(pad.mapping ?? ""), MAX_GAMEPAD_MAPPING),
    connected: true,
    buttons,
    axes,
  };
}

/** Whether `next` differs from `prev` (the state last sent) enough to be sent. */
export function padChanged(prev: PadState | null, next: PadState, epsilon = GAMEPAD_EPSILON): boolean {
  if (!prev) return true;
  if (prev.id !== next.id || prev.mapping !== next.mapping) return true;
  if (prev.buttons.length !== next.buttons.length || prev.axes.length !== next.axes.length) return true;
  for (let i = 0; i < next.buttons.length; i++) {
    const a = prev.buttons[i];
    const b = next.buttons[i];
    if (a.pressed !== b.pressed || (a.touched ?? false) !== (b.touched ?? false)) return true;
    if (moved(a.value, b.value, epsilon, [0, 1])) return true;
  }
  for (let i = 0; i < next.axes.length; i++) {
    if (moved(prev.axes[i], next.axes[i], epsilon, [0, 1, -1])) return true;
  }
  return false;
}

/** The `gamepad` input event for a state (or a disconnection) at `timestamp` (s). */
export function gamepadEvent(state: PadState, timestamp: number): Record<string, unknown> {
  return {
    type: "gamepad",
    index: state.index,
    id: state.id,
    mapping: state.mapping,
    connected: state.connected,
    buttons: state.buttons,
    axes: state.axes,
    timestamp,
  };
}

/**
 * What was last sent for each pad, and so what to send next: `update` takes one reading of
 * navigator.getGamepads() and returns at most one event per pad: its state when it
 * connected or changed (see padChanged), `connected: false` when it went away. Call it at
 * most once per animation frame: that is the coalescing.
 */
export class GamepadTracker {
  private readonly sent = new Map<number, PadState>();

  constructor(private readonly epsilon = GAMEPAD_EPSILON) {}

  update(pads: readonly (GamepadLike | null | undefined)[], timestamp: number): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    const seen = new Set<number>();
    for (const raw of Array.from(pads ?? [])) {
      const state = normalizePad(raw);
      if (!state || seen.has(state.index)) continue;
      seen.add(state.index);
      const prev = this.sent.get(state.index) ?? null;
      if (prev && prev.id !== state.id) {
        // Another pad in the same slot: the old one went away first.
        out.push(gamepadEvent(disconnected(prev), timestamp));
        this.sent.delete(state.index);
      }
      if (padChanged(this.sent.get(state.index) ?? null, state, this.epsilon)) {
        this.sent.set(state.index, state);
        out.push(gamepadEvent(state, timestamp));
      }
    }
    for (const [index, prev] of [...this.sent]) {
      if (seen.has(index)) continue;
      this.sent.delete(index);
      out.push(gamepadEvent(disconnected(prev), timestamp));
    }
    return out.sort((a, b) => (a.index as number) - (b.index as number));
  }

  /** Every known pad as disconnected (the view lost focus, or is going away), so nothing
   * stays held in the application; the next `update` connects them again. */
  releaseAll(timestamp: number): Record<string, unknown>[] {
    const out = [...this.sent.values()].sort((a, b) => a.index - b.index).map((s) => gamepadEvent(disconnected(s), timestamp));
    this.sent.clear();
    return out;
  }

  /** How many pads the server was last told are connected. */
  get size(): number {
    return this.sent.size;
  }
}

function disconnected(s: PadState): PadState {
  return { index: s.index, id: s.id, mapping: s.mapping, connected: false, buttons: [], axes: [] };
}

function moved(a: number, b: number, epsilon: number, stops: number[]): boolean {
  if (a === b) return false;
  return Math.abs(a - b) >= epsilon || stops.includes(b);
}

function clamp(v: number, lo: number, hi: number): number {
  return Number.isNaN(v) ? 0 : Math.min(hi, Math.max(lo, v));
}

function round4(v: number): number {
  const r = Math.round(v * 10000) / 10000;
  return r === 0 ? 0 : r; // no -0
}

/** At most `n` UTF-16 code units, never ending on half a surrogate pair (the server counts
 * code points, which are never more). */
function cut(text: string, n: number): string {
  // A lone surrogate (a broken device name) would be refused (1007): U+FFFD instead.
  const s = text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
  if (s.length <= n) return s;
  const head = s.slice(0, n);
  const last = head.charCodeAt(n - 1);
  return last >= 0xd800 && last <= 0xdbff ? head.slice(0, -1) : head;
}
