// The notebook widget (anywidget): the same RemoteFramebufferView in a cell output.
// Pixels and input go over the stream's own WebSocket (or WebRTC); the kernel's comm only
// carries the widget's traits (where to connect) and a little state and stats back.

import { DEFAULTS } from "./defaults";
import { RemoteFramebufferView } from "./view";
import type { Fit, Stats, TransportKind } from "./view";

/** The traits rfb/notebook.py syncs (pdum.rfb's names where it has them). */
export interface WidgetTraits {
  url: string;
  host: string;
  base_path: string;
  port: number;
  stream: string;
  token: string;
  image_only: boolean;
  transport: string;
  secure: boolean;
  key: string;
  fit: string;
  background: string;
  height: number;
  show_stats: boolean;
  show_toolbar: boolean;
}

/** The slice of anywidget's model the widget uses. */
export interface WidgetModel {
  get<K extends keyof WidgetTraits>(name: K): WidgetTraits[K];
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, callback: () => void): void;
  off(event?: string | null, callback?: (() => void) | null): void;
}

interface PageLocation {
  protocol: string;
  hostname: string;
  host: string;
}

/** Traits that say where to connect: changing one reconnects. */
const CONNECTION = ["url", "host", "base_path", "port", "stream", "token", "image_only", "transport", "secure", "key"] as const;

/** The stream's WebSocket URL, as the widget's page must reach it. */
export function widgetUrl(t: Pick<WidgetTraits, "url" | "host" | "base_path" | "port" | "stream" | "secure" | "key">, page: PageLocation): string {
  let url: URL;
  if (t.url) {
    url = new URL(t.url);
  } else {
    const path = t.stream && t.stream !== "default" ? `/${encodeURIComponent(t.stream)}` : "/";
    if (t.base_path) {
      // Same origin as the notebook, through a proxy (jupyter-server-proxy: /proxy/8765).
      const proto = page.protocol === "https:" ? "wss:" : "ws:";
      url = new URL(`${proto}//${page.host}${t.base_path.replace(/\/+$/, "")}${path}`);
    } else {
      let host = !t.host || t.host === "auto" ? page.hostname : t.host;
      if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
      url = new URL(`${t.secure ? "wss:" : "ws:"}//${host}:${t.port}${path}`);
    }
  }
  // The kernel's key lets this page in from whatever origin the notebook runs at.
  if (t.key) url.searchParams.set("rfb_key", t.key);
  return url.toString();
}

/** A trait's fit, or undefined (the view's default) for one it does not name. */
function fitOf(value: string): Fit | undefined {
  return value === "contain" || value === "cover" || value === "fill" ? value : undefined;
}

/** A trait's transport, or undefined (the view's default) for one it does not name. */
function transportOf(value: string): TransportKind | undefined {
  return value === "websocket" || value === "webrtc" || value === "auto" ? value : undefined;
}

/** One line of figures under the canvas. */
export function statusLine(state: string, s: Stats | null): string {
  if (!s || state !== "negotiated") return state;
  const parts = [`${s.width}×${s.height}`, s.codec ?? "", `${s.fps.toFixed(0)} fps`];
  if (s.latencyMs !== null) parts.push(`${s.latencyMs.toFixed(0)} ms`);
  if (s.bitrate) parts.push(`${(s.bitrate / 1e6).toFixed(2)} Mbit/s`);
  parts.push(s.transport ?? "");
  return parts.filter(Boolean).join(" · ");
}

const STATS_EVERY_MS = 1000; // how often figures go back to the kernel

function render({ model, el }: { model: WidgetModel; el: HTMLElement }): () => void {
  const root = document.createElement("div");
  root.className = "rfb-widget";
  el.appendChild(root);
  let view: RemoteFramebufferView | null = null;
  let frame: HTMLDivElement | null = null;
  let status: HTMLDivElement | null = null;
  let lastStatsSent = 0;

  const report = (name: string, value: unknown): void => {
    model.set(name, value);
    model.save_changes();
  };

  const stop = (): void => {
    view?.dispose();
    view = null;
    root.replaceChildren();
  };

  const start = (): void => {
    stop();
    frame = document.createElement("div");
    frame.className = "rfb-frame";
    frame.style.height = `${model.get("height")}px`;
    root.appendChild(frame);
    if (model.get("show_toolbar")) root.appendChild(toolbar());
    status = document.createElement("div");
    status.className = "rfb-status";
    status.hidden = !model.get("show_stats");
    root.appendChild(status);
    view = new RemoteFramebufferView(frame, {
      url: widgetUrl(
        {
          url: model.get("url"),
          host: model.get("host"),
          base_path: model.get("base_path"),
          port: model.get("port"),
          stream: model.get("stream"),
          secure: model.get("secure"),
          key: model.get("key"),
        },
        location,
      ),
      token: model.get("token") || null,
      imageOnly: model.get("image_only"),
      transport: transportOf(model.get("transport")),
      fit: fitOf(model.get("fit")),
      background: model.get("background") || undefined, // "": the view's default
      onState: (state, reason) => {
        if (status) status.textContent = statusLine(state, view?.stats ?? null);
        root.dataset.state = state;
        report("state", state);
        if (reason && (state === "error" || state === "closed")) report("last_error", reason);
      },
      onStats: (stats) => {
        if (status) status.textContent = statusLine(stats.state, stats);
        const now = performance.now();
        if (now - lastStatsSent >= STATS_EVERY_MS) {
          lastStatsSent = now;
          report("stats", stats);
        }
      },
      onError: (message) => report("last_error", message),
    });
    // For tests and the console: the view of this output.
    (el as HTMLElement & { rfbView?: RemoteFramebufferView }).rfbView = view;
  };

  const toolbar = (): HTMLDivElement => {
    const bar = document.createElement("div");
    bar.className = "rfb-toolbar";
    const fit = document.createElement("select");
    for (const f of ["contain", "cover", "fill"]) fit.add(new Option(f, f, false, f === (fitOf(model.get("fit")) ?? DEFAULTS.fit)));
    fit.title = "how the frame fits the cell";
    fit.onchange = () => view?.setFit(fit.value as Fit);
    const full = document.createElement("button");
    full.textContent = "full screen";
    full.title = "full screen";
    full.onclick = () => void frame?.requestFullscreen?.();
    const stats = document.createElement("button");
    stats.textContent = "stats";
    stats.title = "show or hide the figures";
    stats.onclick = () => {
      if (status) status.hidden = !status.hidden;
    };
    bar.append(fit, full, stats);
    return bar;
  };

  const resize = (): void => {
    if (frame) frame.style.height = `${model.get("height")}px`;
  };
  const showStats = (): void => {
    if (status) status.hidden = !model.get("show_stats");
  };
  for (const name of CONNECTION) model.on(`change:${name}`, start);
  model.on("change:height", resize);
  model.on("change:show_stats", showStats);
  model.on("change:show_toolbar", start);
  start();
  return () => {
    for (const name of CONNECTION) model.off(`change:${name}`, start);
    model.off("change:height", resize);
    model.off("change:show_stats", showStats);
    model.off("change:show_toolbar", start);
    stop();
    root.remove();
  };
}

export default { render };
