// Every default of the browser client, written once. The view resolves its caller's options
// over DEFAULTS (resolveOptions) and derives the worker's options from the result
// (workerOptions), so no module copies a default from another one.

import type { RemoteFramebufferViewOptions } from "./view";

/** What each view option is when the caller leaves it out (`url` depends on the page: defaultUrl). */
export const DEFAULTS = {
  /** Size the canvas backing store from its CSS size x DPR. */
  autoResize: true,
  /** Cap on either side of the backing store, in device pixels. */
  maxBackingDimension: 4096,
  /** Offer H.264 where the browser decodes it, not only images. */
  imageOnly: false,
  /** Ask for High 4:4:4 H.264 (full-resolution colour) where the browser decodes it. */
  chroma444: true,
  /** Images decoding at once before newer ones replace waiting ones. */
  maxInflight: 1,
  /** Letterbox: the whole frame, scaled to fit. */
  fit: "contain",
  /** CSS colour of the letterbox bars. */
  background: "#000",
  /** No bearer token: the server's own policy decides. */
  token: null,
  /** No debug logging to the console. */
  debug: false,
  /** The stream's own WebSocket, not WebRTC. */
  transport: "websocket",
  /** transport "auto": wait this long for the first WebRTC frame before using the WebSocket. */
  autoFallbackMs: 4000,
  /** Read no timecode from frames (it costs a pixel read per frame). */
  timecode: false,
  /** Show who holds the control floor, and a button to ask for it (exclusive streams). */
  controlUi: true,
  /** Lock the pointer only when the server asks for it. */
  pointerLock: false,
  /** Send the viewer's gamepads while the view has the keyboard focus. */
  gamepad: true,
  /** The touch keyboard bar on touch devices (a coarse primary pointer) only. */
  keyboardBar: "auto",
  /** Files dropped on the view are uploaded (the server decides whether it takes them). */
  uploads: true,
  /** Files the application sends are saved as downloads. */
  saveFiles: true,
  /** Play the program's sound where the browser has WebCodecs' AudioDecoder. */
  audio: true,
  /** Show the microphone button where the stream takes microphones (microphone=True). */
  microphone: true,
} as const satisfies Partial<RemoteFramebufferViewOptions>;

/** The options DEFAULTS fills in. */
export type DefaultedOption = keyof typeof DEFAULTS;

/** The view's options once resolved: every defaulted option (and the URL) is set. */
export type ResolvedOptions = RemoteFramebufferViewOptions & Required<Pick<RemoteFramebufferViewOptions, DefaultedOption | "url">>;

/** The resolved options the worker needs; they travel in its "init" message as they are. */
export const WORKER_OPTION_KEYS = ["url", "imageOnly", "chroma444", "maxInflight", "fit", "background", "token", "debug", "timecode", "audio"] as const;

/** The worker's options: its share of the resolved options and the link it starts on. */
export type WorkerOptions = Pick<ResolvedOptions, (typeof WORKER_OPTION_KEYS)[number]> & {
  /** The worker's own link: its WebSocket, or frames and messages the main thread relays from WebRTC. */
  mode: "websocket" | "webrtc";
};

/** The slice of `location` the default URL is made from. */
export interface PageLocation {
  protocol: string;
  host: string;
}

/** The page's own server, path "/": wss: under https, ws: otherwise. */
export function defaultUrl(page: PageLocation): string {
  const proto = page.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${page.host}/`;
}

/** The caller's options over DEFAULTS. An option given as undefined counts as left out, as
 * its optional type says (a widget trait that is unset must not unset the default). */
export function resolveOptions(given: RemoteFramebufferViewOptions, page: PageLocation): ResolvedOptions {
  const resolved: ResolvedOptions = { ...DEFAULTS, url: given.url ?? defaultUrl(page) };
  const givenDefined = Object.entries(given).filter(([, value]) => value !== undefined);
  return Object.assign(resolved, Object.fromEntries(givenDefined));
}

/** The worker's options, taken from the resolved view options rather than copied by hand. */
export function workerOptions(resolved: ResolvedOptions): WorkerOptions {
  const share = Object.fromEntries(WORKER_OPTION_KEYS.map((name) => [name, resolved[name]]));
  // "auto" starts on WebRTC; the view tells the worker if it falls back to the WebSocket.
  return { ...share, mode: resolved.transport === "websocket" ? "websocket" : "webrtc" } as WorkerOptions;
}

// -- defaults that are not options -------------------------------------------------------

/** The worker's WebSocket reconnects after 0.25 s, doubling to 4 s. */
export const WEBSOCKET_RETRY = { baseMs: 250, maxMs: 4000 } as const;

/** A WebRTC session (the view's WHEP session, the Janus watcher) starts again after 0.5 s,
 * doubling to 5 s: each retry costs the server a new peer connection. */
export const WEBRTC_RETRY = { baseMs: 500, maxMs: 5000 } as const;

/** How long an SDP offer or answer waits for ICE candidates before going with what it has
 * (the far end learns the rest from connectivity checks). */
export const ICE_GATHERING_MS = 1500;
