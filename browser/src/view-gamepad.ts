// Reads the Gamepad API for the view: once per animation frame while the view has the
// keyboard focus, the page is visible and focused, and the view is connected; posts what
// GamepadTracker (gamepad.ts, pure) says changed. With no pad known it looks only every
// IDLE_POLL_MS (and at once on `gamepadconnected`), so an idle view costs nothing per frame.

import { GamepadTracker, type GamepadLike } from "./gamepad";

/** How often to look for a pad while none is known (ms). Chromium exposes a pad only
 * after one of its buttons is pressed, and fires `gamepadconnected` then too. */
export const IDLE_POLL_MS = 250;

export interface GamepadHost {
  /** Send one `gamepad` input event. */
  post(event: Record<string, unknown>): void;
  /** The view has the keyboard focus (its hidden text field or its canvas). */
  focused(): boolean;
  /** The view is connected and may send input now. */
  ready(): boolean;
}

export class GamepadReader {
  private readonly tracker = new GamepadTracker();
  private readonly cleanups: (() => void)[] = [];
  private raf = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private disposed = false;

  constructor(private readonly host: GamepadHost) {
    if (typeof navigator === "undefined" || typeof navigator.getGamepads !== "function") return;
    const wake = () => this.wake();
    const on = (target: EventTarget, type: string) => {
      target.addEventListener(type, wake);
      this.cleanups.push(() => target.removeEventListener(type, wake));
    };
    on(window, "gamepadconnected");
    on(window, "gamepaddisconnected");
    on(window, "focus");
    on(window, "blur");
    on(document, "visibilitychange");
    on(document, "focusin");
    on(document, "focusout");
    this.wake();
  }

  /** Look again soon (the next animation frame): focus, visibility or the link changed. */
  wake(): void {
    if (this.disposed || this.raf) return;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // A hidden page runs no animation frames: look once at once there (to let go of pads).
    if (document.visibilityState !== "visible") {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.tick();
      }, 0);
      return;
    }
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      this.tick();
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.release();
    this.disposed = true;
    if (this.raf) cancelAnimationFrame(this.raf);
    if (this.timer !== null) clearTimeout(this.timer);
    for (const c of this.cleanups) c();
    this.cleanups.length = 0;
  }

  private tick(): void {
    if (this.disposed) return;
    if (!this.host.ready()) {
      this.tracker.releaseAll(0); // the link is down: a new connection starts afresh
      return; // the view wakes it when it is connected again
    }
    const active = this.host.focused() && document.visibilityState === "visible" && document.hasFocus();
    if (!active) {
      this.release(); // nothing stays held in the application; focus wakes it again
      return;
    }
    let pads: readonly (GamepadLike | null)[] = [];
    try {
      pads = navigator.getGamepads() as readonly (GamepadLike | null)[];
    } catch {
      /* a permissions policy may forbid the Gamepad API: no pads */
    }
    for (const ev of this.tracker.update(pads, Date.now() / 1000)) this.host.post(ev);
    if (this.tracker.size > 0) {
      this.raf = requestAnimationFrame(() => {
        this.raf = 0;
        this.tick();
      });
    } else {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.tick();
      }, IDLE_POLL_MS);
    }
  }

  private release(): void {
    for (const ev of this.tracker.releaseAll(Date.now() / 1000)) this.host.post(ev);
  }
}
