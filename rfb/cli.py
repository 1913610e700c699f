"""``python -m rfb.server``: serve a test pattern until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from . import patterns
from .display import serve


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rfb.server", description="Serve a test pattern to browsers."
    )
    p.add_argument("--pattern", choices=patterns.PATTERNS, default="bouncing_box")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--bitrate", type=int, default=0, help="H.264 bits/s (0: from size and fps)")
    p.add_argument("--quality", type=int, default=80, help="JPEG/WebP quality 1..100")
    p.add_argument("--force-image", action="store_true", help="never send H.264")
    p.add_argument("--record-events", action="store_true", help="serve /recorded-events")
    p.add_argument("--token", default=None, help="require this token in hello")
    p.add_argument("--transport", choices=("websocket",), default="websocket")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    render = patterns.make(args.pattern, args.width, args.height)
    async with serve(
        args.width,
        args.height,
        host=args.host,
        port=args.port,
        fps=args.fps,
        bitrate=args.bitrate,
        quality=args.quality,
        force_image=args.force_image,
        record_events=args.record_events,
        token=args.token,
        transport=args.transport,
    ) as display:
        print(
            f"rfb: serving {args.pattern} {args.width}x{args.height} at {display.url}", flush=True
        )
        loop = asyncio.get_running_loop()
        period = 1.0 / args.fps
        i = 0
        next_t = loop.time()
        while not stop.is_set():
            display.publish(render(i), copy=False)
            for ev in display.poll_events():
                if args.verbose:
                    print(f"rfb: {ev.client_id} {ev.event}", flush=True)
            i += 1
            next_t += period
            delay = next_t - loop.time()
            if delay < -period:  # fell behind (a slow machine): do not try to catch up
                next_t = loop.time()
                delay = 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, delay))
    print("rfb: stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)

    async def amain() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await run(args, stop)

    try:
        asyncio.run(amain())
    except OSError as exc:
        print(f"rfb: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
