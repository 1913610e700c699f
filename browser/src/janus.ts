// Watch an rfb stream relayed through Janus (its Streaming plugin) over Janus's plain HTTP
// API, with no janus.js: create a session, attach the plugin, ask to "watch" a mountpoint
// (Janus answers with an offer), answer, "start". A long poll brings Janus's events and
// keeps the session alive; a session that ends (Janus restarted, the network went away)
// is started again after a growing pause. The mountpoint's sound (where the relay sends it:
// relay_rtp(audio_port=...)) plays through `audio`, an element that starts muted (the
// browser's autoplay rules) until the page unmutes it on a click. View-only: input goes only over rfb's own
// transports (RemoteFramebufferView).
//
// A simulcast mountpoint (rfb's relay_rtp(simulcast=True): docker/janus, mountpoint 2)
// carries several rungs; Janus tells the watcher which substream it sends, and the
// watcher asks for another ("configure" with "substream") when its own receiver says the
// path carries less, or more (janus-substream.ts). `substream` pins one instead.
import { ICE_GATHERING_MS, WEBRTC_RETRY } from "./defaults.js";
import { Backoff } from "./flow.js";
import { receiveSample, SubstreamPolicy } from "./janus-substream.js";
import { waitForIceGathering } from "./webrtc.js";

export { interval, SUBSTREAM_POLICY, SubstreamPolicy } from "./janus-substream.js";
export type { ReceiveSample } from "./janus-substream.js";

/** How often the watcher reads its receiver's figures on a simulcast mountpoint. */
export const STATS_EVERY_MS = 500;

export const STREAMING = "janus.plugin.streaming";

/** A Janus request: `janus` is the verb; every request carries a transaction id. */
export function request(janus: string, transaction: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ janus, transaction, ...fields });
}

/** What one long-poll reply says (an event, or an array of them with maxev > 1). */
export interface JanusEvents {
  offer: RTCSessionDescriptionInit | null;
  ended: string | null; // why the session or handle is gone; null: still there
  started: boolean; // the plugin says the stream started
  substream: number | null; // a simulcast mountpoint's substream Janus now sends
}

export function readEvents(reply: unknown, handle: number): JanusEvents {
  const out: JanusEvents = { offer: null, ended: null, started: false, substream: null };
  for (const ev of Array.isArray(reply) ? reply : [reply]) {
    if (typeof ev !== "object" || ev === null) continue;
    const e = ev as Record<string, unknown>;
    const verb = e.janus;
    if (verb === "error") {
      const err = e.error as { code?: number; reason?: string } | undefined;
      out.ended = `Janus error ${err?.code ?? "?"}: ${err?.reason ?? "unknown"}`;
    } else if ((verb === "hangup" || verb === "detached") && e.sender === handle) {
      out.ended = `Janus ${verb}${typeof e.reason === "string" ? `: ${e.reason}` : ""}`;
    } else if (verb === "timeout") {
      out.ended = "Janus session timed out";
    } else if (verb === "event" && e.sender === handle) {
      const jsep = e.jsep as RTCSessionDescriptionInit | undefined;
      if (jsep && jsep.type === "offer" && typeof jsep.sdp === "string") out.offer = jsep;
      const data = (e.plugindata as { data?: Record<string, unknown> } | undefined)?.data;
      const result = data?.result as { status?: string; substream?: unknown } | undefined;
      if (result?.status === "started" || result?.status === "preparing") out.started = true;
      if (typeof result?.substream === "number") out.substream = result.substream;
      if (typeof data?.error === "string") out.ended = `streaming plugin: ${data.error}`;
    }
  }
  return out;
}

export interface JanusWatchOptions {
  server: string; // Janus's HTTP API, e.g. http://host:8088/janus
  mountpoint: number; // the Streaming mountpoint id (docker/janus: 1)
  video: HTMLVideoElement;
  audio?: HTMLAudioElement; // the sound's track plays here (else in `video`, muted)
  iceServers?: RTCIceServer[];
  onState?: (state: string, detail?: string) => void;
  /** Simulcast: always this substream (0: the lowest); unset: the one the path carries. */
  substream?: number;
}

/** What a simulcast watcher receives now (the last interval's figures). */
export interface WatcherStats {
  substream: number | null; // what Janus sends
  target: number | null; // what the watcher asked for
  fps: number;
  frameWidth: number;
  frameHeight: number;
  kbps: number;
  loss: number;
  switches: Array<{ at: number; from: number | null; to: number; why: string }>;
}

let nextTransaction = 0;
function transaction(): string {
  nextTransaction += 1;
  return `rfb-${Date.now().toString(36)}-${nextTransaction}`;
}

export class JanusWatcher {
  private pc: RTCPeerConnection | null = null;
  private session: number | null = null;
  private handle: number | null = null;
  private closed = false;
  private backoff = new Backoff(WEBRTC_RETRY.baseMs, WEBRTC_RETRY.maxMs);
  private run = 0; // the current attempt; an old long poll that returns is ignored
  private policy: SubstreamPolicy | null = null; // from Janus's first "substream" event
  private statsTimer: ReturnType<typeof setInterval> | null = null;
  private lastSample: { at: number; bytesReceived: number; framesDecoded: number; packetsReceived: number; packetsLost: number } | null = null;
  /** Simulcast only: the figures of the last interval, and the switches asked for. */
  stats: WatcherStats | null = null;

  constructor(private readonly opts: JanusWatchOptions) {}

  /** The current peer connection (getStats: inbound-rtp video and audio), or null. */
  get peerConnection(): RTCPeerConnection | null {
    return this.pc;
  }

