// The view's DOM input wiring: listens on the canvas (and a hidden text field beside it)
// and posts pointer, key, text and paste input to the worker. The mapping itself is pure
// and lives in input.ts; this module only reads DOM events and owns pointer lock.

import { mapButton, mapButtons, mergeMoves, modifiers, MoveCoalescer, shouldPreventKey, wheelPixels, type KeyInput, type PointerInput, type TextInput } from "./input";
import type { Size, ToWorker } from "./messages";

/** The messages input sends to the worker. */
export type InputMessage = Extract<ToWorker, { type: "pointer" | "key" | "text" | "clipboard-paste" }>;

export interface ViewInputHost {
  /** Post input to the worker. */
  post(msg: InputMessage): void;
  /** The view's last measured size (a wheel "page" is the view's CSS size). */
  size(): Size;
  /** Lock the pointer on every click (the pointerLock option), not only when the server asks. */
  readonly lockOnClick: boolean;
  /** The touch keyboard bar's sticky modifiers, where the view shows the bar. */
  sticky?(): StickyModifiers | null;
}

/** What the touch keyboard bar (view-touch-bar.ts) adds to the view's own input. */
export interface StickyModifiers {
  /** An event's own modifiers with the sticky ones. */
  withSticky(own: readonly string[]): string[];
  /** Ctrl, Alt or Meta sticks: a printable key is a shortcut then, not text. */
  readonly shortcut: boolean;
  /** A key or a click went out: the sticky-once modifiers let go. */
  consumed(): void;
  /** Text typed: its first character as a shortcut key press when Ctrl/Alt/Meta stick,
   * returning the rest as text; null when nothing sticks. */
  typed(data: string): string | null;
}

/** Keys that are modifiers or stand for a device keyboard's composition, not a key of
 * their own: they do not use up a sticky modifier. */
const NOT_A_KEY = new Set(["Shift", "Control", "Alt", "Meta", "AltGraph", "CapsLock", "Unidentified", "Process", "Dead"]);

