"""The page side of the sound-and-picture sync measurements (tests/e2e/test_audio.py and
benchmarks/bench_audio.py)."""

from __future__ import annotations

# A tap on what goes to the speakers that reports each click's onset (the first sample over
# a threshold after 100 ms of quiet), as a page time (performance.now()): the context time
# of the sample, mapped with getOutputTimestamp(), which includes the output latency.
WATCH = """async () => {
  const a = window.rfbView.audio;
  const ctx = a.context;
  const src = `class Onsets extends AudioWorkletProcessor {
    constructor() { super(); this.quiet = 0; }
    process(inputs) {
      const x = inputs[0][0];
      if (!x) return true;
      for (let i = 0; i < x.length; i++) {
        if (Math.abs(x[i]) > 0.2) {
          if (this.quiet > 4800) this.port.postMessage(currentTime + i / sampleRate);
          this.quiet = 0;
        } else this.quiet++;
      }
      return true;
    }
  }
  registerProcessor("onsets", Onsets);`;
  await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([src], { type: "text/javascript" })));
  const tap = new AudioWorkletNode(ctx, "onsets");
  a.output.connect(tap);
  tap.connect(ctx.destination); // pulled (it outputs silence)
  window.clicks = [];
  window.whites = [];
  tap.port.onmessage = (e) => {
    const ts = ctx.getOutputTimestamp();
    window.clicks.push(ts.performanceTime + (e.data - ts.contextTime) * 1000);
  };
  // The white frames: the canvas read back as fast as the worker answers.
  let white = false;
  window.watching = true;
  (async () => {
    while (window.watching) {
      await new Promise((r) => setTimeout(r, 8));
      const asked = performance.now();
      const img = await window.rfbView.capture("imagedata");
      const t = (asked + performance.now()) / 2;
      const px = img.data[(img.width * (img.height >> 1) + (img.width >> 1)) * 4];
      if (px > 200 && !white) window.whites.push(t);
      white = px > 200;
    }
  })();
}"""
