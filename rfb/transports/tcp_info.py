"""The kernel's view of a TCP connection: Linux's per-ACK delivery-rate sample.

Linux measures, for every ACK, how fast the data it acknowledges was delivered (bytes over
the longer of the send and the ACK interval: ``tcpi_delivery_rate``, what BBR runs on).
That timing is taken where the packets leave and their ACKs come back, so the viewer's
decode, its event loop and its busy cores play no part in it, unlike the arrival times a
browser reports. A sample is a lower bound on what the path carries (app-limited ones
too: they say at least that much got through). Elsewhere than Linux: no samples.
"""

from __future__ import annotations

import socket
import struct
import sys
from typing import Any

# struct tcp_info (linux/tcp.h): tcpi_min_rtt is the u32 (microseconds) at byte 148 and
# tcpi_delivery_rate the u64 (bytes/s) at byte 160, both since Linux 4.9; a shorter
# answer means an older kernel.
_TCP_INFO_LEN = 232
_MIN_RTT_AND_RATE = struct.Struct("<I8xQ")
_MIN_RTT_AT = 148


def delivery_rate(sock: Any) -> tuple[float, float] | None:
    """(bits/s, the connection's least round trip in seconds) of a connected TCP socket's
    latest delivery-rate sample, or None. The round trip tells whether TCP's peer is the
    viewer or a proxy next to the server (an SSH tunnel, a reverse proxy), whose rates
    say nothing of the viewer's path."""
    if sys.platform != "linux" or sock is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except (OSError, AttributeError):
        return None
    if len(info) < _MIN_RTT_AT + _MIN_RTT_AND_RATE.size:
        return None
    min_rtt_us, rate = _MIN_RTT_AND_RATE.unpack_from(info, _MIN_RTT_AT)
    return (8.0 * rate, min_rtt_us / 1e6) if rate > 0 else None


class BorrowedSocket:
    """A socket object over a connection's descriptor, made once and never closing it.

    uvloop's transports hand out a stand-in socket whose every ``getsockopt`` builds a
    socket object and drops it again (4 % of the loop's time at 500 viewers sampled ten
    times a second); this one is built once per viewer. ``release()`` (or its collection)
    lets go of the descriptor without closing it: the transport owns it."""

    __slots__ = ("_sock",)

    def __init__(self, fd: int) -> None:
        self._sock: socket.socket | None = socket.socket(fileno=fd)

    def getsockopt(self, level: int, option: int, buflen: int) -> bytes:
        if self._sock is None:
            raise OSError("released")
        return self._sock.getsockopt(level, option, buflen)

    def release(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.detach()

    def __del__(self) -> None:
        self.release()


def borrow(sock: Any) -> Any:
    """``sock`` as delivery_rate() reads it cheaply: uvloop's stand-in replaced by a
    BorrowedSocket (release() it with the connection), anything else as it is."""
    if sock is None or type(sock).__name__ != "PseudoSocket":
        return sock
    try:
        return BorrowedSocket(sock.fileno())
    except OSError:
        return sock


def release(sock: Any) -> None:
    if isinstance(sock, BorrowedSocket):
        sock.release()
