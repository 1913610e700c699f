"""Exact stills on a rate-limited path, measured: what arrives when the scene rests, and
when. One viewer (H.264 + 4:4:4 + JPEG + PNG, hello feature ``exact_still``, acking each
message as it arrives) behind tests/support/throttle_proxy.py (loopback only) at each
rate; the pattern moves at 30 fps for ``--seconds-moving`` s, then publishing stops
(t0 = the last publish) and the viewer keeps reading for ``--seconds-after`` s.

    python benchmarks/bench_exact_still.py                       # dashboard, scene; 2, 10 Mbit/s
    python benchmarks/bench_exact_still.py --rates 2 --patterns scene --size 1920x1080

For each still that arrives (the exact PNG: an image_frame with ``"exact": true``; the
near-lossless still: an H.264 IDR of the resting frame after t0) it prints its bytes, the
time from t0 to its receipt (the whole message read: its last byte), and for the PNG
whether it decodes (Pillow) to the last published frame exactly; plus the server's own
still counts (the viewer's stats message and /metrics). Prints figures; asserts nothing.

The server runs in a subprocess (this script with ``--serve``) so its encoding does not
stall the proxy's pacing or the viewer's reads; the two processes share CLOCK_MONOTONIC.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from rfb import client, patterns, protocol
from rfb.bench import MachineLoad

from support.throttle_proxy import ThrottleProxy

CAPS = [protocol.CAP_H264, protocol.CAP_H264_444, protocol.CAP_JPEG, protocol.CAP_PNG]
FPS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the server process -------------------------------------------------------------------


async def serve(port: int, pattern: str, w: int, h: int, seconds: float) -> None:
    """Serve; on "go" (stdin) publish ``pattern`` at 30 fps for ``seconds``, then print the
    last frame's index and publish time (time.monotonic()) and keep serving."""
    import rfb

    display = await rfb.serve(w, h, port=port, host="127.0.0.1")
    render = patterns.make(pattern, w, h)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    i, t_last, start = 0, 0.0, time.monotonic()
    next_at = start
    while time.monotonic() - start < seconds:
        display.publish(render(i))
        t_last = time.monotonic()
        i += 1
        next_at += 1 / FPS
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    print(json.dumps({"last_index": i - 1, "t0": t_last, "published": i}), flush=True)
    await asyncio.Event().wait()


# -- the viewer side -----------------------------------------------------------------------


async def fetch_metrics(port: int) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
        return await r.json()


async def one(pattern: str, w: int, h: int, rate_mbps: float, moving: float, after: float) -> dict:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", "--port", str(port), "--patterns", pattern,
        "--size", f"{w}x{h}", "--seconds-moving", str(moving),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    proxy = None
    try:
        for _ in range(400):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            await asyncio.sleep(0.05)
        proxy = ThrottleProxy(("127.0.0.1", port), rate_mbps * 1e6)
        await proxy.start()
        url = f"ws://127.0.0.1:{proxy.port}/"
        received: list[client.ReceivedFrame] = []
        async with client.connect(url, CAPS, features=(protocol.FEATURE_EXACT_STILL,)) as v:

            async def take() -> None:  # reads (and so acks) every message as it comes
                while True:
                    received.append(await v.next_frame(timeout=3600))

            reader = asyncio.create_task(take())
            polls: list[tuple[float, dict]] = []

            async def poll() -> None:  # the server's own view of this viewer, every 50 ms
                while True:
                    with contextlib.suppress(Exception):
                        m = await fetch_metrics(port)
                        if m.get("viewers"):
                            polls.append((time.monotonic(), m["viewers"][0]))
                    await asyncio.sleep(0.05)

            poller = asyncio.create_task(poll())
            load = MachineLoad()
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), moving + 30)
            info = json.loads(line)
            t0 = info["t0"]
            await asyncio.sleep(max(0.0, t0 + after - time.monotonic()))
            busy = load.busy()
            metrics = await fetch_metrics(port)
            for task in (reader, poller):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            stats = [s for s in v.stats if "exact_stills_sent" in s or "last_still" in s]
            last_stats = v.stats[-1] if v.stats else {}
            codec = v.config.get("codec")
            config_color = v.config.get("color")
        return {
            "info": info, "received": received, "config_color": config_color, "busy": busy, "codec": codec,
            "stats": stats[-1] if stats else None, "last_stats": last_stats,
            "metrics": metrics, "proxy_bytes": proxy.bytes_down, "polls": polls,
        }  # fmt: skip
    finally:
        if proxy is not None:
            await proxy.aclose()
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 10)


def idr_label(seq: int, polls: list[tuple[float, dict]]) -> str:
    """What the server counted when it sent ``seq`` (its frames_sent passing seq between
    two polls of /metrics): a near-lossless still, a rung switch (counted up to one poll
    before the send: the switch is decided, then its keyframe made), or neither."""
    ps = [p for _, p in polls]
    for k in range(1, len(ps)):
        a, b = ps[k - 1], ps[k]
        if a["frames_sent"] <= seq < b["frames_sent"]:
            a0 = ps[max(0, k - 2)]
            labels = []
            if b["near_lossless_stills_sent"] > a["near_lossless_stills_sent"]:
                labels.append("near-lossless still")
            if b.get("rung_switches", 0) > a0.get("rung_switches", 0):
                labels.append(f"rung switch {a0.get('rung')}->{b.get('rung')}")
            return "IDR: " + (" + ".join(labels) or "keyframe")
    return "IDR: (not seen in polls)"


