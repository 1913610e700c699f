// Drops video deltas until a keyframe arrives, asking for one (rate-limited) meanwhile.

export class KeyframeGate {
  private open = false;
  private lastRequest = -Infinity;

  constructor(private readonly requestIntervalMs = 500) {}

  /** Close the gate: after connect, decoder reset or reconfigure. */
  close(): void {
    this.open = false;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Whether a chunk may go to the decoder. When it may not, `request` says whether to
   * send request_keyframe now (at most once per requestIntervalMs).
   */
  admit(keyframe: boolean, nowMs: number): { decode: boolean; request: boolean } {
    if (keyframe) {
      this.open = true;
      return { decode: true, request: false };
    }
    if (this.open) return { decode: true, request: false };
    const request = nowMs - this.lastRequest >= this.requestIntervalMs;
    if (request) this.lastRequest = nowMs;
    return { decode: false, request };
  }
}
