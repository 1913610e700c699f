// WebRTC on the main thread (RTCPeerConnection does not exist in workers): a WHEP offer
// with recvonly video and the "rfb" data channel. Decoded frames go to the worker as a
// ReadableStream<VideoFrame> (MediaStreamTrackProcessor) or, where that API is missing,
// as ImageBitmaps grabbed from a hidden <video> with requestVideoFrameCallback.

import { ICE_GATHERING_MS } from "./defaults";
import { frameShown } from "./protocol";

const SHOWN_WAIT_MS = 200;

/** RTP timestamp -> when that frame's last packet arrived (ms, main-thread clock). */
export class ArrivalTimes {
  private readonly times = new Map<number, number>();
  constructor(private readonly max = 256) {}

  note(rtp: number, receivedMs: number): void {
    this.times.set(rtp >>> 0, receivedMs);
    if (this.times.size > this.max) this.times.delete(this.times.keys().next().value as number);
  }

  take(rtp: number): number | null {
    const t = this.times.get(rtp >>> 0);
    if (t === undefined) return null;
    this.times.delete(rtp >>> 0);
    return t;
  }
}

export interface RtcStats {
  framesPerSecond: number | null;
  framesDecoded: number;
  framesDropped: number;
  jitterMs: number | null;
  packetsLost: number;
  nackCount: number;
  pliCount: number;
  rttMs: number | null;
  decodeMs: number | null;
  /** Average time a frame waited in the jitter buffer. */
  jitterBufferMs: number | null;
  bitrate: number;
  /** e.g. "H264 42e01f", from the negotiated codec. */
  codec: string | null;
  /** The program's sound on its audio track, where there is one (null: none). */
  audio?: RtcAudioStats | null;
}

/** The audio track's receiver figures (getStats' inbound-rtp of kind "audio"). */
export interface RtcAudioStats {
  /** The time a sample waited in the jitter buffer since the last report, ms (NetEq's delay). */
  jitterBufferMs: number | null;
  packetsReceived: number;
  packetsLost: number;
  /** Samples the decoder made up for lost or late packets. */
  concealedSamples: number;
}

export interface WebRtcHandlers {
  /** Frames, as a stream to transfer to the worker. */
  onStream(readable: ReadableStream<VideoFrame>): void;
  /** Frames one by one (fallback path), with the RTP timestamp where the browser says it. */
  /** `receivedMs`: when the frame's last packet arrived (main-thread clock), if the browser says. */
  onBitmap(bitmap: ImageBitmap, rtpTimestamp: number | null, receivedMs: number | null): void;
  onText(text: string): void;
  /** A binary data-channel message (one part of an exact still). */
  onBinary?(data: ArrayBuffer): void;
  onOpen(): void;
  onClose(reason: string): void;
  /** The program's sound (an audio track): given, the offer receives audio too. */
  onAudioTrack?(track: MediaStreamTrack): void;
  /** The viewer's microphone (microphone.ts): true, the offer also sends audio, on a
   * transceiver of its own (`micSender`) whose track is set after the user's click. */
  microphone?: boolean;
}

/** A stream's WHEP endpoint beside its WebSocket: ws://host/ -> http://host/whep,
 * ws://host/cam -> http://host/cam/whep, wss://host/rfb/cam/ -> https://host/rfb/cam/whep. */
export function whepUrl(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  u.pathname = u.pathname.replace(/\/+$/, "") + "/whep";
  // Only the notebook widget's key travels along (it stands in for the page's origin);
  // a token goes in the Authorization header, never in a URL.
  const key = u.searchParams.get("rfb_key");
  u.search = "";
  if (key) u.searchParams.set("rfb_key", key);
  return u.toString();
}

/** ICE servers from WHEP Link headers: <url>; rel="ice-server"; username="..."; credential="...". */
export function parseIceLinks(links: string | null): RTCIceServer[] {
  if (!links) return [];
  const out: RTCIceServer[] = [];
  for (const part of links.split(/,(?=\s*<)/)) {
    const m = part.match(/<([^>]+)>(.*)/);
    if (!m || !/rel="ice-server"/.test(m[2])) continue;
    const attr = (name: string) => m[2].match(new RegExp(`${name}="([^"]*)"`))?.[1];
    const server: RTCIceServer = { urls: m[1] };
    const username = attr("username");
    const credential = attr("credential");
    if (username !== undefined) server.username = username;
    if (credential !== undefined) server.credential = credential;
    out.push(server);
  }
  return out;
}

export async function waitForIceGathering(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, timeoutMs); // send what we have: the server learns the rest from checks
  });
}

