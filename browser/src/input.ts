// DOM input -> renderview events. Pure functions over plain objects (testable in Node).

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
  kind: "pointer_move" | "pointer_down" | "pointer_up" | "wheel";
  cssX: number;
  cssY: number;
  button: number;
  buttons: number[];
  modifiers: string[];
  timestamp: number;
  dx?: number;
  dy?: number;
}

export interface KeyInput {
  kind: "key_down" | "key_up";
  key: string;
  code: string;
  modifiers: string[];
  timestamp: number;
}

/**
 * Coalesces pointer moves: between flushes only the newest move is kept, so a fast
 * mouse costs one message per animation frame. Any other event flushes the pending move
 * first, so order is kept.
 */
export class MoveCoalescer<T> {
  private pending: T | null = null;
  constructor(private readonly emit: (item: T) => void) {}

  move(item: T): void {
    this.pending = item;
  }

  other(item: T): void {
    this.flush();
    this.emit(item);
  }

  flush(): void {
    if (this.pending !== null) {
      const p = this.pending;
      this.pending = null;
      this.emit(p);
    }
  }

  get hasPending(): boolean {
    return this.pending !== null;
  }
}

/** Keys the page must not act on while the view has focus (scrolling, focus moves). */
export function shouldPreventKey(e: { key: string; ctrlKey: boolean; metaKey: boolean }): boolean {
  // Leave browser shortcuts (Ctrl/Cmd + key) alone; everything else belongs to the stream.
  return !(e.ctrlKey || e.metaKey);
}
