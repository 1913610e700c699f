// The touch keyboard bar: a strip of keys a phone's keyboard lacks (Esc, Tab, sticky Ctrl,
// Alt, Meta and Shift, the arrows, F1-F12) and a button that opens the device's own
// keyboard. It lies over the bottom edge of the canvas (above the device keyboard while
// that is open) and takes the touches that land on it; the canvas keeps its size, so
// input mapping is unchanged. The logic is pure and lives in touch-bar.ts.

import {
  activeModifiers,
  BAR_LAYOUT,
  consume,
  MODIFIER_KEYS,
  NO_STICKY,
  releaseAll,
  tapKey,
  tapModifier,
  typeWithSticky,
  withSticky,
  makesShortcut,
  type KeyPress,
  type Modifier,
  type Step,
  type StickyState,
} from "./touch-bar";

export interface TouchBarHost {
  /** Send one key event. */
  key(press: KeyPress): void;
  /** Open (true) or close the device's keyboard; keep the view's focus either way. */
  showKeyboard(show: boolean): void;
  /** Whether the device's keyboard was asked for. */
  keyboardShown(): boolean;
}

const CSS = `
.rfb-keybar{position:fixed;z-index:2147483000;display:flex;gap:4px;padding:4px;box-sizing:border-box;
  overflow-x:auto;overflow-y:hidden;background:rgba(16,16,16,.88);touch-action:pan-x;user-select:none;
  -webkit-user-select:none;-webkit-touch-callout:none;scrollbar-width:none}
.rfb-keybar::-webkit-scrollbar{display:none}
.rfb-keybar button{flex:none;min-width:40px;height:36px;padding:0 8px;border:1px solid #555;border-radius:6px;
  background:#2b2b2b;color:#eee;font:14px/1 system-ui,sans-serif;touch-action:pan-x}
.rfb-keybar button:active{background:#444}
.rfb-keybar button[data-sticky=once]{background:#1f6f4a;border-color:#3c9}
.rfb-keybar button[data-sticky=locked]{background:#1f6f4a;border-color:#fff;text-decoration:underline}
.rfb-keybar button[aria-pressed=true].rfb-keyboard{background:#1f4f7f}
`;

let styleRefs = 0;
let styleEl: HTMLStyleElement | null = null;