export class WhepError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Offer every codec the browser receives except H.264 High 4:4:4 (profile_idc 0xF4). */
export function withoutHigh444(transceiver: RTCRtpTransceiver): void {
  const caps = typeof RTCRtpReceiver.getCapabilities === "function" ? RTCRtpReceiver.getCapabilities("video") : null;
  if (!caps) return;
  const is444 = (c: RTCRtpCodec) => c.mimeType.toLowerCase() === "video/h264" && /profile-level-id=f4/i.test(c.sdpFmtpLine ?? "");
  transceiver.setCodecPreferences(caps.codecs.filter((c) => !is444(c)));
}

export class WebRtcLink {
  /** The peer connection of the current try (null before it starts or once closed). */
  pc: RTCPeerConnection | null = null;
  private channel: RTCDataChannel | null = null;
  private resource: string | null = null;
  private video: HTMLVideoElement | null = null;
  private readonly arrivals = new ArrivalTimes();
  private closed = false;
  /** The microphone's sender (handlers.microphone), for replaceTrack. */
  micSender: RTCRtpSender | null = null;
  private lastBytes: { bytes: number; at: number } | null = null;
  private lastAudio: { delay: number; count: number } | null = null;

  constructor(
    private readonly endpoint: string,
    private readonly token: string | null,
    private readonly handlers: WebRtcHandlers,
    /** Offer H.264 High 4:4:4 where this browser receives it (false: 4:2:0 profiles only). */
    private readonly chroma444 = true,
  ) {}

  async start(): Promise<void> {
    const headers: Record<string, string> = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    // ICE servers first (OPTIONS answers with Link headers), then the offer.
    let iceServers: RTCIceServer[] = [];
    let probe: Response | null = null;
    try {
      probe = await fetch(this.endpoint, { method: "OPTIONS", headers });
    } catch {
      /* no pre-flight answer: try the offer anyway, with host candidates only */
    }
    if (probe && probe.status === 404) throw new WhepError(404, "this server does not serve WebRTC");
    if (probe) iceServers = parseIceLinks(probe.headers.get("Link"));
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    if (!this.chroma444) withoutHigh444(transceiver);
    // The program's sound: the server answers with an Opus track in the video's MediaStream.
    if (this.handlers.onAudioTrack) pc.addTransceiver("audio", { direction: "recvonly" });
    // The microphone: after the program's sound (the server pairs the first audio section
    // with its own track), send-only, no track until the user turns it on.
    if (this.handlers.microphone) this.micSender = pc.addTransceiver("audio", { direction: "sendonly" }).sender;
    const channel = pc.createDataChannel("rfb", { ordered: true });
    this.channel = channel;
    channel.binaryType = "arraybuffer";
    channel.onmessage = (e) => {
      if (typeof e.data === "string") this.handlers.onText(e.data);
      else if (e.data instanceof ArrayBuffer) this.handlers.onBinary?.(e.data);
    };
    channel.onopen = () => this.handlers.onOpen();
    pc.ontrack = (e) => {
      if (e.track.kind === "audio") {
        this.handlers.onAudioTrack?.(e.track);
        return;
      }
      // Render as soon as decoded: an interactive stream wants the smallest jitter buffer.
      const receiver = e.receiver as unknown as { jitterBufferTarget?: number | null; playoutDelayHint?: number };
      try {
        if ("jitterBufferTarget" in receiver) receiver.jitterBufferTarget = 0;
        else receiver.playoutDelayHint = 0;
      } catch {
        /* not supported: keep the browser's default */
      }
      this.onTrack(e.track);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed" || pc.connectionState === "closed") this.finish(`peer connection ${pc.connectionState}`);
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc, ICE_GATHERING_MS);
    const r = await fetch(this.endpoint, {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/sdp" },
      body: pc.localDescription!.sdp,
    });
    if (r.status !== 201) {
      const reason = (await r.text()).trim();
      this.close();
      throw new WhepError(r.status, `WHEP ${r.status}: ${reason}`);
    }
    const location = r.headers.get("Location");
    if (location) this.resource = new URL(location, this.endpoint).toString();
    await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
  }

  private onTrack(track: MediaStreamTrack): void {
    const Processor = (globalThis as unknown as { MediaStreamTrackProcessor?: new (init: { track: MediaStreamTrack }) => { readable: ReadableStream<VideoFrame> } })
      .MediaStreamTrackProcessor;
    // A hidden <video> on the same track (decoded once, for both): its frame callbacks
    // say when each frame's last packet arrived, which the server's path estimate needs
    // and VideoFrames from the processor do not carry. Without the processor it also
    // supplies the frames, one bitmap per presented frame.
    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    video.style.cssText = "position:fixed;width:1px;height:1px;opacity:0;pointer-events:none";
    video.srcObject = new MediaStream([track]);
    document.body.appendChild(video);
    this.video = video;
    const grab = (_now: number, meta: { rtpTimestamp?: number; receiveTime?: number }) => {
      if (this.closed) return;
      const rtp = meta.rtpTimestamp ?? null;
      const received = meta.receiveTime ?? null;
      if (rtp !== null && received !== null) this.arrivals.note(rtp, received);
      if (!Processor) createImageBitmap(video).then((b) => this.handlers.onBitmap(b, rtp, received), () => undefined);
      video.requestVideoFrameCallback(grab);
    };
    video.requestVideoFrameCallback(grab);
    void video.play();
    if (Processor) this.handlers.onStream(new Processor({ track }).readable);
  }

