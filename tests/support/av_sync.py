"""The page side of the sound-and-picture sync measurements (tests/e2e/test_audio.py and
benchmarks/bench_audio.py), and the pairing of what the page saw with what was published.

What each flash's offset rests on, and what a starved machine breaks:

- The click's onset: an AudioWorklet on what goes to the speakers finds the first loud
  sample after 100 ms of quiet and reports its context time; the main thread maps it to
  page time with ``getOutputTimestamp()`` (a consistent pair, so when the message is
  handled does not matter). That is what a listener hears, stalls included.
- The white frame: the page reads the canvas back (``capture``) every ~8 ms and takes
  the midpoint of the read that first shows white. The frame turned white somewhere
  between the start of the previous read and the end of this one: the *span*. A stalled
  main thread or worker (a timer that fires late, a read-back that waits) widens the span
  and the page does not know when the frame was shown: such a flash is untimed.
- The publisher: a flash publishes the white frame and the click together. The frame is
  stamped at the call; the click is placed on the sound's timeline, which continues the
  previous chunks sample by sample (rfb/session/audio.py). A publisher whose loop ran
  late by d ms (a starved asyncio loop) stamps the click d ms before its frame (its
  *lead*). Over WebRTC, where the browser lines the tracks up by their stamps, the click
  then plays d ms early: the producer's doing, not the transport's, so the offset is
  corrected by the lead (``correct_lead``). Over the WebSocket the view plays sound as it
  comes and draws frames as they come (stamps unused), so the lead changes nothing.
  After a stall of over 60 ms the timeline starts again (and again after 0.5 s ahead of
  the calls), so the lead is not known for a while: such a flash is left out.

``pair`` keeps the flashes that were timed on all three counts and says why each other
one was left out, so a run on a starved machine measures the same thing (the transport's
sync, within BT.1359's bounds) on fewer flashes, and reports how many it could not time.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_SPAN_MS = 30.0  # a white frame timed within this: ~8 ms polls plus the read-back
STALL_MS = 60.0  # a tick this late restarts the sound's timeline (session/audio.RESYNC_US)
SETTLE_S = 1.0  # ... after which the lead is unknown for this long (LEAD_WINDOW_US + margin)
MATCH_MS = 300.0  # a click / white this close to a flash is that flash's (600 ms apart)

# A tap on what goes to the speakers that reports each click's onset (the first sample over
# a threshold after 100 ms of quiet), as a page time (performance.now()): the context time
# of the sample, mapped with getOutputTimestamp(), which includes the output latency.
# window.whites: each white frame's page time; window.whiteSpans: [from, to] within which
# it turned white; window.longTasks: the main thread's long tasks (> 50 ms), [start, end].
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
  window.whiteSpans = [];
  window.longTasks = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.longTasks.push([e.startTime, e.startTime + e.duration]);
    }).observe({ type: "longtask" });
  } catch (e) { window.longTasks = null; }
  tap.port.onmessage = (e) => {
    const ts = ctx.getOutputTimestamp();
    window.clicks.push(ts.performanceTime + (e.data - ts.contextTime) * 1000);
  };
  // The white frames: the canvas read back as fast as the worker answers.
  let white = false;
  let lastAsked = performance.now();
  window.watching = true;
  (async () => {
    while (window.watching) {
      await new Promise((r) => setTimeout(r, 8));
      const asked = performance.now();
      const img = await window.rfbView.capture("imagedata");
      const answered = performance.now();
      const px = img.data[(img.width * (img.height >> 1) + (img.width >> 1)) * 4];
      if (px > 200 && !white) {
        window.whites.push((asked + answered) / 2);
        window.whiteSpans.push([lastAsked, answered]);
      }
      white = px > 200;
      lastAsked = asked;
    }
  })();
}"""


async def page_offset_ms(page: Any, n: int = 15) -> tuple[float, float]:
    """page performance.now() - time.monotonic()*1000, from the tightest round trip, and
    that round trip (ms): the mapping's uncertainty is half of it."""
    best = (float("inf"), 0.0)
    for _ in range(n):
        t0 = time.monotonic()
        p = await page.evaluate("performance.now()")
        t1 = time.monotonic()
        rtt = (t1 - t0) * 1000
        if rtt < best[0]:
            best = (rtt, p - (t0 + t1) * 500)
    return best[1], best[0]


