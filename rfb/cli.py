"""``rfb`` (``python -m rfb``, ``python -m rfb.server``): serve a test pattern until Ctrl-C.

The stream's and the server's flags are made from rfb.StreamOptions and
rfb.ServerOptions (rfb/options.py), each with an ``RFB_<FIELD>`` environment variable for
its default; the rest are the demo's own (pattern, recording, relays, TLS files, ICE)."""

from __future__ import annotations

import argparse
import asyncio
import collections.abc
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING
from typing import Any, TypeVar

from . import event_loop, patterns
from .api import serve_options, tls_context
from .frames import CudaUnavailable
from .options import ServerOptions, Spec, StreamOptions, env_name, flag_name, spec_of
from .signaling.ice import IceConfig, parse_csv

_O = TypeVar("_O", StreamOptions, ServerOptions)
DEMO_SIZE = {"width": 1280, "height": 720}  # the demo's frame size, where no flag gives one


def _rung_list(text: str) -> tuple[int, ...]:
    """``--relay-rungs 0,2,4``: ladder rungs, 0 the top."""
    try:
        rungs = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"rungs are numbers like 0,2,4, got {text!r}") from None
    if not rungs or min(rungs) < 0:
        raise argparse.ArgumentTypeError(f"rungs are 0 (the top) or more, got {text!r}")
    return rungs


