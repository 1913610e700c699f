"""The Python a WebSocket viewer costs the server per frame, without sockets or kernel.

    python benchmarks/bench_viewer_path.py [--viewers 500] [--frames 300] [--profile]

A real Stream and hub with N WebSocketViewers over in-memory sockets: each frame is one
encoded unit (11.5 kB, a keyframe every 60) handed to the hub as the group's pump does;
each viewer's frame is written to a transport that only counts bytes, and each viewer
acks it in the browser's exact text through the socket's tap, as aiohttp's parser would
hand it over; the loop turns once (the credit flush), and an adaptation round runs every
0.2 s of the stream's (simulated) clock. Prints µs of CPU per viewer per frame for each
part (send, ack, loop turn, adaptation) and in all. What this leaves out, bench_fanout
measures with real sockets: the send and receive syscalls, the event loop's own polling
and aiohttp's WebSocket parser. ``--profile``: cProfile's top functions as well.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from rfb import protocol  # noqa: E402
from rfb.options import StreamOptions  # noqa: E402
from rfb.session import EncodedUnit  # noqa: E402
from rfb.stream import Stream  # noqa: E402
from rfb.transports.common import StatsTicker  # noqa: E402
from rfb.transports.websocket import WebSocketViewer  # noqa: E402

from support.memory_socket import MemorySocket  # noqa: E402  (tests/support/)

FPS = 30.0
UNIT_BYTES = 11_500
ADAPT_EVERY = 6  # frames: ADAPT_INTERVAL_S at 30 fps


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class NullTransport:
    def __init__(self) -> None:
        self.sent = 0

    def write(self, data: bytes) -> None:
        self.sent += 1

    def writelines(self, parts: tuple[bytes, ...]) -> None:
        self.sent += 1

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def make_unit(index: int, clock: Clock) -> EncodedUnit:
    key = index % 60 == 0
    return EncodedUnit(index=index, data=bytes(UNIT_BYTES * (4 if key else 1)), keyframe=key,
                       codec="avc1.42C01F", width=1280, height=720, frame_id=index,
                       timestamp_us=int(index * 1e6 / FPS), published_at=clock.t - 0.004,
                       encode_ms=4.0, frame_width=1280, frame_height=720)  # fmt: skip


async def run(viewers: int, frames: int, profile: bool) -> None:
    clock = Clock()
    stream = Stream("bench", StreamOptions(width=1280, height=720, fps=FPS, still_after=None,
                                             max_viewers=viewers + 1, max_pending=viewers + 1),
                    clock=clock)  # fmt: skip
    sockets = [MemorySocket(NullTransport()) for _ in range(viewers)]
    conns = [WebSocketViewer(s, stream) for s in sockets]  # type: ignore[arg-type]
    tasks = [asyncio.create_task(c.run()) for c in conns]
    hello = protocol.build_hello([protocol.CAP_H264], scaled_frames=True)
    for s in sockets:
        s.incoming.put_nowait(hello)
    while not all(s.tap is not None for s in sockets):
        await asyncio.sleep(0.01)
    # The stats messages are measured on their own below: their timer runs on the loop's
    # real clock while this one is simulated (faster), so inside the timed loop turns they
    # would come more often a frame than on a server.
    stream.stats_timer.close()
    first = conns[0].viewer
    assert first is not None
    group = stream.hub.group_of(first.id)
    assert group is not None
    parts = {"send": 0.0, "ack": 0.0, "loop turn": 0.0, "adaptation": 0.0}
    seqs = [0] * viewers
    prof = cProfile.Profile() if profile else None
    gc_time = [0.0, 0.0]  # total, start of the current collection
    gc_runs = [0, 0, 0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_time[1] = time.process_time()
        else:
            gc_time[0] += time.process_time() - gc_time[1]
            gc_runs[info["generation"]] += 1

    gc.callbacks.append(on_gc)
    received = 0.0
    for i in range(frames):
        clock.t += 1 / FPS
        unit = make_unit(i, clock)
        if prof:
            prof.enable()
        t0 = time.process_time()
        stream.hub._deliver(group, unit)  # what the group's pump does with an encoded unit
        t1 = time.process_time()
        clock.t += 0.006  # the acks come back a few ms later
        received += 1000 / FPS
        acks = []  # each viewer's, as the browser writes them (made outside the timing)
        for k, s in enumerate(sockets):
            viewer = conns[k].viewer
            assert viewer is not None
            acks += [(s, protocol.build_ack(q, 0, received)) for q in range(seqs[k], viewer.next_seq)]
            seqs[k] = viewer.next_seq
        t1b = time.process_time()
        for s, text in acks:
            s.feed(text)
        t2 = time.process_time()
        await asyncio.sleep(0)  # the credit flush, once for all the acks
        t3 = time.process_time()
        if i % ADAPT_EVERY == 0:
            stream.hub.adapt()
        t4 = time.process_time()
        if prof:
            prof.disable()
        if i == 30:
            gc_time[0], gc_runs[:] = 0.0, [0, 0, 0]
        if i >= 30:  # after the first second's set-up
            parts["send"] += t1 - t0
            parts["ack"] += t2 - t1b
            parts["loop turn"] += t3 - t2
            parts["adaptation"] += t4 - t3
    n = (frames - 30) * viewers
    sent = sum(s.transport.sent for s in sockets)
    print(f"{viewers} viewers x {frames} frames ({sent} frames written): µs of CPU per viewer "
          f"per frame")  # fmt: skip
    for name, total in parts.items():
        print(f"  {name:>10}  {1e6 * total / n:6.2f}")
    print(f"  {'all':>10}  {1e6 * sum(parts.values()) / n:6.2f}")
    print(f"  of which the garbage collector: {1e6 * gc_time[0] / n:.2f} "
          f"(collections of generation 0/1/2: {gc_runs})")
    gc.callbacks.remove(on_gc)
    tickers = [StatsTicker(stream, c.viewer) for c in conns if c.viewer is not None]
    t0 = time.process_time()
    for ticker in tickers:
        ticker.message()
    each = (time.process_time() - t0) / len(tickers)
    print(f"  a viewer's stats message (once a second): {1e6 * each:.1f} µs, "
          f"{1e6 * each / FPS:.2f} per frame at {FPS:g} fps")
    gc.collect()
    t0 = time.perf_counter()
    gc.collect()
    full = time.perf_counter() - t0
    print(f"  one full garbage collection now: {1000 * full:.1f} ms "
          f"({len(gc.get_objects())} objects tracked)")
    if prof:
        pstats.Stats(prof).sort_stats(os.environ.get("SORT", "tottime")).print_stats(int(os.environ.get("TOP", "30")))
    for s in sockets:
        s.incoming.put_nowait(None)
    await asyncio.gather(*tasks)
    await stream.aclose(1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--viewers", type=int, default=500)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    asyncio.run(run(args.viewers, args.frames, args.profile))


if __name__ == "__main__":
    main()