@dataclass
class Pairing:
    """The flashes' A/V offsets (ms, > 0: sound behind the picture) where the flash was
    timed, and why each other flash was not."""

    offsets: list[float] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)  # one line per flash left out
    spans: list[float] = field(default_factory=list)  # the timed white frames' spans (ms)
    leads: list[float] = field(default_factory=list)  # their clicks' leads (ms)

    def summary(self) -> str:
        why = ", ".join(f"{n} {k}" for k, n in self.left_out.items()) or "none"
        span = (f", white spans up to {max(self.spans):.0f} ms, clicks stamped "
                f"{min(self.leads):.0f} to {max(self.leads):.0f} ms before their frames"
                if self.spans else "")  # fmt: skip
        return f"{len(self.offsets)} timed flashes{span}; left out: {why}"


class Publisher:
    """The publisher's side: each tick's lateness, and each flash's lead (ms its click is
    stamped before its frame) where it is known."""

    def __init__(self, t0: float, tick_s: float) -> None:
        self.t0, self.tick_s = t0, tick_s
        self.flashes: list[tuple[float, float | None]] = []  # (published at, lead ms)
        self._anchor_late = 0.0  # lateness of the tick the timeline started at
        self._restarted_at = -1e9

    def tick(self, tick: int, now: float, flash: bool, restart: bool = False) -> None:
        """Each tick as it publishes; ``restart``: the first chunk after a pause of over
        60 ms, where the timeline starts again at this call. (The timeline starts at the
        first chunk a listener gets, which the publisher cannot know: restart it.)"""
        late = 1000 * (now - (self.t0 + tick * self.tick_s))
        if restart:
            self._anchor_late, self._restarted_at = late, -1e9
        elif late - self._anchor_late > STALL_MS or self._anchor_late - late > STALL_MS:
            self._anchor_late, self._restarted_at = late, now  # the timeline starts again
        if flash:
            settled = now - self._restarted_at > SETTLE_S
            self.flashes.append((now, late - self._anchor_late if settled else None))


def pair(flashes: list[tuple[float, float | None]], clicks: list[float], whites: list[float],
         spans: list[list[float]], long_tasks: list[list[float]] | None,
         offset_ms: float, correct_lead: bool) -> Pairing:  # fmt: skip
    """``flashes``: (time.monotonic() s at publish, its lead in ms or None: unknown;
    Publisher.flashes); the page's ``window.clicks``, ``whites``, ``whiteSpans``,
    ``longTasks`` (page ms); ``offset_ms``: page time - monotonic ms (``page_offset_ms``);
    ``correct_lead``: the browser lines sound up with pictures by their stamps (WebRTC)."""
    out = Pairing()
    for published, lead_ms in flashes:
        at = published * 1000 + offset_ms  # the flash in page time
        near_w = [i for i, w in enumerate(whites) if -50 < w - at < MATCH_MS]
        near_c = [c for c in clicks if -50 < c - at < MATCH_MS]
        reason = None
        if lead_ms is None:
            reason = "publisher stalled"
            note = f"within {SETTLE_S:g} s of a publisher stall over {STALL_MS:g} ms"
        elif not near_w:
            reason, note = "no white seen", "no white frame read back"
        elif not near_c:
            reason, note = "no click heard", "no onset in the played sound"
        else:
            i = near_w[0]
            lo, hi = spans[i]
            stalls = [t for t in long_tasks or [] if t[0] < hi and t[1] > lo]
            if hi - lo > MAX_SPAN_MS:
                reason = "picture untimed"
                note = f"white frame shown within a {hi - lo:.0f} ms span"
                if stalls:
                    note += f" (main thread busy {max(t[1] - t[0] for t in stalls):.0f} ms)"
            else:
                offset = min(near_c) - whites[i]
                out.offsets.append(offset + lead_ms if correct_lead else offset)
                out.leads.append(lead_ms)
                out.spans.append(hi - lo)
                continue
        out.left_out[reason] += 1
        out.notes.append(f"flash at +{published:.2f} s: {note}")
    return out
