// What the view draws over its canvas, as DOM elements beside it (never on the canvas, so
// its pixels and capture() are the frame's alone): who holds the control floor with a
// button to ask for it, and the other viewers' labelled pointers.

import { controlLabel, viewerColour, type ControlInfo } from "./presence";

export interface OverlayHost {
  request(): void;
  release(): void;
}

/** A pointer of another viewer, in CSS pixels over the canvas. */
export interface OverlayPointer {
  clientId: string;
  label: string;
  x: number;
  y: number;
  visible: boolean;
}

export class Overlay {
  readonly root: HTMLDivElement;
  private readonly badge: HTMLDivElement;
  private readonly text: HTMLSpanElement;
  private readonly button: HTMLButtonElement;
  private readonly cursors = new Map<string, HTMLDivElement>();
  private wantsRelease = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    host: OverlayHost,
    private readonly showControl: boolean,
  ) {
    const root = (this.root = document.createElement("div"));
    root.className = "rfb-overlay";
    root.style.cssText = "position:absolute;pointer-events:none;overflow:hidden;z-index:1;font:12px system-ui,sans-serif";
    const badge = (this.badge = document.createElement("div"));
    badge.className = "rfb-control";
    badge.style.cssText =
      "position:absolute;top:6px;right:6px;display:none;align-items:center;gap:6px;padding:3px 6px;" +
      "border-radius:4px;background:rgba(0,0,0,.6);color:#fff;pointer-events:auto";
    this.text = document.createElement("span");
    this.text.className = "rfb-control-holder";
    this.button = document.createElement("button");
    this.button.className = "rfb-control-button";
    this.button.type = "button";
    this.button.style.cssText = "font:inherit;padding:1px 6px;cursor:pointer";
    this.button.addEventListener("click", (e) => {
      e.stopPropagation();
      if (this.wantsRelease) host.release();
      else host.request();
    });
    badge.append(this.text, this.button);
    root.append(badge);
    this.place();
  }

  /** Put the overlay over the canvas (call when the canvas moves or resizes). */
  place(): void {
    const c = this.canvas;
    const parent = c.parentElement;
    if (!parent) return;
    if (this.root.parentElement !== parent) c.after(this.root);
    const s = this.root.style;
    s.left = `${c.offsetLeft}px`;
    s.top = `${c.offsetTop}px`;
    s.width = `${c.offsetWidth}px`;
    s.height = `${c.offsetHeight}px`;
  }

  setControl(ctrl: ControlInfo | null, me: string | null, mayDrive: boolean): void {
    const show = this.showControl && ctrl !== null && ctrl.mode === "exclusive";
    this.badge.style.display = show ? "flex" : "none";
    if (!show || ctrl === null) return;
    this.text.textContent = controlLabel(ctrl, me);
    const mine = ctrl.holder !== null && ctrl.holder === me;
    const waiting = me !== null && ctrl.waiting.includes(me);
    this.wantsRelease = mine || waiting;
    this.button.textContent = mine ? "Release" : waiting ? "Waiting… (cancel)" : "Request control";
    this.button.style.display = mayDrive ? "" : "none";
  }

  setPointers(pointers: OverlayPointer[], present: Set<string>): void {
    for (const [id, el] of this.cursors) {
      if (!present.has(id)) {
        el.remove();
        this.cursors.delete(id);
      }
    }
    for (const p of pointers) {
      let el = this.cursors.get(p.clientId);
      if (!el) {
        el = this.cursor(p.clientId);
        this.cursors.set(p.clientId, el);
        this.root.append(el);
      }
      el.style.display = p.visible ? "block" : "none";
      el.style.transform = `translate(${p.x}px, ${p.y}px)`;
      const label = el.lastElementChild as HTMLElement;
      if (label.textContent !== p.label) label.textContent = p.label;
    }
  }

  /** Drop pointers of viewers that left. */
  keepOnly(present: Set<string>): void {
    this.setPointers([], present);
  }

  private cursor(clientId: string): HTMLDivElement {
    const colour = viewerColour(clientId);
    const el = document.createElement("div");
    el.className = "rfb-presence-cursor";
    el.dataset.clientId = clientId;
    el.style.cssText = "position:absolute;left:0;top:0;display:none;will-change:transform";
    const arrow = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    arrow.setAttribute("width", "14");
    arrow.setAttribute("height", "18");
    arrow.setAttribute("viewBox", "0 0 14 18");
    arrow.innerHTML = `<path d="M1 1 L1 15 L5 11 L8 17 L10 16 L7 10 L12 10 Z" fill="${colour}" stroke="#fff" stroke-width="1"/>`;
    arrow.style.display = "block";
    const label = document.createElement("span");
    label.className = "rfb-presence-label";
    label.style.cssText = `position:absolute;left:12px;top:14px;padding:1px 4px;border-radius:3px;white-space:nowrap;color:#fff;background:${colour}`;
    el.append(arrow, label);
    return el;
  }

  dispose(): void {
    this.root.remove();
    this.cursors.clear();
  }
}