def analyse(r: dict, pattern: str, w: int, h: int) -> list[dict]:
    """The pictures of the resting frame received after t0: exact PNGs and H.264 IDRs
    (keyframes of earlier frames still draining at t0 are left out)."""
    t0 = r["info"]["t0"]
    expected = patterns.make(pattern, w, h)(r["info"]["last_index"])[..., :3]
    # The resting frame's timestamp: the newest any message carries (the stills are of it).
    resting_us = max(f.header["timestamp_us"] for f in r["received"])
    rows = []
    h264 = client.H264Decoder()
    for f in r["received"]:
        kind = f.header.get("type")
        is_after = f.received_at > t0
        if kind == "video_chunk":
            # Every unit in order, so each decodes in context (the viewer's decoder would).
            matrix = (f.header.get("color") or r["config_color"] or {}).get("matrix", "smpte170m")
            try:
                pix = h264.decode(f.payload, matrix)
            except Exception:
                pix = None
            if is_after and f.keyframe and f.header["timestamp_us"] == resting_us:
                rows.append(still_row(idr_label(f.seq, r["polls"]), f, t0, pix, expected))
        elif kind == "image_frame" and is_after:
            label = "exact PNG" if f.header.get("exact") else f"image {f.header.get('mime')}"
            rows.append(still_row(label, f, t0, client.decode_image(f.payload), expected))
    return rows


def png_size(pattern: str, w: int, h: int, index: int) -> int:
    from rfb.encoders.image import encode_exact_png

    return len(encode_exact_png(patterns.make(pattern, w, h)(index)))


def still_row(label: str, f: client.ReceivedFrame, t0: float, pix, expected) -> dict:  # type: ignore[no-untyped-def]
    row = {"label": label, "frame": f, "bytes": len(f.payload), "arrival": f.received_at - t0}
    if pix is None or pix.shape != expected.shape:
        row["diff"] = None if pix is None else f"shape {pix.shape}"
    else:
        differing = int(np.any(pix != expected, axis=-1).sum())
        row["diff"] = differing
        row["equal"] = bool(np.array_equal(pix, expected))
        if differing:
            mse = float(np.mean((pix.astype(np.float64) - expected) ** 2))
            row["psnr"] = 10 * np.log10(255**2 / mse)
    return row


async def main_async(args: argparse.Namespace) -> None:
    w, h = (int(n) for n in args.size.split("x"))
    rates = [float(x) for x in args.rates.split(",")]
    pats = args.patterns.split(",")
    table = []
    for pattern in pats:
        for rate in rates:
            r = await one(pattern, w, h, rate, args.seconds_moving, args.seconds_after)
            rows = analyse(r, pattern, w, h)
            before = [p for t, p in r["polls"] if t <= r["info"]["t0"]]
            at_rest = before[-1] if before else {}
            viewers = r["metrics"].get("viewers") or [{}]
            vm = viewers[0] if viewers else {}
            st = r["stats"] or {}
            counts = (f"stats: exact {st.get('exact_stills_sent')}, near-lossless "
                      f"{st.get('near_lossless_stills_sent')}, last {st.get('last_still')}; "
                      f"/metrics: exact {vm.get('exact_stills_sent')}, near-lossless "
                      f"{vm.get('near_lossless_stills_sent')}, keyframes {vm.get('keyframes_sent')}; exact "
                      f"PNGs encoded (hub) {r['metrics'].get('exact_stills_encoded')}")  # fmt: skip
            ls = r["last_stats"]
            est = at_rest.get("estimate_bps")
            n_after = sum(f.received_at > r["info"]["t0"] for f in r["received"])
            print(f"# {pattern} @ {rate:g} Mbit/s: codec {r['codec']}, published "
                  f"{r['info']['published']} frames, {len(r['received'])} messages received "
                  f"({n_after} after t0); at t0: estimate {est and round(est / 1e6, 2)} Mbit/s, "
                  f"rung {at_rest.get('rung')}, adapt {at_rest.get('adapt_reason')}; "
                  f"at end: rung {ls.get('rung')}, rung switches {ls.get('rung_switches')}")  # fmt: skip
            print(f"#   {counts}")
            png = png_size(pattern, w, h, r["info"]["last_index"])
            print(
                f"#   the resting frame as rfb's exact PNG: {png:,} bytes = "
                f"{8 * png / (rate * 1e6):.2f} s at {rate:g} Mbit/s (budget 1 s)"
            )
            if not rows:
                rows = [{"label": "none", "bytes": None, "arrival": None, "diff": None}]
            for row in rows:
                table.append((pattern, rate, row, r["busy"]))
    print()
    print(
        "| pattern | path | still sent | bytes | arrival after rest (s) | exact (differing pixels) | machine busy |"
    )
    print("|---|---|---|---|---|---|---|")
    for pattern, rate, row, busy in table:
        if row["diff"] is None:
            exact = "n/a"
        elif row["diff"] == 0:
            exact = "yes (0)"
        else:
            exact = f"no ({row['diff']}, PSNR {row['psnr']:.1f} dB)"
        b = "" if row["bytes"] is None else f"{row['bytes']:,}"
        a = "" if row["arrival"] is None else f"{row['arrival']:.3f}"
        print(
            f"| {pattern} | {rate:g} Mbit/s | {row['label']} | {b} | {a} | {exact} | {busy:.2f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--rates", default="2,10", help="path rates, Mbit/s")
    ap.add_argument("--patterns", default="dashboard,scene")
    ap.add_argument("--seconds-moving", type=float, default=4.0)
    ap.add_argument("--seconds-after", type=float, default=6.0)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        w, h = (int(n) for n in args.size.split("x"))
        asyncio.run(serve(args.port, args.patterns, w, h, args.seconds_moving))
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