export class ViewInput {
  private readonly cleanups: (() => void)[] = [];
  private readonly moves: MoveCoalescer<PointerInput>;
  private rafPending = false;
  /** The server asked for pointer lock (display.request_pointer_lock()). */
  private lockWanted = false;
  /** Where the pointer was when it was locked (CSS px in the canvas): locked moves keep it. */
  private lockAt: { x: number; y: number } | null = null;
  /** The hidden field that takes keyboard focus and text (see bindKeys). */
  private textField: HTMLTextAreaElement | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly host: ViewInputHost,
  ) {
    this.moves = new MoveCoalescer<PointerInput>((input) => host.post({ type: "pointer", input }), mergeMoves);
    this.bindPointer();
    this.bindKeys();
  }

  /** Give the view the keyboard (as a click on it does). */
  focus(): void {
    this.textField?.focus({ preventScroll: true });
  }

  /** A key event from elsewhere in the view (the touch keyboard bar), in order with the
   * pointer's: pending moves go first. */
  key(input: KeyInput): void {
    this.moves.flush();
    this.host.post({ type: "key", input });
  }

  /** Whether the view has the keyboard (its hidden text field, or the canvas itself). */
  hasFocus(): boolean {
    const active = document.activeElement;
    return active !== null && (active === this.textField || active === this.canvas);
  }

  /** Touch devices: whether focusing the view opens the device's own keyboard. Off where
   * the touch keyboard bar shows (a tap on the view would pop it up every time); the
   * bar's keyboard button turns it on, and the view keeps the keyboard focus. */
  setDeviceKeyboard(show: boolean): void {
    const field = this.textField;
    if (!field) return;
    field.inputMode = show ? "text" : "none";
    if (show || this.hasFocus()) {
      // Focused again: the browser shows or hides its keyboard for the new inputmode.
      field.blur();
      field.focus({ preventScroll: true });
    }
  }

  /** Whether focusing the view opens the device's keyboard (setDeviceKeyboard). */
  get deviceKeyboard(): boolean {
    return this.textField?.inputMode !== "none";
  }

  /** The server asked to lock (or release) the pointer. */
  setPointerLock(lock: boolean): void {
    this.lockWanted = lock;
    if (!lock && document.pointerLockElement === this.canvas) document.exitPointerLock();
    else if (lock) this.lockPointer(); // works where the page has a recent gesture
  }

  /** Remove every listener and the hidden text field. */
  dispose(): void {
    for (const c of this.cleanups) c();
    this.cleanups.length = 0;
  }

  // -- pointer ---------------------------------------------------------------------------

  private lockPointer(): void {
    if (document.pointerLockElement === this.canvas) return;
    try {
      const p = this.canvas.requestPointerLock() as unknown as Promise<void> | undefined;
      p?.catch?.(() => {
        /* no gesture yet: the next click locks it */
      });
    } catch {
      /* older browsers throw without a gesture */
    }
  }

  private listen<K extends keyof HTMLElementEventMap>(type: K, fn: (e: HTMLElementEventMap[K]) => void, passive = true): void {
    const opts: AddEventListenerOptions = { passive };
    this.canvas.addEventListener(type, fn as EventListener, opts);
    this.cleanups.push(() => this.canvas.removeEventListener(type, fn as EventListener, opts));
  }

  private pointerInput(kind: PointerInput["kind"], e: PointerEvent | MouseEvent | WheelEvent): PointerInput {
    const rect = this.canvas.getBoundingClientRect();
    const input: PointerInput = {
      kind,
      cssX: e.clientX - rect.left,
      cssY: e.clientY - rect.top,
      button: kind === "pointer_move" || kind === "wheel" ? 0 : mapButton(e.button),
      buttons: mapButtons(e.buttons),
      modifiers: this.host.sticky?.()?.withSticky(modifiers(e)) ?? modifiers(e),
      timestamp: Date.now() / 1000,
    };
    if ("pointerId" in e && typeof e.pointerId === "number") {
      input.pointerId = e.pointerId;
      input.pointerType = e.pointerType || "mouse";
      input.pressure = e.pressure;
      input.tiltX = e.tiltX;
      input.tiltY = e.tiltY;
    }
    return input;
  }

  /** Pending moves go out once per animation frame, not once per event. */
  private scheduleFlush(): void {
    if (this.rafPending) return;
    this.rafPending = true;
    requestAnimationFrame(() => {
      this.rafPending = false;
      this.moves.flush();
    });
  }

  private bindPointer(): void {
    const canvas = this.canvas;
    this.listen("pointerdown", (e) => {
      canvas.focus({ preventScroll: true }); // forwarded to the text field (bindKeys)
      if ((this.host.lockOnClick || this.lockWanted) && document.pointerLockElement !== canvas) {
        const r = canvas.getBoundingClientRect();
        this.lockAt = { x: e.clientX - r.left, y: e.clientY - r.top };
        this.lockPointer(); // a click is the gesture browsers ask for
      }
      try {
        canvas.setPointerCapture(e.pointerId); // a drag keeps reporting outside the canvas
      } catch {
        /* synthetic events have no capturable pointer */
      }
      this.moves.other(this.pointerInput("pointer_down", e));
    });
    this.listen("pointermove", (e) => {
      const input = this.pointerInput("pointer_move", e);
      if (document.pointerLockElement === canvas) {
        // Locked: the pointer stays where it was locked; the motion is relative.
        const at = this.lockAt ?? { x: input.cssX, y: input.cssY };
        input.cssX = at.x;
        input.cssY = at.y;
        input.locked = true;
        input.moveX = e.movementX;
        input.moveY = e.movementY;
      }
      this.moves.move(input, e.pointerId);
      this.scheduleFlush();
    });
    const onLockChange = () => {
      if (document.pointerLockElement !== canvas) this.lockAt = null;
    };
    document.addEventListener("pointerlockchange", onLockChange);
    this.cleanups.push(() => document.removeEventListener("pointerlockchange", onLockChange));
    const up = (e: PointerEvent) => {
      if (canvas.hasPointerCapture?.(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
      this.moves.other(this.pointerInput("pointer_up", e));
      this.host.sticky?.()?.consumed(); // a sticky Ctrl held for this click lets go
    };
    this.listen("pointerup", up);
    this.listen("pointercancel", up);
    this.listen(
      "wheel",
      (e) => {
        e.preventDefault(); // the page must not scroll under the stream
        const input = this.pointerInput("wheel", e);
        const size = this.host.size();
        const { dx, dy } = wheelPixels(e.deltaX, e.deltaY, e.deltaMode, size.cssWidth, size.cssHeight);
        input.dx = dx;
        input.dy = dy;
        this.moves.other(input);
      },
      false,
    );
    this.listen("dblclick", (e) => this.moves.other(this.pointerInput("double_click", e)));
    this.listen("contextmenu", (e) => e.preventDefault(), false);
  }

  // -- keyboard and text -----------------------------------------------------------------

  /**
   * Keys and text. A canvas gets key events but no text: no IME composition, no dead
   * keys, no paste. So keyboard focus goes to a hidden text field beside the canvas
   * (focused on every pointer down, and whenever the canvas itself is focused): its key
   * events are the view's key_down/key_up, and what it would insert (typed, composed or
   * pasted text) is sent as `char` events and then cleared. Keys the browser would act
   * on (Tab, arrows, Backspace, ...) are captured while it has focus; a click outside
   * the view gives the keyboard back to the page.
   */
  private bindKeys(): void {
    const canvas = this.canvas;
    const field = document.createElement("textarea");
    field.setAttribute("aria-label", "keyboard input for the remote view");
    field.setAttribute("autocapitalize", "off");
    field.setAttribute("autocomplete", "off");
    field.spellcheck = false;
    field.tabIndex = -1;
    // Out of the layout and invisible, yet focusable (display:none or visibility:hidden
    // would not be); at the canvas's top left so an IME's candidate window opens there.
    field.style.cssText =
      "position:fixed;width:1px;height:1px;padding:0;border:0;margin:0;opacity:0;resize:none;overflow:hidden;pointer-events:none;white-space:pre;z-index:-1";
    canvas.insertAdjacentElement("afterend", field);
    this.textField = field;
    this.cleanups.push(() => field.remove());
    const place = () => {
      const r = canvas.getBoundingClientRect();
      field.style.left = `${Math.max(0, r.left)}px`;
      field.style.top = `${Math.max(0, r.top)}px`;
    };
    const focusField = () => {
      place();
      field.focus({ preventScroll: true });
    };
    this.listen("focus", focusField);
    const on = <K extends keyof HTMLElementEventMap>(type: K, fn: (e: HTMLElementEventMap[K]) => void) => {
      field.addEventListener(type, fn as EventListener);
      this.cleanups.push(() => field.removeEventListener(type, fn as EventListener));
    };
    const key = (kind: "key_down" | "key_up") => (e: KeyboardEvent) => {
      const sticky = this.host.sticky?.() ?? null;
      // With a sticky Ctrl (Alt, Meta) a printable key is a shortcut: it types no text,
      // as a held hardware Ctrl would not.
      if (shouldPreventKey(e) || (sticky?.shortcut && e.key.length === 1)) e.preventDefault();
      this.moves.flush(); // a pending move happened before this key
      const mods = sticky ? sticky.withSticky(modifiers(e)) : modifiers(e);
      this.host.post({ type: "key", input: { kind, key: e.key, code: e.code, modifiers: mods, timestamp: Date.now() / 1000 } });
      if (kind === "key_up" && !NOT_A_KEY.has(e.key)) sticky?.consumed();
    };
    this.listen("keydown", key("key_down"), false); // the canvas, where it has focus itself
    this.listen("keyup", key("key_up"), false);
    on("keydown", key("key_down"));
    on("keyup", key("key_up"));
    const text = (typed: string | null, mods: string[] = [], typing = true) => {
      // A sticky Ctrl (touch keyboard bar) makes the first typed character a shortcut.
      const sticky = typed && typing ? (this.host.sticky?.() ?? null) : null;
      const rest = sticky && typed ? sticky.typed(typed) : null;
      const data = rest ?? typed;
      if (sticky && rest === null && data) sticky.consumed(); // sticky Shift: used by text
      if (data) {
        this.moves.flush();
        const input: TextInput = { kind: "char", data, modifiers: mods, timestamp: Date.now() / 1000 };
        this.host.post({ type: "text", input });
      }
      field.value = "";
    };
    on("compositionend", (e) => text(e.data));
    on("input", (e) => {
      const ie = e as InputEvent;
      if (ie.isComposing) return; // compositionend sends the result
      if (ie.inputType === "insertText" || ie.inputType === "insertReplacementText") text(ie.data);
      else field.value = ""; // line breaks, deletions: the key events carried them
    });
    on("paste", (e) => {
      e.preventDefault();
      const pasted = e.clipboardData?.getData("text/plain") ?? "";
      if (pasted) this.host.post({ type: "clipboard-paste", text: pasted }); // the paste itself
      text(pasted, [], false); // ... and the text it types
    });
  }
}
