// The touch keyboard bar's logic, pure: its keys, the sticky modifiers (tap Ctrl: it holds
// for the next key or click, then lets go; tap it again: locked until a third tap), and
// the key events each tap sends, the same key_down/key_up a hardware keyboard sends.
// view-touch-bar.ts draws the bar and posts what these functions return.

export type Modifier = "Shift" | "Control" | "Alt" | "Meta";

/** The order modifiers are listed in, as input.ts's modifiers() lists them. */
export const MODIFIERS: readonly Modifier[] = ["Shift", "Control", "Alt", "Meta"];

/** A sticky modifier: off; held for the next key or click ("once"); held until tapped
 * again ("locked"). */
export type Stick = "off" | "once" | "locked";

export type StickyState = Readonly<Record<Modifier, Stick>>;

export const NO_STICKY: StickyState = { Shift: "off", Control: "off", Alt: "off", Meta: "off" };

/** One key event to send (input.ts's KeyInput without its timestamp). */
export interface KeyPress {
  kind: "key_down" | "key_up";
  key: string;
  code: string;
  modifiers: string[];
}

/** What a tap does: the new state and the key events to send, in order. */
export interface Step {
  state: StickyState;
  presses: KeyPress[];
}

/** A key on the bar: its label and what it sends. */
export interface BarKey {
  label: string;
  key: string;
  code: string;
  /** What a screen reader says (the label is a symbol for some). */
  title?: string;
}

/** The modifier keys as a hardware keyboard's left-hand ones send them. */
export const MODIFIER_KEYS: Readonly<Record<Modifier, BarKey>> = {
  Shift: { label: "Shift", key: "Shift", code: "ShiftLeft", title: "Shift (sticky)" },
  Control: { label: "Ctrl", key: "Control", code: "ControlLeft", title: "Control (sticky)" },
  Alt: { label: "Alt", key: "Alt", code: "AltLeft", title: "Alt (sticky)" },
  Meta: { label: "Meta", key: "Meta", code: "MetaLeft", title: "Meta (sticky)" },
};

const ESC: BarKey = { label: "Esc", key: "Escape", code: "Escape", title: "Escape" };
const TAB: BarKey = { label: "Tab", key: "Tab", code: "Tab", title: "Tab" };
const ARROWS: BarKey[] = [
  { label: "←", key: "ArrowLeft", code: "ArrowLeft", title: "Arrow left" },
  { label: "↑", key: "ArrowUp", code: "ArrowUp", title: "Arrow up" },
  { label: "↓", key: "ArrowDown", code: "ArrowDown", title: "Arrow down" },
  { label: "→", key: "ArrowRight", code: "ArrowRight", title: "Arrow right" },
];
const F_KEYS: BarKey[] = Array.from({ length: 12 }, (_, i) => ({ label: `F${i + 1}`, key: `F${i + 1}`, code: `F${i + 1}` }));

/** The bar, left to right: a key, or a sticky modifier's name. */
export const BAR_LAYOUT: readonly (BarKey | Modifier)[] = [ESC, TAB, "Control", "Alt", "Meta", "Shift", ...ARROWS, ...F_KEYS];

/** The modifiers that stick now (once or locked), in MODIFIERS order. */
export function activeModifiers(state: StickyState): Modifier[] {
  return MODIFIERS.filter((m) => state[m] !== "off");
}

/** An event's own modifiers with the sticky ones added, in MODIFIERS order. */
export function withSticky(own: readonly string[], state: StickyState): string[] {
  const all = new Set([...own, ...activeModifiers(state)]);
  return [...MODIFIERS.filter((m) => all.has(m)), ...[...all].filter((m) => !(MODIFIERS as readonly string[]).includes(m))];
}

function press(kind: KeyPress["kind"], k: BarKey, modifiers: string[]): KeyPress {
  return { kind, key: k.key, code: k.code, modifiers };
}

/** A tap on a modifier: off -> once (its key_down, as if held), once -> locked (nothing
 * sent), locked -> off (its key_up). */
export function tapModifier(state: StickyState, mod: Modifier): Step {
  const k = MODIFIER_KEYS[mod];
  if (state[mod] === "off") {
    const next = { ...state, [mod]: "once" as Stick };
    return { state: next, presses: [press("key_down", k, activeModifiers(next))] };
  }
  if (state[mod] === "once") return { state: { ...state, [mod]: "locked" }, presses: [] };
  const next = { ...state, [mod]: "off" as Stick };
  return { state: next, presses: [press("key_up", k, activeModifiers(next))] };
}

