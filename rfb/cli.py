"""``python -m rfb.server``: serve a test pattern until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from . import patterns
from .display import serve, tls_context
from .encoders.base import DEFAULT_PRESET, X264_PRESETS
from .frames import CudaUnavailable
from .session.input_gate import DEFAULT_INPUT_RATE
from .signaling.ice import IceConfig, parse_csv


def playout_delay(text: str) -> tuple[int, int] | None:
    if text.strip().lower() == "none":
        return None
    try:
        lo, hi = (int(x) for x in text.split(","))
    except ValueError:
        msg = f"expected MIN,MAX in ms or 'none', got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    return lo, hi


def demo_speed(data: object, current: float) -> float:
    """The pattern's speed a demo page's message asks for (0..4), else ``current``."""
    value = data.get("speed") if isinstance(data, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 4:
        return float(value)
    return current


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rfb", description="Serve a test pattern to browsers.")
    p.add_argument(
        "--pattern",
        choices=patterns.PATTERNS,
        default="bouncing_box",
        help="what to draw (scene: realistic detail and motion, for measuring)",
    )
    p.add_argument(
        "--timecode",
        action="store_true",
        help="stamp the wall clock into every frame (the page's ?timecode reads latency)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--bitrate", type=int, default=0, help="H.264 bits/s (0: from size and fps)")
    p.add_argument("--quality", type=int, default=80, help="JPEG/WebP quality 1..100")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=X264_PRESETS,
                   help="x264 speed against quality at the same bitrate")  # fmt: skip
    p.add_argument("--force-image", action="store_true", help="never send H.264")
    adapt = p.add_argument_group("adaptation")
    adapt.add_argument(
        "--adaptive",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give each viewer the rung of the quality ladder its path carries",
    )
    adapt.add_argument(
        "--min-bitrate", type=int, default=None, help="the lowest rung's bits/s (default 250000)"
    )
    adapt.add_argument("--max-rungs", type=int, default=None, help="at most this many rungs")
    adapt.add_argument(
        "--still-after",
        type=float,
        default=0.3,
        help="seconds without a new frame before a high-quality still (0: never)",
    )
    p.add_argument("--record-events", action="store_true", help="serve /recorded-events")
    p.add_argument(
        "--record", metavar="PATH", default=None, help="also write an MP4 of what is published"
    )
    p.add_argument(
        "--token", default=None, help="require this token (hello, or WHEP's Bearer) to connect"
    )
    p.add_argument(
        "--view-token", default=None, help="a second token that lets a viewer watch, not drive"
    )
    p.add_argument(
        "--max-input-rate",
        type=float,
        default=DEFAULT_INPUT_RATE,
        help="input events per second one viewer may send on (0: no cap)",
    )
    p.add_argument(
        "--origin",
        action="append",
        default=[],
        dest="origins",
        metavar="ORIGIN",
        help="let web pages on this origin connect besides the server's own (repeat; "
        "'*': any page)",
    )
    p.add_argument(
        "--certfile",
        default=env("RFB_CERTFILE"),
        help="PEM certificate: serve https:// and wss:// (H.264 in browsers on other "
        "machines needs a secure context)",
    )
    p.add_argument("--keyfile", default=env("RFB_KEYFILE"), help="its PEM key (if separate)")
    p.add_argument(
        "--gpu",
        action="store_true",
        help="render the pattern on the GPU and publish CuPy frames (pip install 'rfb[gpu]')",
    )
    p.add_argument(
        "--transport",
        choices=("websocket", "webrtc"),
        default=os.environ.get("RFB_TRANSPORT", "websocket"),
        help="webrtc: also serve WHEP at /whep and make WebRTC the preferred path",
    )
    p.add_argument(
        "--playout-delay",
        type=playout_delay,
        default=(0, 100),
        metavar="MIN,MAX|none",
        help="WebRTC: ms the browser may hold a frame to smooth playout (default 0,100; "
        "'none': the browser's own choice)",
    )
    p.add_argument(
        "--relay-rtp",
        metavar="rtp://HOST:PORT",
        action="append",
        default=[u for u in (env("RFB_RELAY_RTP") or "").split(",") if u] or None,
        help="also send the H.264 as RTP there (a media server such as Janus: docs/janus.md); "
        "repeat for more",
    )
    p.add_argument("--relay-rung", type=int, default=0,
                   help="the ladder rung the relays take (0: the top)")  # fmt: skip
    p.add_argument("--fec", action=argparse.BooleanOptionalAction, default=True,
                   help="WebRTC: forward error correction where the browser takes it")  # fmt: skip
    ice = p.add_argument_group("WebRTC ICE (environment variables give the defaults)")
    ice.add_argument("--stun", default=env("RFB_STUN_URLS"), help="STUN URLs, comma-separated")
    ice.add_argument("--turn", default=env("RFB_TURN_URLS"), help="TURN URLs, comma-separated")
    ice.add_argument(
        "--turn-secret",
        default=env("RFB_TURN_SECRET"),
        help="shared secret for time-limited TURN credentials (coturn use-auth-secret)",
    )
    ice.add_argument("--turn-username", default=env("RFB_TURN_USERNAME"))
    ice.add_argument("--turn-password", default=env("RFB_TURN_PASSWORD"))
    ice.add_argument(
        "--ice-host-addresses",
        default=env("RFB_ICE_HOST_ADDRESSES"),
        help="local addresses to gather host candidates on, comma-separated (default: all)",
    )
    ice.add_argument(
        "--ice-allowed-networks",
        default=env("RFB_ICE_ALLOWED_NETWORKS"),
        help="only talk ICE with these networks (CIDRs, comma-separated)",
    )
    ice.add_argument(
        "--ice-keep-mdns",
        action="store_true",
        help="resolve browsers' mDNS candidates instead of dropping them (slower first frame)",
    )
    p.add_argument("-v", "--verbose", action="store_true", default=bool(env("RFB_VERBOSE")),
                   help="log every input event and more (RFB_VERBOSE=1 too)")  # fmt: skip
    return p


def env(name: str) -> str | None:
    return os.environ.get(name) or None


def ice_config(args: argparse.Namespace) -> IceConfig:
    return IceConfig(
        stun_urls=parse_csv(args.stun),
        turn_urls=parse_csv(args.turn),
        turn_secret=args.turn_secret,
        turn_username=args.turn_username,
        turn_password=args.turn_password,
        host_addresses=parse_csv(args.ice_host_addresses) or None,
        allowed_remote_networks=parse_csv(args.ice_allowed_networks) or None,
        strip_mdns_candidates=not args.ice_keep_mdns,
    )


async def run(args: argparse.Namespace, stop: asyncio.Event) -> None:
    if args.gpu:
        render = patterns.make_device(args.pattern, args.width, args.height)
    else:
        render = patterns.make(args.pattern, args.width, args.height, timecode=args.timecode)
    extra: dict[str, object] = {}
    if args.min_bitrate is not None:
        extra["min_bitrate"] = args.min_bitrate
    if args.max_rungs is not None:
        extra["max_rungs"] = args.max_rungs
    async with serve(
        args.width,
        args.height,
        host=args.host,
        port=args.port,
        fps=args.fps,
        preset=args.preset,
        bitrate=args.bitrate,
        quality=args.quality,
        force_image=args.force_image,
        record_events=args.record_events,
        token=args.token,
        view_token=args.view_token,
        max_input_rate=args.max_input_rate or None,
        origins=args.origins,
        transport=args.transport,
        playout_delay_ms=args.playout_delay,
        fec=args.fec,
        ice=ice_config(args),
        ssl_context=tls_context(args.certfile, args.keyfile) if args.certfile else None,
        adaptive=args.adaptive,
        still_after=args.still_after or None,
        **extra,  # type: ignore[arg-type]
    ) as display:
        print(
            f"rfb: serving {args.pattern} {args.width}x{args.height} at {display.url}", flush=True
        )
        if args.record:
            rec = display.record(args.record)
            print(f"rfb: recording to {rec.path}", flush=True)
        for url in args.relay_rtp or ():
            display.relay_rtp(url, rung=args.relay_rung)
            print(f"rfb: relaying RTP to {url}", flush=True)
        loop = asyncio.get_running_loop()
        period = 1.0 / args.fps
        phase, speed = 0.0, 1.0
        viewers = 0
        next_t = loop.time()
        while not stop.is_set():
            display.publish(render(int(phase)), copy=False)
            if display.client_count > viewers:  # tell newcomers the speed (demo slider)
                display.send({"speed": speed})
            viewers = display.client_count
            for ev in display.poll_events():
                if args.verbose:
                    print(f"rfb: {ev.client_id} {ev.event}", flush=True)
                if ev.type == "message":  # the demo page's speed slider: tell every viewer
                    speed = demo_speed(ev.event.get("data"), speed)
                    display.send({"speed": speed})
            phase += speed
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
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )

    async def amain() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await run(args, stop)

    try:
        asyncio.run(amain())
    except (ImportError, CudaUnavailable) as exc:  # --gpu, webrtc without their extras
        print(f"rfb: {exc}", file=sys.stderr)
        sys.exit(2)
    except (OSError, ValueError) as exc:  # a port in use, a path --record cannot write
        print(f"rfb: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
