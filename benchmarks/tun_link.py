"""A point-to-point link with a fixed one-way delay, between two network namespaces.

    sudo python benchmarks/tun_link.py NS_A DEV_A NS_B DEV_B --delay-ms 20 [--loss 5]

This kernel has no ``tc netem``, so delay is made in user space: a TUN device in each
namespace, and this process copies every IP packet read from one into the other after
``--delay-ms``, dropping ``--loss`` percent of them at random (each way). A line
``loss P`` on standard input changes the loss while it runs. Addresses, routes and
rate limits are set on the TUN devices like on any interface (bench_loss.py does that).
Runs until killed.

Loss is made here rather than by an nftables rule on the device because the kernel
hands the output hook a TCP burst as one GSO packet of up to 64 kB, segmented only
later: a rule there drops a whole burst at a time and far fewer TCP packets than UDP
ones. Here every packet is one the link would carry, at most the MTU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import os
import random
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


def open_tun(netns: str, name: str) -> int:
    """Create (or attach to) TUN ``name`` inside ``netns``; returns its non-blocking fd."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(target)  # a TUN device is created in the namespace of the caller
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        return fd
    finally:
        _setns(home)
        os.close(target)
        os.close(home)


class DelayLine:
    """Copies packets between two TUN fds, each after ``delay_s``; order is kept."""

    def __init__(self, fd_a: int, fd_b: int, delay_s: float, loss: float = 0.0) -> None:
        self.delay_s = delay_s
        self.loss = loss  # fraction of packets dropped, each way
        self.dropped = 0
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(fd_a, self._forward, fd_a, fd_b)
        self.loop.add_reader(fd_b, self._forward, fd_b, fd_a)

    def _forward(self, src: int, dst: int) -> None:
        while True:
            try:
                packet = os.read(src, 65536)
            except BlockingIOError:
                return
            if self.loss and random.random() < self.loss:
                self.dropped += 1
                continue
            self.loop.call_at(self.loop.time() + self.delay_s, self._write, dst, packet)

    @staticmethod
    def _write(dst: int, packet: bytes) -> None:
        with contextlib.suppress(OSError):  # device down or full: lost, as on a real link
            os.write(dst, packet)


async def run(
    ns_a: str, dev_a: str, ns_b: str, dev_b: str, delay_ms: float, loss_pct: float
) -> None:
    line = DelayLine(open_tun(ns_a, dev_a), open_tun(ns_b, dev_b), delay_ms / 1000.0,
                     loss_pct / 100.0)  # fmt: skip
    print(f"tun_link: {ns_a}/{dev_a} <-> {ns_b}/{dev_b}, {delay_ms:g} ms each way, "
          f"{loss_pct:g}% loss", flush=True)  # fmt: skip
    loop = asyncio.get_running_loop()

    def command() -> None:
        text = sys.stdin.readline()
        if not text:  # stdin closed: keep running with what was set
            loop.remove_reader(sys.stdin.fileno())
            return
        parts = text.split()
        if len(parts) == 2 and parts[0] == "loss":
            line.loss = float(parts[1]) / 100.0

    with contextlib.suppress(OSError, ValueError):  # no usable stdin: commands off
        loop.add_reader(sys.stdin.fileno(), command)
    while True:
        await asyncio.sleep(3600)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("ns_a")
    ap.add_argument("dev_a")
    ap.add_argument("ns_b")
    ap.add_argument("dev_b")
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--loss", type=float, default=0.0, help="percent of packets dropped")
    args = ap.parse_args()
    asyncio.run(run(args.ns_a, args.dev_a, args.ns_b, args.dev_b, args.delay_ms, args.loss))


if __name__ == "__main__":
    main()