  send(text: string): void {
    if (this.channel?.readyState === "open") this.channel.send(text);
  }

  sendBinary(data: ArrayBuffer): void {
    if (this.channel?.readyState === "open") this.channel.send(data);
  }

  /** frame_shown for a frame the worker drew, with its arrival time: given, or once the
   * <video> has reported it (that may come a little after the worker drew the frame);
   * without it after SHOWN_WAIT_MS. */
  frameShown(rtp: number, receivedMs: number | null, waitedMs = 0): void {
    const received = receivedMs ?? this.arrivals.take(rtp);
    if (received === null && waitedMs < SHOWN_WAIT_MS) {
      setTimeout(() => this.frameShown(rtp, null, waitedMs + 20), 20);
      return;
    }
    this.send(frameShown(rtp, received));
  }

  async stats(): Promise<RtcStats | null> {
    if (!this.pc) return null;
    const report = await this.pc.getStats();
    let inbound: Record<string, number> | null = null;
    let audioIn: Record<string, number> | null = null;
    let rtt: number | null = null;
    const codecs = new Map<string, Record<string, unknown>>();
    report.forEach((s: Record<string, unknown>) => {
      if (s.type === "inbound-rtp" && s.kind === "video") inbound = s as Record<string, number>;
      if (s.type === "inbound-rtp" && s.kind === "audio") audioIn = s as Record<string, number>;
      if (s.type === "candidate-pair" && s.nominated && typeof s.currentRoundTripTime === "number") rtt = s.currentRoundTripTime * 1000;
      if (s.type === "codec") codecs.set(String(s.id), s);
    });
    if (!inbound) return null;
    const i: Record<string, number> = inbound;
    const now = performance.now();
    const bytes = i.bytesReceived ?? 0;
    const bitrate = this.lastBytes && now > this.lastBytes.at ? (8000 * (bytes - this.lastBytes.bytes)) / (now - this.lastBytes.at) : 0;
    this.lastBytes = { bytes, at: now };
    const codec = codecs.get(String((inbound as Record<string, unknown>).codecId));
    const profile = String(codec?.sdpFmtpLine ?? "").match(/profile-level-id=([0-9a-f]+)/i)?.[1];
    return {
      jitterBufferMs: i.jitterBufferEmittedCount ? (1000 * (i.jitterBufferDelay ?? 0)) / i.jitterBufferEmittedCount : null,
      bitrate,
      codec: codec ? `${String(codec.mimeType).replace("video/", "")}${profile ? " " + profile : ""}` : null,
      framesPerSecond: i.framesPerSecond ?? null,
      framesDecoded: i.framesDecoded ?? 0,
      framesDropped: i.framesDropped ?? 0,
      jitterMs: typeof i.jitter === "number" ? i.jitter * 1000 : null,
      packetsLost: i.packetsLost ?? 0,
      nackCount: i.nackCount ?? 0,
      pliCount: i.pliCount ?? 0,
      rttMs: rtt,
      decodeMs: i.framesDecoded ? (1000 * (i.totalDecodeTime ?? 0)) / i.framesDecoded : null,
      audio: this.audioStats(audioIn),
    };
  }

  private audioStats(a: Record<string, number> | null): RtcAudioStats | null {
    const out = audioStatsOf(a, this.lastAudio);
    if (a) this.lastAudio = { delay: a.jitterBufferDelay ?? 0, count: a.jitterBufferEmittedCount ?? 0 };
    return out;
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.close();
    this.handlers.onClose(reason);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.resource) {
      const headers: Record<string, string> = {};
      if (this.token) headers.Authorization = `Bearer ${this.token}`;
      void fetch(this.resource, { method: "DELETE", headers, keepalive: true }).catch(() => undefined);
    }
    this.channel?.close();
    this.pc?.close();
    this.video?.remove();
  }
}

export function audioStatsOf(a: Record<string, number> | null, last: { delay: number; count: number } | null): RtcAudioStats | null {
  if (!a) return null;
  // The jitter buffer's delay since the last report (its running average hides a start-up
  // high that NetEq takes seconds to come down from); over all time the first time.
  const delay = a.jitterBufferDelay ?? 0;
  const count = a.jitterBufferEmittedCount ?? 0;
  const d = last && count > last.count ? { delay: delay - last.delay, count: count - last.count } : { delay, count };
  return {
    jitterBufferMs: d.count ? (1000 * d.delay) / d.count : null,
    packetsReceived: a.packetsReceived ?? 0,
    packetsLost: a.packetsLost ?? 0,
    concealedSamples: a.concealedSamples ?? 0,
  };
}
