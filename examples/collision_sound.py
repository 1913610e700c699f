"""Balls bouncing in a box, with a sound on every collision, in step with the picture.

    pip install 'rfb[h264,audio]'
    python examples/collision_sound.py         # then open the URL it prints; click Unmute

Each wall hit starts a short synthesised "tock" (a decaying sine whose pitch is the ball's).
The program mixes its sounds itself and publishes one tick's worth of audio with each
frame, so the sound of a hit is stamped with the frame that shows it and plays with it.
Click the view to add a ball where you clicked.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import rfb

RATE = 48_000
FPS = 30
TICK = RATE // FPS  # samples of sound per frame: 1600


def tock(pitch_hz: float, seconds: float = 0.18) -> np.ndarray:
    """A short percussive sound: a sine with a fast attack and an exponential decay."""
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = np.minimum(1.0, t / 0.002) * np.exp(-t / 0.04)
    tone = np.sin(2 * np.pi * pitch_hz * t) + 0.3 * np.sin(2 * np.pi * 2.01 * pitch_hz * t)
    return (0.35 * envelope * tone).astype(np.float32)


class Mixer:
    """Sounds that are playing, each from where it got to; one tick of their sum at a time."""

    def __init__(self) -> None:
        self.playing: list[tuple[np.ndarray, int]] = []

    def start(self, sound: np.ndarray) -> None:
        self.playing.append((sound, 0))

    def tick(self) -> np.ndarray:
        out = np.zeros(TICK, np.float32)
        still: list[tuple[np.ndarray, int]] = []
        for sound, at in self.playing:
            part = sound[at : at + TICK]
            out[: len(part)] += part
            if at + TICK < len(sound):
                still.append((sound, at + TICK))
        self.playing = still
        return np.clip(out, -1.0, 1.0)


class Box:
    """Balls moving at constant speed, bouncing off the walls."""

    def __init__(self, width: int, height: int, rng: np.random.Generator) -> None:
        self.w, self.h, self.rng = width, height, rng
        self.pos = np.zeros((0, 2))
        self.vel = np.zeros((0, 2))
        self.radius = np.zeros(0)
        self.pitch = np.zeros(0)
        self.colour = np.zeros((0, 3), np.uint8)

    def add(self, x: float, y: float) -> None:
        r = float(self.rng.uniform(10, 28))
        angle = self.rng.uniform(0, 2 * np.pi)
        speed = self.rng.uniform(120, 320) / FPS
        self.pos = np.vstack([self.pos, [x, y]])
        self.vel = np.vstack([self.vel, [speed * np.cos(angle), speed * np.sin(angle)]])
        self.radius = np.append(self.radius, r)
        self.pitch = np.append(self.pitch, 2400.0 / r * 10)  # small balls sound higher
        self.colour = np.vstack([self.colour, self.rng.integers(60, 256, 3).astype(np.uint8)])

    def step(self) -> list[int]:
        """Move one frame; returns the balls that hit a wall."""
        self.pos += self.vel
        hits: set[int] = set()
        for axis, size in ((0, self.w), (1, self.h)):
            low = self.pos[:, axis] < self.radius
            high = self.pos[:, axis] > size - self.radius
            for i in np.flatnonzero(low | high):
                self.vel[i, axis] = -self.vel[i, axis]
                self.pos[i, axis] = np.clip(self.pos[i, axis], self.radius[i],
                                            size - self.radius[i])  # fmt: skip
                hits.add(int(i))
        return sorted(hits)

    def draw(self, flash: list[int]) -> np.ndarray:
        frame = np.full((self.h, self.w, 3), 18, np.uint8)
        yy, xx = np.mgrid[0 : self.h, 0 : self.w]
        for i in range(len(self.radius)):
            (x, y), r = self.pos[i], self.radius[i]
            x0, x1 = max(0, int(x - r)), min(self.w, int(x + r) + 1)
            y0, y1 = max(0, int(y - r)), min(self.h, int(y + r) + 1)
            inside = (xx[y0:y1, x0:x1] - x) ** 2 + (yy[y0:y1, x0:x1] - y) ** 2 <= r * r
            colour = (255, 255, 255) if i in flash else self.colour[i]
            frame[y0:y1, x0:x1][inside] = colour
        return frame


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--size", default="640x360")
    p.add_argument("--balls", type=int, default=4)
    p.add_argument("--seconds", type=float, default=0, help="stop after this long (0: never)")
    args = p.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    display = rfb.serve_in_thread(w, h, host=args.host, port=args.port, fps=FPS)
    print(json.dumps({"url": display.url}), flush=True)
    box, mixer = Box(w, h, np.random.default_rng(1)), Mixer()
    for _ in range(args.balls):
        box.add(w / 2, h / 2)
    start = next_at = time.monotonic()
    try:
        while not args.seconds or time.monotonic() - start < args.seconds:
            for ev in display.poll_events():
                if ev.type == "pointer_down":
                    box.add(ev.event["x"], ev.event["y"])
            hits = box.step()
            for i in hits:
                mixer.start(tock(box.pitch[i]))
            # The frame that shows the hits, then the tick of sound that starts with them:
            # both stamped now, so they play together.
            display.publish(box.draw(hits), copy=False)
            display.publish_audio(mixer.tick())
            next_at += 1 / FPS
            time.sleep(max(0.0, next_at - time.monotonic()))
    except KeyboardInterrupt:
        pass
    finally:
        display.close()


if __name__ == "__main__":
    main()
