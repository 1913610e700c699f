// The AudioWorklet that plays the program's sound: a small jitter buffer. It is a string
// (the client is one bundled file; the view loads it as a blob: module), plain JavaScript
// for the AudioWorkletGlobalScope. browser/tests/audio.test.ts runs it under stand-ins.
//
// What it does, per render quantum (128 frames at 48 kHz, 2.7 ms):
// - It buffers decoded PCM (posted by the main thread, one 20 ms packet at a time) and
//   starts playing once `targetMs` is buffered; when it runs dry it plays silence, counts
//   an underrun and waits for `targetMs` again (so a stall costs one re-buffer, not a
//   stream of clicks).
// - Over `maxMs` buffered (a burst after a stall), it drops the oldest packets down to
//   `targetMs` and counts them late: sound never lags the picture for long.
// - Clock drift (the server's clock against the sound card's): it follows a slow average
//   of the buffer level and, while that is over target + 15 ms, drops one frame every
//   `driftEvery` quanta (0.1 %: inaudible, ~1.7 cents); under target - 15 ms, it plays one
//   frame twice at the same rate. Over target + 45 ms (after a stall's burst) it drops 4
//   times as often (0.4 %, ~7 cents), to be back near target in seconds rather than tens.
// It reports { bufferMs, underruns, late, adjusted, playing } to the main thread 4 times a second.

export const WORKLET_NAME = "rfb-audio";

export const WORKLET_SOURCE = `
class RfbAudio extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    const perMs = sampleRate / 1000;
    this.target = Math.round((o.targetMs || 50) * perMs);
    this.max = Math.round((o.maxMs || 100) * perMs);
    this.band = Math.round(15 * perMs);
    this.driftEvery = o.driftEvery || 8;
    this.chunks = [];
    this.head = 0;
    this.level = 0;
    this.avg = this.target;
    this.playing = false;
    this.underruns = 0;
    this.late = 0;
    this.adjusted = 0;
    this.quanta = 0;
    this.reportEvery = Math.max(1, Math.round(sampleRate / 128 / 4));
    this.port.onmessage = (e) => {
      const d = e.data;
      if (d.type === "pcm") this.push(d.channels);
      else if (d.type === "reset") { this.chunks = []; this.head = 0; this.level = 0; this.playing = false; }
    };
  }
  push(channels) {
    this.chunks.push(channels);
    this.level += channels[0].length;
    if (this.level > this.max) {
      while (this.level > this.target && this.chunks.length > 1) {
        const c = this.chunks.shift();
        this.level -= c[0].length - this.head;
        this.head = 0;
        this.late++;
      }
      this.avg = this.level;
    }
  }
  frame(out, i) {
    const c = this.chunks[0];
    for (let ch = 0; ch < out.length; ch++) out[ch][i] = c[Math.min(ch, c.length - 1)][this.head];
  }
  advance() {
    this.head++;
    this.level--;
    if (this.head >= this.chunks[0][0].length) { this.chunks.shift(); this.head = 0; }
  }
  process(inputs, outputs) {
    const out = outputs[0];
    const n = out[0].length;
    this.quanta++;
    if (this.quanta % this.reportEvery === 0) {
      this.port.postMessage({ type: "report", bufferMs: this.level / (sampleRate / 1000), underruns: this.underruns,
        late: this.late, adjusted: this.adjusted, playing: this.playing });
    }
    if (!this.playing) {
      if (this.level < this.target) { for (const o of out) o.fill(0); return true; }
      this.playing = true;
      this.avg = this.level;
    }
    this.avg += (this.level - this.avg) * 0.005;
    let drop = false, dup = false;
    // Far over target (after a stall's burst): 4 times as often, to be back in seconds.
    const every = this.avg > this.target + 3 * this.band ? Math.max(1, this.driftEvery >> 2) : this.driftEvery;
    if (this.quanta % every === 0) {
      if (this.avg > this.target + this.band) drop = true;
      else if (this.avg < this.target - this.band) dup = true;
    }
    for (let i = 0; i < n; i++) {
      if (this.level <= 0) {
        for (const o of out) o.fill(0, i);
        this.underruns++;
        this.playing = false;
        return true;
      }
      this.frame(out, i);
      if (dup && i === n >> 1) { dup = false; this.adjusted++; continue; }
      this.advance();
      if (drop && i === n >> 1 && this.level > 0) { drop = false; this.adjusted++; this.advance(); }
    }
    return true;
  }
}
registerProcessor("${WORKLET_NAME}", RfbAudio);
`;
