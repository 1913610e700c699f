"""Sound from a file, decoded with PyAV and played to every viewer, with a level meter.

    pip install 'rfb[h264,audio]'
    python examples/play_file.py song.mp3        # any format FFmpeg reads; then open the URL

The file is decoded and resampled to 48 kHz stereo float32 with PyAV, and published in
20 ms chunks as its time comes (a producer publishing as it goes: rfb stamps each chunk
when it is published, so the meter drawn with a chunk plays with it). The picture is the
left and right levels and the waveform of the chunk being played. It loops at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator

import numpy as np

import rfb

RATE = 48_000
CHUNK = RATE // 50  # 20 ms


def decoded(path: str) -> Iterator[np.ndarray]:
    """The file's sound as (n, 2) float32 blocks at 48 kHz, whatever it was."""
    import av  # the audio extra

    with av.open(path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=RATE)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1, 2)  # packed flt: (1, n * 2)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1, 2)


def chunks(path: str) -> Iterator[np.ndarray]:
    """20 ms chunks of the file, forever (it loops)."""
    while True:
        pending = np.zeros((0, 2), np.float32)
        for block in decoded(path):
            pending = np.concatenate([pending, block])
            while len(pending) >= CHUNK:
                yield pending[:CHUNK]
                pending = pending[CHUNK:]


def meter(chunk: np.ndarray, w: int, h: int) -> np.ndarray:
    frame = np.full((h, w, 3), 16, np.uint8)
    for side in (0, 1):  # left and right level bars, in dB over 60 dB
        rms = float(np.sqrt(np.mean(chunk[:, side] ** 2)) + 1e-9)
        level = max(0.0, min(1.0, 1 + 20 * np.log10(rms) / 60))
        y0 = 20 + side * 40
        frame[y0 : y0 + 30, 20 : 20 + int(level * (w - 40))] = (60, 200, 90)
    mid = (h + 100) // 2
    xs = np.linspace(0, len(chunk) - 1, w - 40).astype(int)
    ys = (mid - chunk[xs].mean(axis=1) * (h - 140) / 2).astype(int).clip(100, h - 1)
    frame[ys, np.arange(20, w - 20)] = (230, 230, 255)
    return frame


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--size", default="640x360")
    p.add_argument("--seconds", type=float, default=0, help="stop after this long (0: never)")
    args = p.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    display = rfb.serve_in_thread(w, h, host=args.host, port=args.port, fps=50)
    print(json.dumps({"url": display.url}), flush=True)
    start = next_at = time.monotonic()
    try:
        for chunk in chunks(args.file):
            if args.seconds and time.monotonic() - start >= args.seconds:
                break
            display.publish(meter(chunk, w, h), copy=False)
            display.publish_audio(chunk)
            next_at += CHUNK / RATE
            time.sleep(max(0.0, next_at - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        display.close()


if __name__ == "__main__":
    main()