/** After a key or a click: the "once" modifiers let go (their key_up, in reverse order);
 * locked ones stay. */
export function consume(state: StickyState): Step {
  return letGo(state, (s) => s === "once");
}

/** Every sticky modifier lets go (the bar goes away). */
export function releaseAll(state: StickyState): Step {
  return letGo(state, (s) => s !== "off");
}

function letGo(state: StickyState, which: (s: Stick) => boolean): Step {
  let next: StickyState = state;
  const presses: KeyPress[] = [];
  for (const mod of [...MODIFIERS].reverse()) {
    if (!which(state[mod])) continue;
    next = { ...next, [mod]: "off" };
    presses.push(press("key_up", MODIFIER_KEYS[mod], activeModifiers(next)));
  }
  return { state: next, presses };
}

/** A tap on one of the bar's keys: its key_down and key_up with the sticky modifiers,
 * then the "once" modifiers let go. */
export function tapKey(state: StickyState, k: BarKey): Step {
  const mods = activeModifiers(state);
  const after = consume(state);
  return { state: after.state, presses: [press("key_down", k, mods), press("key_up", k, mods), ...after.presses] };
}

/** Whether text typed now is a shortcut rather than text: Control, Alt or Meta sticks
 * (a hardware Ctrl+C types no "c" either). Shift alone leaves text as it is. */
export function makesShortcut(state: StickyState): boolean {
  return state.Control !== "off" || state.Alt !== "off" || state.Meta !== "off";
}

/**
 * Text the device's own keyboard typed (the hidden field's input) while modifiers stick:
 * its first character becomes a key press with them (Ctrl + "c": key_down/key_up of "c"
 * with ["Control"], no `char`), the "once" modifiers let go, and the rest (a word an
 * autocorrect inserted at once) is text. Null when no shortcut modifier sticks.
 */
export function typeWithSticky(state: StickyState, data: string): (Step & { rest: string }) | null {
  if (!makesShortcut(state) || !data) return null;
  const [first, ...others] = Array.from(data);
  const shifted = state.Shift !== "off";
  const key = shifted && first.length === 1 ? first.toUpperCase() : first;
  const step = tapKey(state, { label: key, key, code: charCode(first) });
  return { ...step, rest: others.join("") };
}

const PUNCTUATION: Readonly<Record<string, string>> = {
  " ": "Space", "-": "Minus", "_": "Minus", "=": "Equal", "+": "Equal", "[": "BracketLeft", "{": "BracketLeft",
  "]": "BracketRight", "}": "BracketRight", "\\": "Backslash", "|": "Backslash", ";": "Semicolon", ":": "Semicolon",
  "'": "Quote", '"': "Quote", ",": "Comma", "<": "Comma", ".": "Period", ">": "Period", "/": "Slash", "?": "Slash",
  "`": "Backquote", "~": "Backquote", "!": "Digit1", "@": "Digit2", "#": "Digit3", "$": "Digit4", "%": "Digit5",
  "^": "Digit6", "&": "Digit7", "*": "Digit8", "(": "Digit9", ")": "Digit0",
}; // prettier-ignore

/** The DOM `code` a US keyboard gives a character (KeyC, Digit1, Space, ...), "" where
 * there is none (a character a device keyboard types that a US layout has no key for). */
export function charCode(ch: string): string {
  if (/^[a-z]$/i.test(ch)) return `Key${ch.toUpperCase()}`;
  if (/^[0-9]$/.test(ch)) return `Digit${ch}`;
  return PUNCTUATION[ch] ?? "";
}

/** What decides whether the bar shows ("auto"): the page's primary pointer. */
export interface TouchEnvironment {
  /** matchMedia("(pointer: coarse)"): a finger is the primary pointer (phones, tablets). */
  coarsePointer: boolean;
}

/** Whether to show the bar: the `keyboardBar` option, "auto" meaning on touch devices
 * (a laptop with a touch screen and a keyboard has a fine primary pointer: no bar). */
export function keyboardBarWanted(option: boolean | "auto", env: TouchEnvironment): boolean {
  return option === "auto" ? env.coarsePointer : option;
}