  start(): void {
    const run = ++this.run;
    this.attempt(run).catch((err) => this.retry(run, String(err)));
  }

  close(): void {
    this.closed = true;
    this.run++;
    this.teardown();
  }

  private state(s: string, detail?: string): void {
    this.opts.onState?.(s, detail);
  }

  private async post(path: string, body: string): Promise<Record<string, unknown>> {
    const r = await fetch(this.opts.server + path, { method: "POST", body, headers: { "Content-Type": "application/json" } });
    const reply = (await r.json()) as Record<string, unknown>;
    if (reply.janus === "error") {
      const err = reply.error as { code?: number; reason?: string } | undefined;
      throw new Error(`Janus error ${err?.code ?? "?"}: ${err?.reason ?? "unknown"}`);
    }
    return reply;
  }

  private async attempt(run: number): Promise<void> {
    this.state("connecting");
    const created = await this.post("", request("create", transaction()));
    this.session = (created.data as { id: number }).id;
    const attached = await this.post(`/${this.session}`, request("attach", transaction(), { plugin: STREAMING }));
    this.handle = (attached.data as { id: number }).id;
    const body: Record<string, unknown> = { request: "watch", id: this.opts.mountpoint };
    if (this.opts.substream !== undefined) body.substream = this.opts.substream;
    await this.post(`/${this.session}/${this.handle}`, request("message", transaction(), { body }));
    this.poll(run);
  }

  private async poll(run: number): Promise<void> {
    while (run === this.run && this.session !== null && this.handle !== null) {
      let reply: unknown;
      try {
        const r = await fetch(`${this.opts.server}/${this.session}?maxev=10&rid=${Date.now()}`);
        reply = await r.json();
      } catch (err) {
        return this.retry(run, `long poll failed: ${err}`);
      }
      if (run !== this.run) return;
      const ev = readEvents(reply, this.handle);
      if (ev.offer) await this.answer(run, ev.offer);
      if (ev.substream !== null) this.onSubstream(run, ev.substream);
      if (ev.ended) return this.retry(run, ev.ended);
    }
  }

  private async answer(run: number, offer: RTCSessionDescriptionInit): Promise<void> {
    this.pc?.close();
    const pc = new RTCPeerConnection({ iceServers: this.opts.iceServers ?? [] });
    this.pc = pc;
    pc.ontrack = (e) => {
      const a = this.opts.audio;
      if (e.track.kind === "audio" && a) {
        a.srcObject = new MediaStream([e.track]);
        a.play().catch(() => {}); // muted until the user unmutes: allowed without a gesture
        return;
      }
      const v = this.opts.video;
      v.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      v.play().catch(() => {});
      this.backoff.reset();
      this.state("watching");
    };
    pc.onconnectionstatechange = () => {
      if (pc === this.pc && pc.connectionState === "failed") this.retry(run, "peer connection failed");
    };
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForIceGathering(pc, ICE_GATHERING_MS);
    if (run !== this.run || this.session === null || this.handle === null) return;
    await this.post(`/${this.session}/${this.handle}`,
      request("message", transaction(), { body: { request: "start" }, jsep: pc.localDescription }));
  }

  /** Janus sends substream `n` now: a simulcast mountpoint; judge the path from here on. */
  private onSubstream(run: number, n: number): void {
    if (this.policy === null) {
      this.policy = new SubstreamPolicy(this.opts.substream ?? 2);
      if (this.opts.substream === undefined) {
        this.statsTimer = setInterval(() => { this.tick(run).catch(() => {}); }, STATS_EVERY_MS);
      }
    }
    this.policy.switched(n, performance.now());
    if (this.stats) this.stats.substream = n;
  }

  private async tick(run: number): Promise<void> {
    const pc = this.pc;
    const policy = this.policy;
    if (run !== this.run || pc === null || policy === null) return;
    const now = performance.now();
    const s = receiveSample(await pc.getStats(), now);
    if (s === null) return;
    const prev = this.lastSample;
    this.lastSample = s;
    const dt = prev ? (s.at - prev.at) / 1000 : 0;
    const lost = prev ? s.packetsLost - prev.packetsLost : 0;
    const got = prev ? s.packetsReceived - prev.packetsReceived : 0;
    this.stats = {
      substream: policy.substream, target: policy.target,
      fps: dt > 0 && prev ? (s.framesDecoded - prev.framesDecoded) / dt : 0,
      frameWidth: s.frameWidth, frameHeight: s.frameHeight,
      kbps: dt > 0 && prev ? (8 * (s.bytesReceived - prev.bytesReceived)) / dt / 1000 : 0,
      loss: lost + got > 0 ? Math.max(0, lost) / (lost + got) : 0,
      switches: policy.log,
    };
    const to = policy.sample(s);
    if (to === null || run !== this.run || this.session === null || this.handle === null) return;
    this.stats.target = to;
    await this.post(`/${this.session}/${this.handle}`,
      request("message", transaction(), { body: { request: "configure", substream: to } }));
  }

  private retry(run: number, why: string): void {
    if (run !== this.run || this.closed) return;
    this.teardown();
    const wait = this.backoff.next();
    this.state("retrying", `${why}; again in ${wait} ms`);
    setTimeout(() => {
      if (run === this.run && !this.closed) this.start();
    }, wait);
  }

  private teardown(): void {
    const { session } = this;
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    this.statsTimer = null;
    this.policy = null;
    this.lastSample = null;
    this.pc?.close();
    this.pc = null;
    this.session = this.handle = null;
    if (session !== null) {
      fetch(`${this.opts.server}/${session}`, { method: "POST", body: request("destroy", transaction()), keepalive: true }).catch(() => {});
    }
  }
}
