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