export class TouchBar {
  readonly element: HTMLDivElement;
  private state: StickyState = NO_STICKY;
  private readonly stickyButtons = new Map<Modifier, HTMLButtonElement>();
  private readonly keyboardButton: HTMLButtonElement;
  private readonly cleanups: (() => void)[] = [];
  private frame = 0;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly host: TouchBarHost,
  ) {
    if (styleRefs++ === 0) {
      styleEl = document.createElement("style");
      styleEl.textContent = CSS;
      document.head.appendChild(styleEl);
    }
    const bar = document.createElement("div");
    bar.className = "rfb-keybar";
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", "keys for the remote view");
    this.element = bar;
    for (const item of BAR_LAYOUT) {
      if (typeof item === "string") {
        const k = MODIFIER_KEYS[item];
        const b = this.button(k.label, k.title ?? k.label, () => this.apply(tapModifier(this.state, item)));
        b.dataset.key = k.key;
        b.dataset.sticky = "off";
        b.setAttribute("aria-pressed", "false");
        this.stickyButtons.set(item, b);
      } else {
        const b = this.button(item.label, item.title ?? item.label, () => this.apply(tapKey(this.state, item)));
        b.dataset.key = item.key;
      }
    }
    this.keyboardButton = this.button("⌨", "show the device's keyboard", () => {
      this.host.showKeyboard(!this.host.keyboardShown());
      this.render();
    });
    this.keyboardButton.classList.add("rfb-keyboard");
    this.keyboardButton.dataset.key = "keyboard";
    canvas.insertAdjacentElement("afterend", bar);
    this.render();

    // Kept at the canvas's bottom edge, or above the device's keyboard where that covers it.
    const place = () => {
      this.frame = 0;
      this.place();
    };
    const schedule = () => {
      if (!this.frame) this.frame = requestAnimationFrame(place);
    };
    const observer = typeof ResizeObserver !== "undefined" ? new ResizeObserver(schedule) : null;
    observer?.observe(canvas);
    observer?.observe(bar);
    this.cleanups.push(() => observer?.disconnect());
    const targets: [EventTarget | undefined | null, string][] = [
      [window, "resize"],
      [window, "scroll"],
      [window.visualViewport, "resize"],
      [window.visualViewport, "scroll"],
    ];
    for (const [target, type] of targets) {
      if (!target) continue;
      target.addEventListener(type, schedule, { passive: true, capture: true });
      this.cleanups.push(() => target.removeEventListener(type, schedule, { capture: true }));
    }
    this.place();
  }

  /** The modifiers that stick now, in the order input.ts lists them. */
  get modifiers(): string[] {
    return activeModifiers(this.state);
  }

  /** An event's own modifiers with the sticky ones. */
  withSticky(own: readonly string[]): string[] {
    return withSticky(own, this.state);
  }

  /** Whether Ctrl, Alt or Meta sticks: a printable key is then a shortcut, not text. */
  get shortcut(): boolean {
    return makesShortcut(this.state);
  }

  /** A key or a click went out with the sticky modifiers: the "once" ones let go. */
  consumed(): void {
    this.apply(consume(this.state));
  }

  /** Text the device's keyboard typed: with Ctrl/Alt/Meta sticking its first character
   * is sent as a key press with them, and the rest of the text is returned; null when no
   * shortcut modifier sticks (the text is text). */
  typed(data: string): string | null {
    const step = typeWithSticky(this.state, data);
    if (!step) return null;
    this.apply(step);
    return step.rest;
  }

  dispose(): void {
    this.apply(releaseAll(this.state));
    if (this.frame) cancelAnimationFrame(this.frame);
    for (const c of this.cleanups) c();
    this.cleanups.length = 0;
    this.element.remove();
    if (--styleRefs === 0) {
      styleEl?.remove();
      styleEl = null;
    }
  }

  private button(label: string, title: string, action: () => void): HTMLButtonElement {
    const b = document.createElement("button");
    b.type = "button";
    b.tabIndex = -1; // never takes the keyboard focus from the view
    b.textContent = label;
    b.title = title;
    b.setAttribute("aria-label", title);
    // No focus change, no text selection, no compatibility mouse events; click still comes
    // (and not after a swipe that scrolled the bar).
    b.addEventListener("pointerdown", (e) => e.preventDefault());
    b.addEventListener("mousedown", (e) => e.preventDefault());
    b.addEventListener("click", (e) => {
      e.preventDefault();
      action();
    });
    this.element.appendChild(b);
    return b;
  }

  private apply(step: Step): void {
    this.state = step.state;
    for (const p of step.presses) this.host.key(p);
    this.render();
  }

  private render(): void {
    for (const [mod, b] of this.stickyButtons) {
      const s = this.state[mod];
      b.dataset.sticky = s;
      b.setAttribute("aria-pressed", s === "off" ? "false" : "true");
    }
    this.keyboardButton.setAttribute("aria-pressed", String(this.host.keyboardShown()));
  }

  private place(): void {
    const r = this.canvas.getBoundingClientRect();
    const vv = window.visualViewport;
    // Layout-viewport coordinates of the visible area's bottom (the device keyboard, where
    // it shrinks only the visual viewport, lies below it).
    const visibleBottom = vv ? vv.offsetTop + vv.height : window.innerHeight;
    const height = this.element.offsetHeight || 44;
    const bottom = Math.min(r.bottom, visibleBottom);
    const s = this.element.style;
    s.left = `${Math.max(0, r.left)}px`;
    s.width = `${Math.max(0, Math.min(r.right, window.innerWidth) - Math.max(0, r.left))}px`;
    s.top = `${Math.max(r.top, bottom - height)}px`;
    s.display = r.width > 0 && r.height > 0 ? "flex" : "none";
  }
}