def demo_speed(data: object, current: float) -> float:
    """The pattern's speed a demo page's message asks for (0..4), else ``current``."""
    value = data.get("speed") if isinstance(data, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 4:
        return float(value)
    return current


def _parse_value(kind: Any, text: str, zero_is_none: bool) -> Any:
    """A flag's text as the field's type: int, float, str, bool, (int, int), or None."""
    args = typing.get_args(kind)
    if type(None) in args:  # X | None
        if text.strip().lower() == "none" or (zero_is_none and text.strip() in ("0", "0.0")):
            return None
        (kind,) = [a for a in args if a is not type(None)]
    if typing.get_origin(kind) is tuple:  # (min, max)
        try:
            return tuple(int(x) for x in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected MIN,MAX or 'none', got {text!r}") from None
    if kind is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise argparse.ArgumentTypeError(f"expected 1/0, true/false, yes/no or on/off: {text!r}")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return text


def _metavar(kind: Any) -> str | None:
    inner = [a for a in typing.get_args(kind) if a is not type(None)]
    if inner and typing.get_origin(inner[0]) is tuple:
        return "MIN,MAX|none"
    return None


def add_option_flags(
    parser: argparse.ArgumentParser, cls: type, environ: Mapping[str, str],
    defaults: Mapping[str, Any] | None = None, title: str | None = None,
) -> None:  # fmt: skip
    """A flag for each field of ``cls`` that has one (``--<field-with-dashes>``), its
    default from ``RFB_<FIELD>`` in ``environ``, else ``defaults``, else the field's."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(title) if title else parser
    for f in dataclasses.fields(cls):
        spec = spec_of(f)
        if not spec.cli:
            continue
        kind = hints[f.name]
        default = (defaults or {}).get(f.name, None if f.default is MISSING else f.default)
        env = env_name(f)
        help_text = f"{spec.doc} [{env}]"
        flags = [flag_name(f), *spec.aliases]
        raw = environ.get(env)
        if typing.get_origin(kind) in (Sequence, collections.abc.Sequence):  # --origin, repeated
            if raw:
                default = [x.strip() for x in raw.split(",") if x.strip()]
            group.add_argument(*flags, action="append", dest=f.name,
                               default=list(default or ()), metavar=f.name[:-1].upper(),
                               help=help_text + " (repeat)")  # fmt: skip
            continue

        def parse(text: str, kind: Any = kind, spec: Spec = spec) -> Any:
            return _parse_value(kind, text, spec.zero_is_none)

        if raw is not None:
            try:
                default = parse(raw)
            except argparse.ArgumentTypeError as exc:
                parser.error(f"{env}={raw!r}: {exc}")
        if kind is bool:
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=default, help=help_text)  # fmt: skip
        else:
            group.add_argument(*flags, dest=f.name, type=parse, default=default,
                               choices=spec.choices, metavar=_metavar(kind),
                               help=help_text + " (default: %(default)s)")  # fmt: skip


def options_from(args: argparse.Namespace, cls: type[_O], **code_only: Any) -> _O:
    """``cls`` from the parsed flags (and the fields that have none, from ``code_only``)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
              if spec_of(f).cli}  # fmt: skip
    return cls(**values, **code_only)


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    environ = os.environ if environ is None else environ
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
    p.add_argument(
        "--gpu",
        action="store_true",
        help="render the pattern on the GPU and publish CuPy frames (pip install 'rfb[gpu]')",
    )
    p.add_argument(
        "--record", metavar="PATH", default=None, help="also write an MP4 of what is published"
    )
    p.add_argument(
        "--relay-rtp",
        metavar="rtp://HOST:PORT",
        action="append",
        default=[u for u in (environ.get("RFB_RELAY_RTP") or "").split(",") if u] or None,
        help="also send the H.264 as RTP there (a media server such as Janus: "
        "docs/guides/deployment.md); repeat for more [RFB_RELAY_RTP]",
    )
    p.add_argument("--relay-rung", type=int, default=0,
                   help="the ladder rung the relays take (0: the top)")  # fmt: skip
    p.add_argument("--relay-rungs", type=_rung_list, metavar="R,R,...", default=None,
                   help="simulcast: the relays send these rungs at once, one SSRC and port "
                   "each (Janus: videoport, videoport2, videoport3)")  # fmt: skip
    p.add_argument("--relay-simulcast", action="store_true",
                   help="simulcast: the relays send three rungs (the top, the lowest at the "
                   "full frame rate, one between)")  # fmt: skip
    p.add_argument("--relay-audio-port", type=int, metavar="PORT",
                   default=int(environ["RFB_RELAY_AUDIO_PORT"])
                   if environ.get("RFB_RELAY_AUDIO_PORT") else None,
                   help="the relays send the sound too, as Opus RTP to this port on the same "
                   "host (Janus's mountpoint: 5006) [RFB_RELAY_AUDIO_PORT]")  # fmt: skip
    p.add_argument("-v", "--verbose", action="store_true",
                   default=bool(environ.get("RFB_VERBOSE")),
                   help="log every input event and more [RFB_VERBOSE]")  # fmt: skip
    add_option_flags(p, ServerOptions, environ, title="server (rfb.ServerOptions)")
    tls = p.add_argument_group("TLS (ServerOptions.ssl_context)")
    tls.add_argument(
        "--certfile",
        default=environ.get("RFB_CERTFILE") or None,
        help="PEM certificate: serve https:// and wss:// (H.264 in browsers on other "
        "machines needs a secure context) [RFB_CERTFILE]",
    )
    tls.add_argument("--keyfile", default=environ.get("RFB_KEYFILE") or None,
                     help="its PEM key (if separate) [RFB_KEYFILE]")  # fmt: skip
    add_option_flags(p, StreamOptions, environ, DEMO_SIZE, title="stream (rfb.StreamOptions)")
    ice = p.add_argument_group("WebRTC ICE (ServerOptions.ice; environment variables give the "
                               "defaults)")  # fmt: skip

    def env(name: str) -> str | None:
        return environ.get(name) or None

    ice.add_argument("--stun", default=env("RFB_STUN_URLS"),
                     help="STUN URLs, comma-separated [RFB_STUN_URLS]")  # fmt: skip
    ice.add_argument("--turn", default=env("RFB_TURN_URLS"),
                     help="TURN URLs, comma-separated [RFB_TURN_URLS]")  # fmt: skip
    ice.add_argument(
        "--turn-secret",
        default=env("RFB_TURN_SECRET"),
        help="shared secret for time-limited TURN credentials (coturn use-auth-secret) "
        "[RFB_TURN_SECRET]",
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
    return p


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
    stream = options_from(args, StreamOptions)
    server = options_from(
        args,
        ServerOptions,
        ssl_context=tls_context(args.certfile, args.keyfile) if args.certfile else None,
        ice=ice_config(args),
    )
    async with serve_options(stream, server) as display:
        print(
            f"rfb: serving {args.pattern} {args.width}x{args.height} at {display.url}", flush=True
        )
        if args.record:
            rec = display.record(args.record)
            print(f"rfb: recording to {rec.path}", flush=True)
        for url in args.relay_rtp or ():
            if args.relay_rungs or args.relay_simulcast:
                display.relay_rtp(url, rungs=args.relay_rungs, simulcast=args.relay_simulcast,
                                  audio_port=args.relay_audio_port)  # fmt: skip
            else:
                display.relay_rtp(url, rung=args.relay_rung, audio_port=args.relay_audio_port)
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
        event_loop.run(amain(), args.event_loop)
    except (ImportError, CudaUnavailable) as exc:  # --gpu, webrtc without their extras
        print(f"rfb: {exc}", file=sys.stderr)
        sys.exit(2)
    except (OSError, ValueError) as exc:  # a port in use, a path --record cannot write
        print(f"rfb: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
